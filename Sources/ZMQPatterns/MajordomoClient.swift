import ZMQ

/// A synchronous Majordomo client (7/MDP 0.1 or 18/MDP 0.2): one request at a time (concurrent
/// calls wait their turn), by service
/// name, retried Lazy Pirate style: it waits `timeout` for the reply and, when none comes, sends
/// again on a fresh socket, `attempts` times in all, then throws `.noReply`. In 0.2 the PARTIAL
/// replies of a request are collected and returned with the FINAL one, in order.
///
///     let client = MajordomoClient(context, connectingTo: "tcp://localhost:5555")
///     let reply = try await client.request(service: "echo", ["hello"])
public actor MajordomoClient {
    public let version: MajordomoVersion
    public let timeout: Duration
    public let attempts: Int
    private let context: ZMQContext
    private let endpoint: String
    private let options: [SocketOption]
    private let onEvent: PatternEventHandler
    private var socket: ZMQSocket?
    private let turns = Turns()

    public init(
        _ context: ZMQContext, connectingTo endpoint: String, version: MajordomoVersion = .v02, timeout: Duration = .milliseconds(2500),
        attempts: Int = 3, options: [SocketOption] = [], onEvent: @escaping PatternEventHandler = { _ in }
    ) {
        precondition(attempts >= 1, "a request needs at least one attempt")
        self.context = context
        self.endpoint = endpoint
        self.version = version
        self.timeout = timeout
        self.attempts = attempts
        self.options = options
        self.onEvent = onEvent
    }

    /// The FINAL reply to `body` from `service` (with 0.2, any PARTIAL replies before it come
    /// first in `partials`). Throws `.noReply` after the last attempt.
    public func request(service: String, _ body: Message) async throws -> Message {
        try await requestWithPartials(service: service, body).final
    }

    /// The PARTIAL replies (0.2) and the FINAL reply to `body` from `service`.
    public func requestWithPartials(service: String, _ body: Message) async throws -> (partials: [Message], final: Message) {
        await turns.take()
        defer { turns.pass() }
        for attempt in 1...attempts {
            let socket = try await openSocket()
            if attempt > 1 { onEvent(PatternEvent(.requestRetried, service: service, attempt: attempt)) }
            try await socket.send(Message(MajordomoClientMessage.request(version, service: service, body: body.frames)))
            var partials: [Message] = []
            let deadline = ContinuousClock.now + timeout
            while let reply = try await socket.receive(before: deadline) {
                guard let (final, replyService, replyBody) = parse(reply), replyService == service else { continue }
                if final {
                    onEvent(PatternEvent(.requestAnswered, service: service, attempt: attempt))
                    return (partials, Message(replyBody, metadata: reply.metadata))
                }
                partials.append(Message(replyBody, metadata: reply.metadata))
            }
            socket.close()
            self.socket = nil
        }
        onEvent(PatternEvent(.requestAbandoned, service: service, attempt: attempts))
        throw ZMQError(code: .noReply, message: "no reply from \(service) after \(attempts) attempt\(attempts == 1 ? "" : "s") of \(timeout) each",
                       endpoint: endpoint)
    }

    /// Whether the broker has a worker for `service` (8/MMI `mmi.service`: 200 or 404).
    public func hasService(_ service: String) async throws -> Bool {
        try await request(service: "mmi.service", Message(Frame(service))).first?.string == "200"
    }

    public func close() {
        socket?.close()
        socket = nil
    }

    /// A reply from the broker: whether it is the last, its service and its body.
    private func parse(_ reply: Message) -> (final: Bool, service: String, body: [Frame])? {
        let frames = reply.frames
        switch version {
        case .v01:
            // A DEALER sees the empty frame REQ would have removed.
            guard frames.count >= 3, frames[0].isEmpty, frames[1] == "MDPC01", let service = frames[2].string else { return nil }
            return (true, service, Array(frames.dropFirst(3)))
        case .v02:
            guard frames.count >= 3, frames[0] == "MDPC02", frames[1].count == 1, let service = frames[2].string else { return nil }
            let code = frames[1].bytes[0]
            guard code == 2 || code == 3 else { return nil }
            return (code == 3, service, Array(frames.dropFirst(3)))
        }
    }

    private func openSocket() async throws -> ZMQSocket {
        if let socket { return socket }
        let socket = try context.socket(.dealer, options: options + [.linger(.zero)])
        do {
            try await socket.connect(endpoint)
        } catch {
            socket.close()
            throw error
        }
        self.socket = socket
        return socket
    }
}
