import ZMQ

/// Lazy Pirate (the Guide, chapter 4): a request client that survives a server that crashes,
/// restarts or loses requests. It sends, waits up to `timeout` for the reply, and when none
/// comes closes its socket (linger zero) and sends again on a fresh one, up to `attempts` times
/// in all; then it throws `ZMQError` with code `.noReply`.
///
/// Every request carries a sequence number as its first envelope frame, as libzmq's REQ does
/// with `ZMQ_REQ_CORRELATE`, so any REP or ROUTER-based server answers it unchanged and a late
/// reply to an abandoned attempt is recognised and dropped, never returned for a newer request.
///
///     let client = LazyPirateClient(context, connectingTo: ["tcp://localhost:5555"])
///     let reply = try await client.request(["lookup", "42"])
///
/// Requests are sent one at a time, in the order they are made (like REQ); concurrent calls wait
/// their turn.
public actor LazyPirateClient {
    /// How long to wait for each reply (the Guide's 2.5 s).
    public let timeout: Duration
    /// How many times to send a request in all before giving up (the Guide's 3).
    public let attempts: Int

    private let context: ZMQContext
    private let endpoints: [String]
    private let options: [SocketOption]
    private let onEvent: PatternEventHandler
    private var socket: ZMQSocket?
    private var sequence = UInt32.random(in: 0...UInt32.max)
    private let turns = Turns()

    /// A client of the servers at `endpoints` (requests are spread over those connected), with
    /// `options` set on each socket it makes (security, for instance).
    public init(
        _ context: ZMQContext, connectingTo endpoints: [String], timeout: Duration = .milliseconds(2500), attempts: Int = 3,
        options: [SocketOption] = [], onEvent: @escaping PatternEventHandler = { _ in }
    ) {
        precondition(attempts >= 1, "a request needs at least one attempt")
        self.context = context
        self.endpoints = endpoints
        self.timeout = timeout
        self.attempts = attempts
        self.options = options
        self.onEvent = onEvent
    }

    /// Sends `request` and returns its reply, retrying on a fresh socket when none comes in time.
    /// Throws `.noReply` after the last attempt, and whatever the socket throws (a bad endpoint,
    /// cancellation).
    public func request(_ request: Message) async throws -> Message {
        await turns.take()
        defer { turns.pass() }
        for attempt in 1...attempts {
            sequence &+= 1
            let id = Frame(withUnsafeBytes(of: sequence.bigEndian, Array.init))
            let socket = try await openSocket()
            if attempt > 1 { onEvent(PatternEvent(.requestRetried, attempt: attempt)) }
            try await socket.send(Message([id, Frame()] + request.frames))
            let deadline = ContinuousClock.now + timeout
            while let reply = try await socket.receive(before: deadline) {
                guard reply.count >= 2, reply[0] == id, reply[1].isEmpty else {
                    onEvent(PatternEvent(.staleReplyDiscarded, attempt: attempt))
                    continue
                }
                onEvent(PatternEvent(.requestAnswered, attempt: attempt))
                return Message(Array(reply.frames.dropFirst(2)), metadata: reply.metadata)
            }
            // No reply in time: the request may sit in a dead server's queue. Drop the socket and
            // what it still holds; the next attempt starts clean.
            socket.close()
            self.socket = nil
        }
        onEvent(PatternEvent(.requestAbandoned, attempt: attempts))
        throw ZMQError(code: .noReply, message: "no reply after \(attempts) attempt\(attempts == 1 ? "" : "s") of \(timeout) each",
                       endpoint: endpoints.joined(separator: ", "))
    }

    /// Closes the socket; a later request opens a new one.
    public func close() {
        socket?.close()
        socket = nil
    }

    private func openSocket() async throws -> ZMQSocket {
        if let socket { return socket }
        let socket = try context.socket(.dealer, options: options + [.linger(.zero)])
        do {
            for endpoint in endpoints { try await socket.connect(endpoint) }
        } catch {
            socket.close()
            throw error
        }
        self.socket = socket
        return socket
    }
}
