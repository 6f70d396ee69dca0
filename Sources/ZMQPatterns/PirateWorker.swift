import ZMQ

/// A worker for `PirateQueue` (the Guide, chapter 4). With `heartbeat` set (Paranoid Pirate, the
/// default) it connects a DEALER, says READY, heartbeats the queue (while a request is being
/// handled too) and, when the queue goes silent for `liveness` intervals, drops its socket and
/// dials again after 1 s, then 2 s, 4 s, … up to 32 s. With nil (Simple Pirate) it is a REQ that
/// says READY and then answers requests in turn.
///
///     let worker = PirateWorker(connectingTo: "tcp://localhost:5556")
///     try await worker.run(in: context) { request in
///         Message("done: \(request[0].string ?? "")")
///     }
///
/// The handler gets the request's frames without the return address, and its reply goes back to
/// the client that asked. An error it throws ends `run` and is thrown.
public struct PirateWorker: Sendable {
    public var endpoint: String
    /// How often to heartbeat, and how often the queue must be heard from (6/PPP: 1 s); nil for
    /// a Simple Pirate worker.
    public var heartbeat: Duration? = .seconds(1)
    /// How many heartbeat intervals of silence mean the queue is gone (6/PPP: 3).
    public var liveness = 3
    /// The first wait before dialling again, doubled each time the queue stays away (the Guide's 1 s).
    public var reconnectInterval: Duration = .seconds(1)
    /// The longest such wait (the Guide's 32 s).
    public var reconnectIntervalMax: Duration = .seconds(32)
    /// Options for each socket the worker makes (security, a routing id).
    public var options: [SocketOption] = []
    public var onEvent: PatternEventHandler = { _ in }

    public init(connectingTo endpoint: String) {
        self.endpoint = endpoint
    }

    /// Serves requests with `handler` until the task is cancelled (then returns) or `handler`
    /// throws (then throws that).
    public func run(in context: ZMQContext, handler: @escaping @Sendable (Message) async throws -> Message) async throws {
        guard let heartbeat else { return try await runSimple(in: context, handler: handler) }
        var machine = PirateWorkerMachine(heartbeat: heartbeat, liveness: liveness, reconnectInterval: reconnectInterval,
                                          reconnectIntervalMax: reconnectIntervalMax, now: .now)
        var socket = try await connect(context, .dealer)
        defer { socket.close() }
        var actions = machine.connected(now: .now)
        while !Task.isCancelled {
            while !actions.isEmpty {
                switch actions.removeFirst() {
                case .send(let message):
                    try? socket.trySend(message)
                case .handle(let envelope, let body):
                    let reply = try await handle(body, on: socket, handler)
                    try? socket.trySend(Message(envelope + reply.frames))
                case .reconnect(let delay):
                    onEvent(PatternEvent(.reconnecting, delay: delay))
                    socket.close()
                    do { try await Task.sleep(for: delay) } catch { return }
                    socket = try await connect(context, .dealer)
                    actions += machine.connected(now: .now)
                }
            }
            let message: Message?
            do {
                message = try await socket.receive(before: machine.nextDeadline)
            } catch ZMQError.cancelled {
                return
            }
            if let message { actions += machine.received(message, now: .now) }
            actions += machine.tick(now: .now)
        }
    }

    /// Runs `handler`, heartbeating the queue meanwhile so a long request does not look like a
    /// dead worker.
    private func handle(_ request: Message, on socket: ZMQSocket, _ handler: @Sendable (Message) async throws -> Message) async throws -> Message {
        guard let heartbeat else { return try await handler(request) }
        let heartbeats = Task {
            while !Task.isCancelled {
                do { try await Task.sleep(for: heartbeat) } catch { return }
                try? socket.trySend(Message(PirateCommand.heartbeat))
            }
        }
        defer { heartbeats.cancel() }
        return try await handler(request)
    }

    /// Simple Pirate: REQ, READY, then request and reply in turn.
    private func runSimple(in context: ZMQContext, handler: @Sendable (Message) async throws -> Message) async throws {
        let socket = try await connect(context, .req)
        defer { socket.close() }
        try await socket.send(Message(PirateCommand.ready))
        for try await request in socket.messages {
            let (envelope, body) = splitEnvelope(request)
            let reply = try await handler(Message(body, metadata: request.metadata))
            try await socket.send(Message(envelope + reply.frames))
        }
    }

    private func connect(_ context: ZMQContext, _ type: SocketType) async throws -> ZMQSocket {
        let socket = try context.socket(type, options: options + [.linger(.zero)])
        do {
            try await socket.connect(endpoint)
        } catch {
            socket.close()
            throw error
        }
        return socket
    }
}
