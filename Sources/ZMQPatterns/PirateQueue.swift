import ZMQ

/// The queue of Simple Pirate and Paranoid Pirate (the Guide, chapter 4; 6/PPP): clients connect
/// to its frontend (REQ, or `LazyPirateClient`), workers to its backend (`PirateWorker`), and
/// each request goes to the worker that has waited longest. With `heartbeat` set (Paranoid
/// Pirate, the default) it heartbeats its workers and forgets one that stays silent for
/// `liveness` intervals; with nil (Simple Pirate) it only forgets a worker it can no longer reach.
/// Requests wait in the clients' queues while no worker is ready. A request lost with a worker is
/// the client's to retry.
///
///     let queue = PirateQueue(frontend: "tcp://*:5555", backend: "tcp://*:5556")
///     let running = Task { try await queue.run(in: context) }
///     …
///     running.cancel()   // stops it and closes its sockets
public struct PirateQueue: Sendable {
    public var frontend: String
    public var backend: String
    /// How often to heartbeat each worker, and how often it must be heard from (6/PPP: 1 s);
    /// nil for Simple Pirate.
    public var heartbeat: Duration? = .seconds(1)
    /// How many heartbeat intervals of silence make a worker dead (6/PPP: 3).
    public var liveness = 3
    /// Options for the frontend and backend sockets (security, high-water marks).
    public var frontendOptions: [SocketOption] = []
    public var backendOptions: [SocketOption] = []
    public var onEvent: PatternEventHandler = { _ in }

    public init(frontend: String, backend: String) {
        self.frontend = frontend
        self.backend = backend
    }

    /// Binds both endpoints and routes until the task is cancelled; returns then, with both
    /// sockets closed. Throws if an endpoint cannot be bound.
    public func run(in context: ZMQContext) async throws {
        let clients = try context.socket(.router, options: frontendOptions + [.linger(.zero)])
        defer { clients.close() }
        // Mandatory: a send to a worker that has gone fails, and the request goes to another.
        let workers = try context.socket(.router, options: backendOptions + [.linger(.zero), .routerMandatory(true)])
        defer { workers.close() }
        _ = try await clients.bind(frontend)
        _ = try await workers.bind(backend)
        var machine = PirateQueueMachine(heartbeat: heartbeat, liveness: liveness, now: .now)
        // A request no ready worker could take (their queues were full): it goes first, and
        // clients are not read meanwhile.
        var held: Message?
        while !Task.isCancelled {
            var poller = ZMQPoller()
            poller.register(workers)
            if machine.hasReadyWorker, held == nil { poller.register(clients) }
            var timeout = machine.nextDeadline.map { max(.zero, $0 - .now) }
            if held != nil { timeout = min(timeout ?? Self.heldRetry, Self.heldRetry) }
            let ready: [ZMQPoller.Item]
            do {
                ready = try await poller.poll(timeout: timeout)
            } catch ZMQError.cancelled {
                return
            }
            if ready.contains(where: { $0.socket === workers }) {
                while let message = try? workers.tryReceive() {
                    perform(machine.fromWorker(message, now: .now), &machine, clients, workers)
                }
            }
            if let request = held {
                held = dispatch(request, &machine, clients, workers)
            }
            if held == nil, ready.contains(where: { $0.socket === clients }) {
                while held == nil, machine.hasReadyWorker, let request = try? clients.tryReceive() {
                    held = dispatch(request, &machine, clients, workers)
                    if held != nil { onEvent(PatternEvent(.requestHeld)) }
                }
            }
            perform(machine.tick(now: .now), &machine, clients, workers)
        }
    }

    /// How soon a request no worker could take is offered again.
    static let heldRetry = Duration.milliseconds(50)

    /// Sends `request` to the next ready worker, and to the one after if that one has gone or
    /// its queue is full. A worker with a full queue never got the request, so it stays ready.
    /// Returns the request if no ready worker could take it.
    private func dispatch(_ request: Message, _ machine: inout PirateQueueMachine, _ clients: ZMQSocket, _ workers: ZMQSocket) -> Message? {
        var full: [[UInt8]] = []
        defer { machine.stillReady(full) }
        while let (worker, action) = machine.fromClient(request) {
            guard case .toWorker(let message) = action else { return nil }
            do {
                try workers.trySend(message)
                onEvent(PatternEvent(.requestForwarded, worker: worker))
                return nil
            } catch let error as ZMQError where error.code == .unroutable {
                perform(machine.lost(worker), &machine, clients, workers)
            } catch {
                full.append(worker)
            }
        }
        return full.isEmpty ? nil : request
    }

    private func perform(_ actions: [PirateQueueMachine.Action], _ machine: inout PirateQueueMachine, _ clients: ZMQSocket, _ workers: ZMQSocket) {
        for action in actions {
            switch action {
            case .toClient(let reply):
                // A client that has gone takes its reply with it (ROUTER drops it).
                try? clients.trySend(reply)
            case .toWorker(let message):
                do {
                    try workers.trySend(message)
                } catch let error as ZMQError where error.code == .unroutable {
                    perform(machine.lost(message[0].bytes), &machine, clients, workers)
                } catch {
                    // A heartbeat to a worker whose queue is full is not needed: it has plenty to read.
                }
            case .event(let event):
                onEvent(event)
            }
        }
    }
}
