import ZMQ

/// 6/PPP's two commands: one-frame messages of a single octet.
enum PirateCommand {
    static let ready = Frame([0x01])
    static let heartbeat = Frame([0x02])
}

/// The queue of Simple and Paranoid Pirate as a machine (`PatternMachine`): clients on a ROUTER
/// frontend, workers on a ROUTER backend. It routes each request to the least recently used
/// ready worker, and with heartbeats (6/PPP) sends HEARTBEAT to its workers and forgets one that
/// is silent for `liveness` intervals. Workers on REQ sockets (Simple Pirate) wrap what they
/// send in an empty delimiter, which the queue keeps for its replies to them; they cannot
/// heartbeat, so only a failed send makes the queue forget one.
///
/// Clients are read only while a worker is ready, so waiting requests stay in their queues. A
/// worker whose queue is full never got the request it was sent, so it stays ready and the next
/// one is tried; when none can take it, the queue holds the request and offers it again when a
/// worker is heard from, or after `heldRetry`, reading no other request meanwhile.
struct PirateQueueMachine: PatternMachine {
    typealias Event = PirateQueueEvent
    typealias Action = PatternAction<PirateQueueEvent>

    static let frontend: SocketName = "frontend"
    static let backend: SocketName = "backend"
    /// How soon a request no worker could take is offered again, if no worker is heard from.
    static let heldRetry = Duration.milliseconds(50)

    struct Worker {
        /// A REQ worker: its messages start with an empty delimiter, and ours to it must too.
        var delimited: Bool
        /// When it is forgotten unless it says something; nil for a worker that cannot heartbeat.
        var expiry: ContinuousClock.Instant?
    }

    let frontendPlan: SocketPlan
    let backendPlan: SocketPlan
    let heartbeat: Duration?
    let liveness: Int
    private(set) var workers: [[UInt8]: Worker] = [:]
    /// Ready workers, least recently used first.
    private(set) var ready: [[UInt8]] = []
    private var nextHeartbeat: ContinuousClock.Instant?
    /// The request no ready worker could take, and when to offer it again.
    private(set) var held: (request: Message, retry: ContinuousClock.Instant)?
    /// Workers whose queues refused the request being dispatched: still ready, skipped for it.
    private var full: [[UInt8]] = []

    /// A queue binding `frontend` and `backend` (ROUTERs; the backend's sends to a worker that
    /// has gone fail, so that the request goes to another).
    init(frontend: SocketPlan, backend: SocketPlan, heartbeat: Duration?, liveness: Int) {
        frontendPlan = frontend
        var backend = backend
        backend.options.append(.routerMandatory(true))
        backendPlan = backend
        self.heartbeat = heartbeat
        self.liveness = liveness
    }

    var hasReadyWorker: Bool { !ready.isEmpty }

    func reads(_ socket: SocketName) -> Bool {
        socket == Self.backend || (hasReadyWorker && held == nil)
    }

    /// A heartbeat to send, a worker to expire, or a held request to offer again.
    var nextDeadline: ContinuousClock.Instant? {
        let expiries = workers.values.compactMap(\.expiry)
        return ([nextHeartbeat, held?.retry].compactMap { $0 } + expiries).min()
    }

    mutating func start(now: ContinuousClock.Instant) -> [Action] {
        nextHeartbeat = heartbeat.map { now + $0 }
        return [.open(Self.frontend, frontendPlan), .open(Self.backend, backendPlan)]
    }

    mutating func received(_ message: Message, on socket: SocketName, now: ContinuousClock.Instant) -> [Action] {
        if socket == Self.frontend { return dispatch(message, now: now) }
        var actions = fromWorker(message, now: now)
        // A worker heard from may have room again.
        if let (request, _) = held {
            held = nil
            actions += dispatch(request, now: now)
        }
        return actions
    }

    mutating func sendFailed(_ message: Message, on socket: SocketName, error: ZMQError, now: ContinuousClock.Instant) -> [Action] {
        guard socket == Self.backend, message.count >= 2 else { return [] }
        let identity = message[0].bytes
        // A heartbeat to a worker whose queue is full is not needed: it has plenty to read.
        let heartbeat = message.count == 2 && message[1] == PirateCommand.heartbeat
        if heartbeat, error.code != .unroutable { return [] }
        let delimited = workers[identity]?.delimited == true
        var actions: [Action] = []
        if error.code == .unroutable {
            actions += lost(identity)
        } else if !full.contains(identity) {
            // Its queue is full: it never got this, and is ready as before, first in line.
            full.append(identity)
            if workers[identity] != nil, !ready.contains(identity) { ready.insert(identity, at: 0) }
        }
        // A heartbeat that could not go matters no further; a request goes to the next worker.
        if heartbeat { return actions }
        let request = Message(Array(message.frames.dropFirst(delimited ? 2 : 1)), metadata: message.metadata)
        return actions + dispatch(request, now: now, retrying: true)
    }

    /// Expires silent workers, sends heartbeats when they are due, and offers a held request again.
    mutating func tick(now: ContinuousClock.Instant) -> [Action] {
        var actions: [Action] = []
        for (identity, worker) in workers where worker.expiry.map({ $0 <= now }) == true {
            workers[identity] = nil
            ready.removeAll { $0 == identity }
            actions.append(.report(PirateQueueEvent(.workerExpired, worker: identity)))
        }
        if let heartbeat, let due = nextHeartbeat, due <= now {
            for (identity, worker) in workers where !worker.delimited {
                actions.append(.send(Message([Frame(identity), PirateCommand.heartbeat]), on: Self.backend))
            }
            nextHeartbeat = now + heartbeat
        }
        if let (request, retry) = held, retry <= now {
            held = nil
            actions += dispatch(request, now: now)
        }
        return actions
    }

    /// A request for the least recently used ready worker whose queue has not refused it.
    private mutating func dispatch(_ request: Message, now: ContinuousClock.Instant, retrying: Bool = false) -> [Action] {
        if !retrying { full = [] }
        guard let index = ready.firstIndex(where: { !full.contains($0) }) else {
            let newly = held == nil
            held = (request, now + Self.heldRetry)
            return newly && !full.isEmpty ? [.report(PirateQueueEvent(.requestHeld))] : []
        }
        let identity = ready.remove(at: index)
        let delimiter = workers[identity]?.delimited == true ? [Frame()] : []
        return [.send(Message([Frame(identity)] + delimiter + request.frames, metadata: request.metadata), on: Self.backend,
                      report: PirateQueueEvent(.requestForwarded, worker: identity))]
    }

    /// A message from a worker: READY, HEARTBEAT, or a reply (client address, then the reply).
    private mutating func fromWorker(_ message: Message, now: ContinuousClock.Instant) -> [Action] {
        guard message.count >= 2 else { return [] }
        let identity = message[0].bytes
        var rest = Array(message.frames.dropFirst())
        let delimited = rest.first?.isEmpty == true
        if delimited { rest.removeFirst() }
        let known = workers[identity] != nil
        // Anything from a worker shows it is alive.
        workers[identity, default: Worker(delimited: delimited)].expiry = delimited ? nil : heartbeat.map { now + $0 * liveness }
        if rest == [PirateCommand.heartbeat] {
            // A worker we had forgotten (or a queue restarted under it) that still heartbeats is
            // idle as far as it knows: take it back, as the Guide's queue does.
            return known ? [] : markReady(identity, joined: true)
        }
        if rest == [PirateCommand.ready] { return markReady(identity, joined: true) }
        guard !rest.isEmpty else { return [] }
        // A client that has gone takes its reply with it (ROUTER drops it).
        return [.send(Message(rest, metadata: message.metadata), on: Self.frontend),
                .report(PirateQueueEvent(.replyForwarded, worker: identity))]
            + markReady(identity, joined: !known)
    }

    /// A send to `identity` failed: it is gone.
    private mutating func lost(_ identity: [UInt8]) -> [Action] {
        guard workers.removeValue(forKey: identity) != nil else { return [] }
        ready.removeAll { $0 == identity }
        return [.report(PirateQueueEvent(.workerLost, worker: identity))]
    }

    /// Puts `identity` last in the ready list; `joined` (a READY, or a worker not known before)
    /// is reported as `workerReady`.
    private mutating func markReady(_ identity: [UInt8], joined: Bool) -> [Action] {
        ready.removeAll { $0 == identity }
        ready.append(identity)
        return joined ? [.report(PirateQueueEvent(.workerReady, worker: identity))] : []
    }
}
