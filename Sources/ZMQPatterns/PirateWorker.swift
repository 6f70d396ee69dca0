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
    public var onEvent: EventHandler<WorkerEvent> = { _ in }

    public init(connectingTo endpoint: String) {
        self.endpoint = endpoint
    }

    /// Serves requests with `handler` until the task is cancelled (then returns) or `handler`
    /// throws (then throws that).
    public func run(in context: ZMQContext, handler: @escaping @Sendable (Message) async throws -> Message) async throws {
        try Settings.positive(heartbeat, "heartbeat")
        try Settings.atLeastOne(liveness, "liveness")
        try Settings.positive(reconnectInterval, "reconnectInterval")
        let machine = PirateWorkerMachine(endpoint: endpoint, options: options, heartbeat: heartbeat, liveness: liveness,
                                          reconnectInterval: reconnectInterval, reconnectIntervalMax: reconnectIntervalMax, now: .now)
        try await PatternRunner(machine, in: context, handler: { request, _ in try await handler(request) }, onEvent: onEvent).run()
    }
}
