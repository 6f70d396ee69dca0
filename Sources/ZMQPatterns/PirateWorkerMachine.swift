import DequeModule
import ZMQ

/// The worker of Simple and Paranoid Pirate as a machine (`PatternMachine`). With heartbeats
/// (6/PPP) it is a DEALER that says READY on each new connection, heartbeats its queue (while a
/// request is being handled too), takes any message as a sign of life, and when the queue has
/// been silent for `liveness` intervals closes its socket and dials again after a wait that
/// doubles from `reconnectInterval` up to `reconnectIntervalMax`, as the Guide's worker does.
/// Without heartbeats (Simple Pirate) it is a REQ that says READY and then answers requests in
/// turn. Each request goes to the application's handler without its return address, and the
/// reply goes back behind it.
struct PirateWorkerMachine: PatternMachine {
    typealias Event = WorkerEvent
    typealias Action = PatternAction<WorkerEvent>

    static let queue: SocketName = "queue"

    let plan: SocketPlan
    private var peer: PeerLiveness?
    /// While the socket is closed after the queue went silent: when to dial again.
    private var redialAt: ContinuousClock.Instant?
    /// The request being handled: its id and return address.
    private(set) var handling: (id: UInt64, envelope: [Frame])?
    /// Requests that came while another was being handled (a queue takes any message from a
    /// worker, heartbeats too, as a sign that it is ready): they wait their turn.
    private var waiting = Deque<(envelope: [Frame], body: Message)>()
    private var lastID: UInt64 = 0

    /// A worker for the queue at `endpoint`; nil `heartbeat` makes it a Simple Pirate worker.
    init(endpoint: String, options: [SocketOption], heartbeat: Duration?, liveness: Int,
         reconnectInterval: Duration, reconnectIntervalMax: Duration, now: ContinuousClock.Instant) {
        plan = SocketPlan(heartbeat == nil ? .req : .dealer, connect: [endpoint], options: options)
        peer = heartbeat.map {
            PeerLiveness(heartbeat: $0, liveness: liveness, reconnectInterval: reconnectInterval,
                         reconnectIntervalMax: reconnectIntervalMax, now: now)
        }
    }

    var nextDeadline: ContinuousClock.Instant? { redialAt ?? peer?.nextDeadline }

    func reads(_ socket: SocketName) -> Bool { redialAt == nil }

    mutating func start(now: ContinuousClock.Instant) -> [Action] { connect(now: now) }

    mutating func received(_ message: Message, on socket: SocketName, now: ContinuousClock.Instant) -> [Action] {
        peer?.heard(now: now)
        if message.count == 1, message[0] == PirateCommand.heartbeat || message[0] == PirateCommand.ready { return [] }
        let (envelope, body) = splitEnvelope(message)
        guard !body.isEmpty else { return [] }
        waiting.append((envelope, Message(body, metadata: message.metadata)))
        return handleNext()
    }

    private mutating func handleNext() -> [Action] {
        guard handling == nil, let (envelope, body) = waiting.popFirst() else { return [] }
        lastID += 1
        handling = (lastID, envelope)
        return [.handle(body, id: lastID)]
    }

    mutating func handled(_ reply: Message, id: UInt64, final: Bool, now: ContinuousClock.Instant) -> [Action] {
        guard final, let (current, envelope) = handling, current == id else { return [] }
        handling = nil
        // A reply for a connection that has since been replaced still goes: the queue routes by
        // the client's address, and a client that gave up discards it.
        let sent: [Action] = redialAt == nil ? [.send(Message(envelope + reply.frames), on: Self.queue)] : []
        return sent + handleNext()
    }

    mutating func tick(now: ContinuousClock.Instant) -> [Action] {
        if let redialAt, now >= redialAt { return connect(now: now) }
        switch peer?.tick(now: now) {
        case .heartbeat?:
            return [.send(Message(PirateCommand.heartbeat), on: Self.queue)]
        case .reconnect(let delay)?:
            redialAt = now + delay
            return [.close(Self.queue), .report(WorkerEvent(.reconnecting, endpoint: plan.connect.first, delay: delay))]
        case .nothing?, nil:
            return []
        }
    }

    private mutating func connect(now: ContinuousClock.Instant) -> [Action] {
        redialAt = nil
        peer?.connected(now: now)
        return [.open(Self.queue, plan), .send(Message(PirateCommand.ready), on: Self.queue)]
    }
}
