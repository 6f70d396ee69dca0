import ZMQ

/// One server of a Binary Star pair (the Guide, chapter 4): a primary and a backup that watch
/// each other over PUB/SUB, so that clients fail over to the backup when the primary dies and
/// back when it returns. Only the active server answers; the passive one takes over when a
/// client asks it after the active one went silent (the client vote), so a server that merely
/// lost sight of its peer does not take over while clients still reach the peer.
///
///     var primary = BinaryStar(primary: true, frontend: "tcp://*:5001",
///                              statePublisher: "tcp://*:5003", stateSubscriber: "tcp://backup:5004")
///     primary.onEvent = { print($0) }          // stateChanged ACTIVE …
///     try await primary.run(in: context) { request in request }
///
/// State messages are the Guide's (`bstarsrv`, `bstar`): one frame, the state number as decimal
/// text, every heartbeat; a swift-zmq server pairs with a server built on the Guide's code.
/// Clients are REQ sockets, or DEALERs that send REQ's empty delimiter;
/// `LazyPirateClient.failingOver(between:)` fails over between the two. Both servers active, or both passive, ends `run` with
/// `ZMQError.Code.splitBrain`.
///
/// Failure modes to know: across a network partition both servers can end up active if each
/// still has clients (split brain); the pair needs the two servers to see each other's state
/// socket directly, not through the clients' network.
public struct BinaryStar: Sendable {
    public var primary: Bool
    /// Where clients connect (a ROUTER binds here).
    public var frontend: String
    /// Where this server publishes its state (a PUB binds here).
    public var statePublisher: String
    /// The peer's state publisher (a SUB connects there).
    public var stateSubscriber: String
    /// How often the state is published; the peer is gone after two heartbeats of silence (the
    /// Guide's 1 s).
    public var heartbeat: Duration = .seconds(1)
    /// Options for the frontend (security, high-water marks).
    public var frontendOptions: [SocketOption] = []
    /// Options for both state sockets (CURVE between the two servers, for instance).
    public var stateOptions: [SocketOption] = []
    /// How many requests the handler works on at once; more wait in the frontend's queue, so
    /// that a flood of requests cannot take the server's memory.
    public var maxConcurrentRequests = 100
    public var onEvent: EventHandler<BinaryStarEvent> = { _ in }

    public init(primary: Bool, frontend: String, statePublisher: String, stateSubscriber: String) {
        self.primary = primary
        self.frontend = frontend
        self.statePublisher = statePublisher
        self.stateSubscriber = stateSubscriber
    }

    /// Serves clients with `handler` while active, until the task is cancelled (then returns).
    /// Throws if an endpoint cannot be bound, if `handler` throws, and with `splitBrain` when
    /// both servers are active or both passive.
    public func run(in context: ZMQContext, handler: @escaping @Sendable (Message) async throws -> Message) async throws {
        try Settings.positive(heartbeat, "heartbeat")
        try Settings.atLeastOne(maxConcurrentRequests, "maxConcurrentRequests")
        let machine = BinaryStarMachine(
            primary: primary, frontend: SocketPlan(.router, bind: [frontend], options: frontendOptions),
            statePublisher: SocketPlan(.pub, bind: [statePublisher], options: stateOptions),
            stateSubscriber: SocketPlan(.sub, connect: [stateSubscriber], options: stateOptions), heartbeat: heartbeat,
            maxConcurrentRequests: maxConcurrentRequests)
        try await PatternRunner(machine, in: context, handler: { request, _ in try await handler(request) }, onEvent: onEvent).run()
    }
}
