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
    /// The broker it serves; with several (a Binary Star pair), the one it dials first, and it
    /// goes to the next when its broker falls silent or sends it away.
    public var endpoints: [String]
    /// The first broker.
    public var endpoint: String {
        get { endpoints.first ?? "" }
        set { endpoints = [newValue] + endpoints.dropFirst() }
    }
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
    public var onEvent: EventHandler<WorkerEvent> = { _ in }

    public init(connectingTo endpoint: String, service: String) {
        self.init(failingOverBetween: [endpoint], service: service)
    }

    /// A worker of the brokers at `endpoints` (a Binary Star pair), one at a time: it goes to the
    /// next when its broker has been silent for `liveness` heartbeats, or sends it away with
    /// DISCONNECT, as the passive broker of a pair does.
    public init(failingOverBetween endpoints: [String], service: String) {
        precondition(!endpoints.isEmpty, "a worker needs a broker")
        self.endpoints = endpoints
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
        try Settings.atLeastOne(endpoints.count, "endpoints")
        try Settings.positive(heartbeat, "heartbeat")
        try Settings.atLeastOne(liveness, "liveness")
        try Settings.positive(reconnectInterval, "reconnectInterval")
        let machine = MajordomoWorkerMachine(endpoints: endpoints, service: service, version: version, options: options,
                                             heartbeat: heartbeat, liveness: liveness, reconnectInterval: reconnectInterval,
                                             reconnectIntervalMax: reconnectIntervalMax, now: .now)
        try await PatternRunner(machine, in: context, handler: handler, onEvent: onEvent).run()
    }
}
