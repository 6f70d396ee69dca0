import ZMQ

/// A Majordomo broker (7/MDP 0.1, 18/MDP 0.2 and majortomo's dialect at once, with 8/MMI):
/// clients and workers connect to one endpoint; requests are routed by service name to the
/// worker of that service that has been idle longest, queued while none is, and dropped after
/// `requestExpiry`; workers are heartbeaten and forgotten when silent, and the request a lost
/// worker held goes to another. Defaults are the Guide's: heartbeat 2.5 s, liveness 3.
///
///     let broker = MajordomoBroker(endpoint: "tcp://*:5555")
///     let running = Task { try await broker.run(in: context) }
///
/// With `pair` set it is one half of a Binary Star pair: it brokers only while it is the active
/// half, and drops what reaches it while passive, so that clients and workers given both
/// brokers' endpoints (`MajordomoClient.failingOver(between: [primary, backup], in:)`,
/// `MajordomoWorker(failingOverBetween: [primary, backup], …)`) go to the other: a worker is
/// told to DISCONNECT, a client times out.
/// The backup takes over when a client's request or a worker's READY reaches it after the
/// primary has been silent for two of the pair's heartbeats. Requests queued in the broker that died are lost with it;
/// clients retry them. Give a pair's clients enough attempts to outlast a failover: the pair's
/// two heartbeats, then the workers' `liveness` heartbeats before they move over.
public struct MajordomoBroker: Sendable {
    /// Where it binds: clients and workers connect to any of them.
    public var endpoints: [String]
    public var heartbeat: Duration = .milliseconds(2500)
    public var liveness = 3
    /// How long a request waits for a worker of its service before it is dropped.
    public var requestExpiry: Duration = .seconds(60)
    /// How many requests may wait for workers of one service; more are turned away (and their
    /// clients retry), so that a flood of requests cannot take the broker's memory.
    public var maxQueuedRequests = 10_000
    /// Options for the broker's socket (security, high-water marks).
    public var options: [SocketOption] = []
    public var onEvent: EventHandler<MajordomoBrokerEvent> = { _ in }
    /// Set to run as one half of a Binary Star pair.
    public var pair: BinaryStarPairing?
    /// The pair's state changes and faults, when `pair` is set.
    public var onPairEvent: EventHandler<BinaryStarEvent> = { _ in }

    public init(endpoint: String) {
        endpoints = [endpoint]
    }

    public init(endpoints: [String]) {
        self.endpoints = endpoints
    }

    /// Binds and brokers until the task is cancelled (then returns, the socket closed). In a
    /// pair, throws `splitBrain` when both brokers are active or both passive.
    public func run(in context: ZMQContext) async throws {
        try Settings.positive(heartbeat, "heartbeat")
        try Settings.atLeastOne(liveness, "liveness")
        try Settings.positive(requestExpiry, "requestExpiry")
        try Settings.atLeastOne(maxQueuedRequests, "maxQueuedRequests")
        try Settings.positive(pair?.heartbeat, "pair.heartbeat")
        let machine = MajordomoBrokerMachine(heartbeat: heartbeat, liveness: liveness, requestExpiry: requestExpiry,
                                             maxQueuedRequests: maxQueuedRequests,
                                             plan: SocketPlan(.router, bind: endpoints, options: options), now: .now)
        guard let pair else { return try await PatternRunner(machine, in: context, onEvent: onEvent).run() }
        let (onEvent, onPairEvent) = (onEvent, onPairEvent)
        let paired = BinaryStarPairMachine(machine, frontends: [MajordomoBrokerMachine.socket], pairing: pair,
                                           votes: MajordomoBrokerMachine.isVote, turnAway: MajordomoBrokerMachine.turnAway)
        try await PatternRunner(paired, in: context, onEvent: { event in
            switch event {
            case .pair(let event): onPairEvent(event)
            case .inner(let event): onEvent(event)
            }
        }).run()
    }
}
