import Synchronization
import ZMTP

/// Asks a ZAP handler that the application serves itself on `inproc://zeromq.zap.01` with an
/// ordinary REP or ROUTER socket, as libzmq programs do (27/ZAP). Used when no Swift
/// authenticator is installed on the context and that name is bound.
final class ZAPHandlerClient: ZMQAuthenticator, Sendable {
    static let endpoint = "inproc://zeromq.zap.01"
    /// How long a handler may take to answer before the request counts as a 500.
    static let answerTimeout = Duration.seconds(30)

    private struct State {
        var socket: ZMQSocket?
        var waiting: [String: CheckedContinuation<AuthenticationReply, Never>] = [:]
        var nextID: UInt64 = 0
    }
    private let state = Mutex(State())
    private unowned let context: ZMQContext

    init(context: ZMQContext) {
        self.context = context
    }

    func authenticate(_ request: ZAPRequest) async -> AuthenticationReply {
        guard let socket = await connectedSocket() else {
            return AuthenticationReply(statusCode: "500", statusText: "cannot reach the ZAP handler")
        }
        let id = state.withLock { state -> String in
            state.nextID += 1
            return String(state.nextID)
        }
        var frames: [Frame] = ["", "1.0", Frame(id), Frame(request.domain), Frame(request.address), Frame(request.identity), Frame(request.mechanism)]
        frames += request.credentials.map { Frame($0) }
        let timeout = Task {
            try await Task.sleep(for: Self.answerTimeout)
            self.answer(id, AuthenticationReply(statusCode: "500", statusText: "the ZAP handler did not answer"))
        }
        defer { timeout.cancel() }
        return await withCheckedContinuation { continuation in
            state.withLock { $0.waiting[id] = continuation }
            do {
                try socket.trySend(Message(frames))
            } catch {
                answer(id, AuthenticationReply(statusCode: "500", statusText: "cannot send to the ZAP handler: \(error)"))
            }
        }
    }

    private func answer(_ id: String, _ reply: AuthenticationReply) {
        state.withLock { $0.waiting.removeValue(forKey: id) }?.resume(returning: reply)
    }

    /// The DEALER that talks to the handler, made on first use; it reads replies until closed.
    private func connectedSocket() async -> ZMQSocket? {
        if let socket = state.withLock({ $0.socket }) { return socket }
        guard let socket = try? context.socket(.dealer) else { return nil }
        try? socket.set(.sendHighWaterMark(0))
        try? socket.set(.linger(.zero))
        let winner = state.withLock { state -> ZMQSocket in
            if let existing = state.socket { return existing }
            state.socket = socket
            return socket
        }
        guard winner === socket else {
            socket.close()
            return winner
        }
        do {
            try await socket.connect(Self.endpoint)
        } catch {
            return nil
        }
        Task {
            do {
                for try await reply in socket.messages { handle(reply) }
            } catch {}
        }
        return socket
    }

    /// A reply: "", "1.0", request id, status code, status text, user id, metadata.
    private func handle(_ reply: Message) {
        guard reply.count == 7, reply[0].isEmpty, let id = reply[2].string else { return }
        guard reply[1].string == "1.0", let status = reply[3].string, AuthenticationReply.statusCodes.contains(status) else {
            answer(id, AuthenticationReply(statusCode: "500", statusText: "the ZAP handler sent an invalid reply"))
            return
        }
        var metadataBytes = reply[6].buffer
        let metadata = (try? Metadata.decode(from: &metadataBytes)) ?? Metadata()
        answer(id, AuthenticationReply(statusCode: status, statusText: reply[4].string ?? "", userID: reply[5].string ?? "", metadata: metadata))
    }
}
