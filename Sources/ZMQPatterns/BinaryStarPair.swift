import ZMQ

/// How a server joins a Binary Star pair: which half it is, where it publishes its state and
/// where its peer publishes, how often. Given to a pattern that can run as a pair
/// (`MajordomoBroker.pair`), it makes that pattern serve only while it is the active half.
///
///     var broker = MajordomoBroker(endpoint: "tcp://*:5555")
///     broker.pair = BinaryStarPairing(primary: true, statePublisher: "tcp://*:5556",
///                                     stateSubscriber: "tcp://backup:5557")
public struct BinaryStarPairing: Sendable {
    public var primary: Bool
    /// Where this server publishes its state (a PUB binds here).
    public var statePublisher: String
    /// The peer's state publisher (a SUB connects there).
    public var stateSubscriber: String
    /// How often the state is published; the peer is gone after two heartbeats of silence (the
    /// Guide's 1 s).
    public var heartbeat: Duration = .seconds(1)
    /// Options for both state sockets (CURVE between the two servers, for instance).
    public var stateOptions: [SocketOption] = []

    public init(primary: Bool, statePublisher: String, stateSubscriber: String) {
        self.primary = primary
        self.statePublisher = statePublisher
        self.stateSubscriber = stateSubscriber
    }
}

/// What a pattern run as a Binary Star pair reports: the pair's events and the pattern's own.
enum BinaryStarPairEvent<Inner: Sendable>: Sendable {
    case pair(BinaryStarEvent)
    case inner(Inner)
}

/// Any pattern machine as one half of a Binary Star pair: the pair's state sockets and
/// `BinaryStarPeering` beside it, and its client-facing sockets (`frontends`) passed to it only
/// while this half is active, or becomes active by the client vote. What comes while passive is
/// dropped (clients time out here and try the other server), after the pattern's `turnAway`
/// has had its say: a broker tells a worker to DISCONNECT, so that it goes to the other broker at
/// once. The pattern's other sockets, and its clock, run as they would alone.
struct BinaryStarPairMachine<Inner: PatternMachine>: PatternMachine {
    typealias Event = BinaryStarPairEvent<Inner.Event>
    typealias Action = PatternAction<Event>

    static var statePublisher: SocketName { "binary-star-state-out" }
    static var stateSubscriber: SocketName { "binary-star-state-in" }

    private(set) var inner: Inner
    let frontends: Set<SocketName>
    let statePublisherPlan: SocketPlan
    let stateSubscriberPlan: SocketPlan
    /// What to send back for a message refused while this half is not active.
    let turnAway: (Message, SocketName) -> [PatternAction<Inner.Event>]
    /// Whether a message is a client's vote (bstar.c: a client request): only such a message
    /// makes a passive half take over; anything else is refused unless this half is active.
    let votes: (Message, SocketName) -> Bool
    /// What the pattern does when this half enters a state, before any message that caused it
    /// reaches the pattern: a Clone server applies its pending updates on becoming active.
    let entered: (inout Inner, BinaryStarState, ContinuousClock.Instant) -> [PatternAction<Inner.Event>]
    private(set) var peering: BinaryStarPeering

    init(_ inner: Inner, frontends: Set<SocketName>, pairing: BinaryStarPairing,
         votes: @escaping (Message, SocketName) -> Bool = { _, _ in true },
         turnAway: @escaping (Message, SocketName) -> [PatternAction<Inner.Event>] = { _, _ in [] },
         entered: @escaping (inout Inner, BinaryStarState, ContinuousClock.Instant) -> [PatternAction<Inner.Event>] = { _, _, _ in [] }) {
        precondition(!frontends.contains(Self.statePublisher) && !frontends.contains(Self.stateSubscriber),
                     "the pair's state sockets are its own")
        self.inner = inner
        self.frontends = frontends
        self.votes = votes
        self.turnAway = turnAway
        self.entered = entered
        peering = BinaryStarPeering(primary: pairing.primary, heartbeat: pairing.heartbeat)
        statePublisherPlan = SocketPlan(.pub, bind: [pairing.statePublisher], options: pairing.stateOptions)
        stateSubscriberPlan = SocketPlan(.sub, connect: [pairing.stateSubscriber], options: pairing.stateOptions, subscriptions: [""])
    }

    var nextDeadline: ContinuousClock.Instant? {
        switch (peering.nextStateMessage, inner.nextDeadline) {
        case let (pair?, inner?): min(pair, inner)
        case let (pair, inner): pair ?? inner
        }
    }

    func reads(_ socket: SocketName) -> Bool {
        socket == Self.stateSubscriber || socket == Self.statePublisher || inner.reads(socket)
    }

    mutating func start(now: ContinuousClock.Instant) -> [Action] {
        let started = peering.start(now: now)
        let innerStart = inner.start(now: now)
        for case .open(let name, _) in innerStart {
            precondition(name != Self.statePublisher && name != Self.stateSubscriber, "\(name) is the pair's own socket")
        }
        // The state socket first: the runner reads sockets in the order opened, and a client's
        // vote must not be counted ahead of a state message already waiting.
        return [.open(Self.stateSubscriber, stateSubscriberPlan)] + lift(innerStart)
            + [.open(Self.statePublisher, statePublisherPlan), .report(.pair(started))]
    }

    mutating func received(_ message: Message, on socket: SocketName, now: ContinuousClock.Instant) -> [Action] {
        if socket == Self.stateSubscriber {
            let (events, fault) = peering.stateMessage(message, now: now)
            return report(events, now: now) + (fault.map { [.fail(BinaryStarPeering.splitBrain($0))] } ?? [])
        }
        guard frontends.contains(socket) else { return lift(inner.received(message, on: socket, now: now)) }
        let (accepted, events) = votes(message, socket)
            ? peering.clientArrived(now: now)
            : (peering.state == .active, peering.state == .active ? [] : [peering.refused])
        let reports = report(events, now: now)
        guard accepted else { return reports + lift(turnAway(message, socket)) }
        return reports + lift(inner.received(message, on: socket, now: now))
    }

    mutating func sendFailed(_ message: Message, on socket: SocketName, error: ZMQError, now: ContinuousClock.Instant) -> [Action] {
        // A state message that could not go is simply not sent: the next heartbeat sends another.
        guard socket != Self.statePublisher else { return [] }
        return lift(inner.sendFailed(message, on: socket, error: error, now: now))
    }

    mutating func tick(now: ContinuousClock.Instant) -> [Action] {
        var actions: [Action] = peering.tick(now: now).map { [.send($0, on: Self.statePublisher)] } ?? []
        if let due = inner.nextDeadline, now >= due { actions += lift(inner.tick(now: now)) }
        return actions
    }

    mutating func handled(_ reply: Message, id: UInt64, final: Bool, now: ContinuousClock.Instant) -> [Action] {
        lift(inner.handled(reply, id: id, final: final, now: now))
    }

    mutating func stop(now: ContinuousClock.Instant) -> [Action] {
        lift(inner.stop(now: now))
    }

    mutating func disconnected(_ socket: SocketName, now: ContinuousClock.Instant) -> [Action] {
        lift(inner.disconnected(socket, now: now))
    }

    /// The pair's events, each state entered followed by what the pattern does on entering it.
    private mutating func report(_ events: [BinaryStarEvent], now: ContinuousClock.Instant) -> [Action] {
        events.flatMap { event -> [Action] in
            guard event.kind == .stateChanged else { return [.report(.pair(event))] }
            return [.report(.pair(event))] + lift(entered(&inner, event.state, now))
        }
    }

    private func lift(_ actions: [PatternAction<Inner.Event>]) -> [Action] {
        actions.map { $0.mapEvent { .inner($0) } }
    }
}

extension PatternAction {
    /// The same action, reporting `transform` of its event.
    func mapEvent<Other: Sendable>(_ transform: (Event) -> Other) -> PatternAction<Other> {
        switch self {
        case .open(let name, let plan): .open(name, plan)
        case .close(let name, let linger): .close(name, linger: linger)
        case .send(let message, let socket, let report): .send(message, on: socket, report: report.map(transform))
        case .sendInOrder(let messages, let socket, let report): .sendInOrder(messages, on: socket, report: report.map(transform))
        case .handle(let message, let id): .handle(message, id: id)
        case .report(let event): .report(transform(event))
        case .fail(let error): .fail(error)
        case .perform(let work): .perform(work)
        }
    }
}
