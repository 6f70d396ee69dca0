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
    public var onEvent: EventHandler<PirateQueueEvent> = { _ in }

    public init(frontend: String, backend: String) {
        self.frontend = frontend
        self.backend = backend
    }

    /// Binds both endpoints and routes until the task is cancelled; returns then, with both
    /// sockets closed. Throws if an endpoint cannot be bound.
    public func run(in context: ZMQContext) async throws {
        try Settings.positive(heartbeat, "heartbeat")
        try Settings.atLeastOne(liveness, "liveness")
        let machine = PirateQueueMachine(frontend: SocketPlan(.router, bind: [frontend], options: frontendOptions),
                                         backend: SocketPlan(.router, bind: [backend], options: backendOptions),
                                         heartbeat: heartbeat, liveness: liveness)
        try await PatternRunner(machine, in: context, onEvent: onEvent).run()
    }
}
