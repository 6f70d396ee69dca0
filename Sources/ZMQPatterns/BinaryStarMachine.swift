import ZMQ

/// The state of one server of a Binary Star pair (the Guide, chapter 4), numbered as the Guide's
/// `bstar` numbers it on the wire.
public struct BinaryStarState: Hashable, Sendable, CustomStringConvertible {
    /// The number sent in state messages, as decimal text.
    public let number: Int
    private init(_ number: Int) { self.number = number }

    /// A primary waiting to hear from its peer (or for a client, once its peer is overdue).
    public static let primary = BinaryStarState(1)
    /// A backup waiting to hear from its peer.
    public static let backup = BinaryStarState(2)
    /// Serving clients.
    public static let active = BinaryStarState(3)
    /// Standing by while the peer serves; takes over when a client asks after the peer went silent.
    public static let passive = BinaryStarState(4)

    static let all: [BinaryStarState] = [.primary, .backup, .active, .passive]

    /// A state message, exactly one frame of "1" to "4"; nil for anything else.
    init?(message: Message) {
        guard message.count == 1, message[0].count == 1, let digit = message[0].bytes.first,
              let state = Self.all.first(where: { UInt8(ascii: "0") + UInt8($0.number) == digit }) else { return nil }
        self = state
    }

    var message: Message { Message(Frame("\(number)")) }

    public var description: String { ["PRIMARY", "BACKUP", "ACTIVE", "PASSIVE"][number - 1] }
}

/// What a Binary Star server tells the application.
public struct BinaryStarEvent: ComponentEvent, Hashable {
    public typealias Kind = EventKind<BinaryStarEvent>

    public let kind: Kind
    /// The server's state after the event.
    public let state: BinaryStarState
    /// Why, for `fatal`: "dual actives" or "dual passives".
    public let reason: String?

    public init(_ kind: Kind, state: BinaryStarState, reason: String? = nil) {
        self.kind = kind
        self.state = state
        self.reason = reason
    }

    public var description: String {
        "\(kind) \(state)" + (reason.map { ": \($0)" } ?? "")
    }
}

extension EventKind where Event == BinaryStarEvent {
    /// The server entered `state`.
    public static var stateChanged: Self { Self("stateChanged") }
    /// A client's request was turned away: this server is not the active one (or may not
    /// be yet). The client's retry goes to the other server.
    public static var requestRefused: Self { Self("requestRefused") }
    /// A message on the state socket was not one of the four states, and was dropped.
    public static var badStateMessage: Self { Self("badStateMessage") }
    /// Both servers are active, or both passive: the pair cannot go on.
    public static var fatal: Self { Self("fatal") }
}

extension ZMQError.Code {
    /// Both servers of a Binary Star pair are active, or both passive.
    public static let splitBrain = ZMQError.Code("splitBrain")
}

/// The Guide's Binary Star finite-state machine (`bstar.c`) alone, shared by `BinaryStarMachine`
/// and any pattern run as a pair (`BinaryStarPairMachine`): the state, when the peer counts as
/// gone, when to publish the state next, and what a state message or a client's arrival does.
///
/// - The primary becomes active when it hears a backup, passive when it hears an active peer.
/// - The backup becomes passive when it hears an active peer, and refuses clients until then.
/// - A passive server becomes active when its peer restarts (says PRIMARY or BACKUP), or when a
///   client asks after the peer has gone silent: the client vote, which keeps a server cut off
///   from its clients from taking over.
/// - A primary that starts refuses clients for two heartbeats unless it hears its peer, so that
///   it does not take clients from a backup that took over while it was down.
/// - Two actives, or two passives, are a fault the pair cannot go on from.
struct BinaryStarPeering {
    let heartbeat: Duration
    private(set) var state: BinaryStarState
    /// When the peer counts as gone, unless heard from again.
    private(set) var peerExpiry: ContinuousClock.Instant?
    private(set) var nextStateMessage: ContinuousClock.Instant?
    private(set) var badStateMessages = 0

    init(primary: Bool, heartbeat: Duration) {
        state = primary ? .primary : .backup
        self.heartbeat = heartbeat
    }

    /// The state it starts in, reported.
    mutating func start(now: ContinuousClock.Instant) -> BinaryStarEvent {
        // The fail-back guard: a peer not heard from yet counts as alive for two heartbeats.
        peerExpiry = now + heartbeat * 2
        nextStateMessage = now + heartbeat
        return BinaryStarEvent(.stateChanged, state: state)
    }

    /// A message on the state socket: the events it causes, and the fault's reason if it is one.
    mutating func stateMessage(_ message: Message, now: ContinuousClock.Instant) -> (events: [BinaryStarEvent], fault: String?) {
        guard let peer = BinaryStarState(message: message) else {
            badStateMessages += 1
            return ([BinaryStarEvent(.badStateMessage, state: state)], nil)
        }
        peerExpiry = now + heartbeat * 2
        switch (state, peer) {
        case (.primary, .backup): return ([become(.active)], nil)
        case (.primary, .active), (.backup, .active): return ([become(.passive)], nil)
        case (.active, .active): return fault("dual actives")
        case (.passive, .primary), (.passive, .backup): return ([become(.active)], nil)  // the peer restarted
        case (.passive, .passive): return fault("dual passives")
        default: return ([], nil)
        }
    }

    /// A client's message: whether this server takes it, with the events that come of it.
    mutating func clientArrived(now: ContinuousClock.Instant) -> (accepted: Bool, events: [BinaryStarEvent]) {
        switch state {
        case .active:
            return (true, [])
        case .primary, .passive:
            // The client vote: the peer is overdue, and a client asks us.
            guard let peerExpiry, now >= peerExpiry else { return (false, [refused]) }
            return (true, [become(.active)])
        default:
            return (false, [refused])
        }
    }

    /// The state message to publish, when one is due.
    mutating func tick(now: ContinuousClock.Instant) -> Message? {
        guard let due = nextStateMessage, now >= due else { return nil }
        nextStateMessage = now + heartbeat
        return state.message
    }

    var refused: BinaryStarEvent { BinaryStarEvent(.requestRefused, state: state) }

    private mutating func become(_ new: BinaryStarState) -> BinaryStarEvent {
        state = new
        return BinaryStarEvent(.stateChanged, state: new)
    }

    private func fault(_ reason: String) -> (events: [BinaryStarEvent], fault: String?) {
        ([BinaryStarEvent(.fatal, state: state, reason: reason)], reason)
    }

    static func splitBrain(_ reason: String) -> ZMQError {
        ZMQError(code: .splitBrain, message: "Binary Star: \(reason)")
    }
}

/// One server of a Binary Star pair as a machine (`PatternMachine`), answering clients itself
/// through the application's handler: clients on a ROUTER, the pair's states exchanged over
/// PUB/SUB every heartbeat (`BinaryStarPeering` decides), the peer taken for gone two heartbeats
/// after it was last heard.
///
/// A request the active server takes goes to the application's handler without its envelope
/// (a REQ's, or a DEALER's that sends REQ's empty delimiter); the reply goes back behind it.
struct BinaryStarMachine: PatternMachine {
    typealias Event = BinaryStarEvent
    typealias Action = PatternAction<BinaryStarEvent>

    static let frontend: SocketName = "frontend"
    static let statePublisher: SocketName = "state-out"
    static let stateSubscriber: SocketName = "state-in"

    let frontendPlan: SocketPlan
    let statePublisherPlan: SocketPlan
    let stateSubscriberPlan: SocketPlan
    /// How many requests may be with the handler at once; beyond, the frontend is not read.
    let maxConcurrentRequests: Int
    private var peering: BinaryStarPeering
    /// Requests with the handler, by id: the envelope each reply goes back behind.
    private var envelopes: [UInt64: [Frame]] = [:]
    private var lastID: UInt64 = 0

    var state: BinaryStarState { peering.state }
    var peerExpiry: ContinuousClock.Instant? { peering.peerExpiry }
    var badStateMessages: Int { peering.badStateMessages }

    init(primary: Bool, frontend: SocketPlan, statePublisher: SocketPlan, stateSubscriber: SocketPlan, heartbeat: Duration,
         maxConcurrentRequests: Int = 100) {
        peering = BinaryStarPeering(primary: primary, heartbeat: heartbeat)
        self.maxConcurrentRequests = maxConcurrentRequests
        frontendPlan = frontend
        statePublisherPlan = statePublisher
        var subscriber = stateSubscriber
        subscriber.subscriptions = [""]
        stateSubscriberPlan = subscriber
    }

    var nextDeadline: ContinuousClock.Instant? { peering.nextStateMessage }

    /// The peer's state always; clients while the handler has room.
    func reads(_ socket: SocketName) -> Bool {
        socket != Self.frontend || envelopes.count < maxConcurrentRequests
    }

    mutating func start(now: ContinuousClock.Instant) -> [Action] {
        let started = peering.start(now: now)
        // The state socket first: the runner reads sockets in the order opened, and a client's
        // vote must not be counted before a state message that was already waiting (bstar.c
        // polls its state socket first too).
        return [.open(Self.stateSubscriber, stateSubscriberPlan), .open(Self.frontend, frontendPlan),
                .open(Self.statePublisher, statePublisherPlan), .report(started)]
    }

    mutating func received(_ message: Message, on socket: SocketName, now: ContinuousClock.Instant) -> [Action] {
        switch socket {
        case Self.stateSubscriber:
            let (events, fault) = peering.stateMessage(message, now: now)
            return events.map { .report($0) } + (fault.map { [.fail(BinaryStarPeering.splitBrain($0))] } ?? [])
        case Self.frontend:
            let (accepted, events) = peering.clientArrived(now: now)
            let reports = events.map { Action.report($0) }
            guard accepted else { return reports }
            let (envelope, body) = splitEnvelope(message)
            guard !envelope.isEmpty else { return reports + [.report(peering.refused)] }
            lastID += 1
            envelopes[lastID] = envelope
            return reports + [.handle(Message(body, metadata: message.metadata), id: lastID)]
        default:
            return []
        }
    }

    mutating func handled(_ reply: Message, id: UInt64, final: Bool, now: ContinuousClock.Instant) -> [Action] {
        guard final, let envelope = envelopes.removeValue(forKey: id) else { return [] }
        return [.send(Message(envelope + reply.frames), on: Self.frontend)]
    }

    /// Publishes our state every heartbeat.
    mutating func tick(now: ContinuousClock.Instant) -> [Action] {
        peering.tick(now: now).map { [.send($0, on: Self.statePublisher)] } ?? []
    }
}
