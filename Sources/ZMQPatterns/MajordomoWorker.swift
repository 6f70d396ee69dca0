import ZMQ

/// A Majordomo worker for one service (7/MDP 0.1 or 18/MDP 0.2): it connects a DEALER to the
/// broker, says READY, answers each request with its handler's reply, heartbeats the broker
/// (while a request is being handled too), and on DISCONNECT, or after `liveness` silent
/// intervals, closes its socket and starts over on a new one. In 0.2 a handler can stream
/// PARTIAL replies before its FINAL one.
///
///     let worker = MajordomoWorker(connectingTo: "tcp://localhost:5555", service: "echo")
///     try await worker.run(in: context) { request in request }
public struct MajordomoWorker: Sendable {
    public var endpoint: String
    public var service: String
    public var version: MajordomoVersion = .v02
    /// The Guide's 2.5 s; the broker's must be the same.
    public var heartbeat: Duration = .milliseconds(2500)
    public var liveness = 3
    /// The wait before dialling again after the broker went silent or said DISCONNECT (the
    /// Guide's 2.5 s), doubled while it stays away, up to `reconnectIntervalMax`.
    public var reconnectInterval: Duration = .milliseconds(2500)
    public var reconnectIntervalMax: Duration = .seconds(32)
    public var options: [SocketOption] = []
    public var onEvent: PatternEventHandler = { _ in }

    public init(connectingTo endpoint: String, service: String) {
        self.endpoint = endpoint
        self.service = service
    }

    /// Answers requests with `handler` until the task is cancelled. A handler that throws ends
    /// the run (after a DISCONNECT, so the broker gives its request to another worker): answer
    /// a request that cannot be served with an error reply of your own instead.
    public func run(in context: ZMQContext, handler: @escaping @Sendable (Message) async throws -> Message) async throws {
        try await run(in: context) { request, _ in try await handler(request) }
    }

    /// Answers requests until the task is cancelled; the handler may send PARTIAL replies through
    /// its second argument before returning the FINAL one (18/MDP and majortomo; with 0.1 they
    /// are not sent).
    public func run(in context: ZMQContext,
                    streaming handler: @escaping @Sendable (Message, _ partial: @Sendable (Message) throws -> Void) async throws -> Message) async throws {
        var peer = PeerLiveness(heartbeat: heartbeat, liveness: liveness, reconnectInterval: reconnectInterval,
                                reconnectIntervalMax: reconnectIntervalMax, now: .now)
        var socket = try await connect(context)
        // Stopping says DISCONNECT, so the broker stops routing to this worker at once rather
        // than after its liveness.
        defer { leave(socket) }
        peer.connected(now: .now)
        while !Task.isCancelled {
            let message: Message?
            do {
                message = try await socket.receive(before: peer.nextDeadline)
            } catch ZMQError.cancelled {
                return
            }
            var reconnectAfter: Duration?
            if let message {
                peer.heard(now: .now)
                switch MajordomoCommand.parse(message.frames[...]) {
                case (_, .request(let client, let body))?:
                    let reply = try await handle(Message(body, metadata: message.metadata), for: client, on: socket, handler)
                    try? socket.trySend(Message(MajordomoCommand.reply(client: client, body: reply.frames, final: true).frames(version)))
                case (_, .disconnect)?:
                    reconnectAfter = reconnectInterval
                default:
                    break  // heartbeats, and anything else, only show the broker is there
                }
            }
            switch peer.tick(now: .now) {
            case .nothing: break
            case .heartbeat: try? socket.trySend(Message(MajordomoCommand.heartbeat.frames(version)))
            case .reconnect(let delay): reconnectAfter = delay
            }
            if let delay = reconnectAfter {
                onEvent(PatternEvent(.reconnecting, service: service, delay: delay))
                socket.close()
                do { try await Task.sleep(for: delay) } catch { return }
                socket = try await connect(context)
                peer.connected(now: .now)
            }
        }
    }

    /// Runs the handler, heartbeating the broker meanwhile; PARTIAL replies go out as it sends them.
    private func handle(_ request: Message, for client: Frame, on socket: ZMQSocket,
                        _ handler: @Sendable (Message, _ partial: @Sendable (Message) throws -> Void) async throws -> Message) async throws -> Message {
        let version = version
        let heartbeat = heartbeat
        let heartbeats = Task {
            while !Task.isCancelled {
                do { try await Task.sleep(for: heartbeat) } catch { return }
                try? socket.trySend(Message(MajordomoCommand.heartbeat.frames(version)))
            }
        }
        defer { heartbeats.cancel() }
        return try await handler(request) { partial in
            guard version.streamsPartials else { return }
            try socket.trySend(Message(MajordomoCommand.reply(client: client, body: partial.frames, final: false).frames(version)))
        }
    }

    private func leave(_ socket: ZMQSocket) {
        try? socket.set(.linger(.after(.seconds(1))))
        try? socket.trySend(Message(MajordomoCommand.disconnect.frames(version)))
        socket.close()
    }

    private func connect(_ context: ZMQContext) async throws -> ZMQSocket {
        let socket = try context.socket(.dealer, options: options + [.linger(.zero)])
        do {
            try await socket.connect(endpoint)
            try await socket.send(Message(MajordomoCommand.ready(service: service).frames(version)))
        } catch {
            socket.close()
            throw error
        }
        return socket
    }
}
