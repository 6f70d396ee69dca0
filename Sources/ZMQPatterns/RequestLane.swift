import ZMQ

/// One DEALER socket to a server and one request on it at a time: the send-and-wait step that
/// the request clients retry. A request that gets no answer in time takes the socket with it
/// (closed at linger zero, dropping whatever it still queues), so the next one starts clean.
actor RequestLane {
    /// What a client makes of an incoming message.
    enum Verdict<Answer: Sendable>: Sendable {
        /// The answer: the exchange is over.
        case answer(Answer)
        /// Part of the answer (an 18/MDP PARTIAL): kept, and the wait goes on.
        case partial(Message)
        /// Not for this request (a late reply to an abandoned one): the wait goes on.
        case ignore
    }

    private let context: ZMQContext
    private var endpoints: [String]
    private let options: [SocketOption]
    private var socket: ZMQSocket?
    private var busy = false

    init(_ context: ZMQContext, connectingTo endpoints: [String], options: [SocketOption]) {
        self.context = context
        self.endpoints = endpoints
        self.options = options
    }

    /// Sends `request` and waits up to `timeout` for `judge` to find its answer; nil when none
    /// came in time. The socket is closed then, unless `keepSocket`: a caller that will send the
    /// same request again on this lane may still take the late answer to this one. Any error
    /// (cancellation too) closes the socket, so an answer still on its way can never be taken
    /// for the next request's. Throws what the socket throws.
    func exchange<Answer: Sendable>(
        _ request: Message, timeout: Duration, keepSocket: Bool = false, judge: @Sendable (Message) -> Verdict<Answer>
    ) async throws -> (partials: [Message], answer: Answer)? {
        // One exchange at a time: a second would open a socket of its own and leak the first.
        precondition(!busy, "a RequestLane carries one request at a time")
        busy = true
        defer { busy = false }
        do {
            try Task.checkCancellation()
            let socket = try await openSocket()
            try await socket.send(request)
            var partials: [Message] = []
            let deadline = ContinuousClock.now + timeout
            while let reply = try await socket.receive(before: deadline) {
                switch judge(reply) {
                case .answer(let answer): return (partials, answer)
                case .partial(let partial): partials.append(partial)
                case .ignore: continue
                }
            }
        } catch is CancellationError {
            close()
            throw ZMQError.cancelled
        } catch {
            close()
            throw error
        }
        if !keepSocket { close() }
        return nil
    }

    /// Points the lane at other servers (failing over): the socket to the old ones is closed.
    func retarget(_ endpoints: [String]) {
        precondition(!busy, "a lane is retargeted between requests")
        guard endpoints != self.endpoints else { return }
        close()
        self.endpoints = endpoints
    }

    func close() {
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
