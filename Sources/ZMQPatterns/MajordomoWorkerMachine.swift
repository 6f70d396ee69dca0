import DequeModule
import ZMQ

/// A Majordomo worker (7/MDP 0.1, 18/MDP 0.2 or majortomo's dialect) as a machine
/// (`PatternMachine`): a DEALER to the broker that says READY for its service, hands each
/// REQUEST to the application's handler and sends its answer back (PARTIALs first where the
/// dialect has them), heartbeats the broker (while a request is being handled too), and on
/// DISCONNECT, or after `liveness` silent intervals, closes its socket and dials again: after
/// `reconnectInterval` on DISCONNECT, and after a wait that doubles up to
/// `reconnectIntervalMax` while the broker stays silent. Given several brokers (a Binary Star
/// pair), it dials the next one in turn each time, and at once after a DISCONNECT (which the
/// passive broker of a pair sends) unless that starts the round of brokers again.
/// Stopping says DISCONNECT, so that the broker stops routing to it at once rather than after
/// its liveness.
struct MajordomoWorkerMachine: PatternMachine {
    typealias Event = WorkerEvent
    typealias Action = PatternAction<WorkerEvent>

    static let broker: SocketName = "broker"
    /// How long a stopping worker's DISCONNECT may take to leave.
    static let farewellLinger = Duration.seconds(1)

    /// The brokers, one socket to one of them at a time.
    let endpoints: [String]
    let options: [SocketOption]
    /// The broker dialled now (or next).
    private(set) var current = 0
    let service: String
    let version: MajordomoVersion
    let reconnectInterval: Duration
    private var peer: PeerLiveness
    private var redialAt: ContinuousClock.Instant?
    /// Which connection this is: an answer is sent only on the connection its request came on
    /// (after a redial the broker has given that request to another worker).
    private var connection = 0
    /// The request being handled: its id, its client and its connection.
    private(set) var handling: (id: UInt64, client: Frame, connection: Int)?
    /// Requests that came while another was being handled.
    private var waiting = Deque<(client: Frame, body: Message, connection: Int)>()
    private var lastID: UInt64 = 0

    init(endpoints: [String], service: String, version: MajordomoVersion, options: [SocketOption], heartbeat: Duration,
         liveness: Int, reconnectInterval: Duration, reconnectIntervalMax: Duration, now: ContinuousClock.Instant) {
        precondition(!endpoints.isEmpty, "a worker needs a broker")
        self.endpoints = endpoints
        self.options = options
        self.service = service
        self.version = version
        self.reconnectInterval = reconnectInterval
        peer = PeerLiveness(heartbeat: heartbeat, liveness: liveness, reconnectInterval: reconnectInterval,
                            reconnectIntervalMax: reconnectIntervalMax, now: now)
    }

    var nextDeadline: ContinuousClock.Instant? { redialAt ?? peer.nextDeadline }

    func reads(_ socket: SocketName) -> Bool { redialAt == nil }

    mutating func start(now: ContinuousClock.Instant) -> [Action] { connect(now: now) }

    mutating func received(_ message: Message, on socket: SocketName, now: ContinuousClock.Instant) -> [Action] {
        switch MajordomoCommand.parse(message.frames[...]) {
        case (_, .request(let client, let body))?:
            peer.heard(now: now)
            waiting.append((client, Message(body, metadata: message.metadata), connection))
            return handleNext()
        case (_, .disconnect)?:
            // Sent away (by the passive broker of a pair, or one that forgot us): the next broker
            // at once, as the Guide's mdwrkapi does, but a pause before starting the round again,
            // so that two brokers that both send it away cannot keep it dialling without rest.
            // The silence backoff is not reset: a broker that sends us away is not serving us.
            let wraps = (current + 1) % endpoints.count == 0
            return redial(after: wraps ? reconnectInterval : .zero, now: now)
        default:
            peer.heard(now: now)
            return []  // heartbeats, and anything else, only show the broker is there
        }
    }

    mutating func handled(_ reply: Message, id: UInt64, final: Bool, now: ContinuousClock.Instant) -> [Action] {
        guard let current = handling, current.id == id else { return [] }
        var actions: [Action] = []
        if current.connection == connection, redialAt == nil, final || version.streamsPartials {
            let command = MajordomoCommand.reply(client: current.client, body: reply.frames, final: final)
            actions.append(.send(command.message(version), on: Self.broker))
        }
        guard final else { return actions }
        handling = nil
        return actions + handleNext()
    }

    mutating func tick(now: ContinuousClock.Instant) -> [Action] {
        if let redialAt, now >= redialAt { return connect(now: now) }
        switch peer.tick(now: now) {
        case .nothing: return []
        case .heartbeat: return [.send(MajordomoCommand.heartbeat.message(version), on: Self.broker)]
        case .reconnect(let delay): return redial(after: delay, now: now)
        }
    }

    mutating func stop(now: ContinuousClock.Instant) -> [Action] {
        guard redialAt == nil else { return [] }
        return [.send(MajordomoCommand.disconnect.message(version), on: Self.broker),
                .close(Self.broker, linger: Self.farewellLinger)]
    }

    private mutating func handleNext() -> [Action] {
        guard handling == nil else { return [] }
        // Requests from a connection since replaced belong to another worker now.
        while let (client, body, from) = waiting.popFirst() {
            guard from == connection else { continue }
            lastID += 1
            handling = (lastID, client, from)
            return [.handle(body, id: lastID)]
        }
        return []
    }

    private mutating func redial(after delay: Duration, now: ContinuousClock.Instant) -> [Action] {
        redialAt = now + delay
        // The broker that fell silent or sent us away may be the passive one of a pair.
        current = (current + 1) % endpoints.count
        return [.close(Self.broker), .report(WorkerEvent(.reconnecting, service: service, endpoint: endpoints[current], delay: delay))]
    }

    private mutating func connect(now: ContinuousClock.Instant) -> [Action] {
        redialAt = nil
        connection += 1
        peer.connected(now: now)
        let plan = SocketPlan(.dealer, connect: [endpoints[current]], options: options)
        return [.open(Self.broker, plan), .send(MajordomoCommand.ready(service: service).message(version), on: Self.broker)]
    }
}
