import ZMQ

/// 6/PPP's two commands: one-frame messages of a single octet.
enum PirateCommand {
    static let ready = Frame([0x01])
    static let heartbeat = Frame([0x02])
}

/// The queue of Simple and Paranoid Pirate as a value: messages and clock ticks in, messages to
/// send and events out. It routes each request to the least recently used ready worker, and
/// with heartbeats (6/PPP) sends HEARTBEAT to its workers and forgets one that is silent for
/// `liveness` intervals. Workers on REQ sockets (Simple Pirate) wrap what they send in an empty
/// delimiter, which the queue keeps for its replies to them; they cannot heartbeat, so only a
/// failed send makes the queue forget one.
struct PirateQueueMachine {
    struct Worker {
        /// A REQ worker: its messages start with an empty delimiter, and ours to it must too.
        var delimited: Bool
        /// When it is forgotten unless it says something; nil for a worker that cannot heartbeat.
        var expiry: ContinuousClock.Instant?
    }

    enum Action: Equatable {
        case toWorker(Message)
        case toClient(Message)
        case event(PatternEvent)
    }

    let heartbeat: Duration?
    let liveness: Int
    private(set) var workers: [[UInt8]: Worker] = [:]
    /// Ready workers, least recently used first.
    private(set) var ready: [[UInt8]] = []
    private var nextHeartbeat: ContinuousClock.Instant?

    init(heartbeat: Duration?, liveness: Int, now: ContinuousClock.Instant) {
        self.heartbeat = heartbeat
        self.liveness = liveness
        nextHeartbeat = heartbeat.map { now + $0 }
    }

    var hasReadyWorker: Bool { !ready.isEmpty }

    /// When `tick` next has something to do: a heartbeat to send or a worker to expire.
    var nextDeadline: ContinuousClock.Instant? {
        let expiries = workers.values.compactMap(\.expiry)
        return ([nextHeartbeat].compactMap { $0 } + expiries).min()
    }

    /// A message from a worker: READY, HEARTBEAT, or a reply (client address, then the reply).
    mutating func fromWorker(_ message: Message, now: ContinuousClock.Instant) -> [Action] {
        guard message.count >= 2 else { return [] }
        let identity = message[0].bytes
        var rest = Array(message.frames.dropFirst())
        let delimited = rest.first?.isEmpty == true
        if delimited { rest.removeFirst() }
        var actions: [Action] = []
        let known = workers[identity] != nil
        // Anything from a worker shows it is alive.
        workers[identity, default: Worker(delimited: delimited)].expiry = delimited ? nil : heartbeat.map { now + $0 * liveness }
        if rest == [PirateCommand.heartbeat] {
            // A worker we had forgotten (or a queue restarted under it) that still heartbeats is
            // idle as far as it knows: take it back, as the Guide's queue does.
            if !known { actions += markReady(identity, joined: true) }
            return actions
        }
        if rest == [PirateCommand.ready] { return markReady(identity, joined: true) }
        guard !rest.isEmpty else { return [] }
        return [.toClient(Message(rest, metadata: message.metadata)), .event(PatternEvent(.replyForwarded, worker: identity))]
            + markReady(identity, joined: !known)
    }

    /// A request from a client, for the least recently used ready worker. Only called while
    /// `hasReadyWorker`: the queue reads its clients only then, so requests wait in their queues.
    mutating func fromClient(_ message: Message) -> (worker: [UInt8], action: Action)? {
        guard !ready.isEmpty else { return nil }
        let identity = ready.removeFirst()
        let delimiter = workers[identity]?.delimited == true ? [Frame()] : []
        return (identity, .toWorker(Message([Frame(identity)] + delimiter + message.frames)))
    }

    /// Workers a request could not be sent to because their queues were full: they never got
    /// it, so they are still ready, first in line as before.
    mutating func stillReady(_ identities: [[UInt8]]) {
        let known = identities.filter { workers[$0] != nil && !ready.contains($0) }
        ready.insert(contentsOf: known, at: 0)
    }

    /// A send to `identity` failed: it is gone.
    mutating func lost(_ identity: [UInt8]) -> [Action] {
        guard workers.removeValue(forKey: identity) != nil else { return [] }
        ready.removeAll { $0 == identity }
        return [.event(PatternEvent(.workerLost, worker: identity))]
    }

    /// Expires silent workers and sends heartbeats when they are due.
    mutating func tick(now: ContinuousClock.Instant) -> [Action] {
        var actions: [Action] = []
        for (identity, worker) in workers where worker.expiry.map({ $0 <= now }) == true {
            workers[identity] = nil
            ready.removeAll { $0 == identity }
            actions.append(.event(PatternEvent(.workerExpired, worker: identity)))
        }
        if let heartbeat, let due = nextHeartbeat, due <= now {
            for (identity, worker) in workers where !worker.delimited {
                actions.append(.toWorker(Message([Frame(identity), PirateCommand.heartbeat])))
            }
            nextHeartbeat = now + heartbeat
        }
        return actions
    }

    /// Puts `identity` last in the ready list; `joined` (a READY, or a worker not known before)
    /// is reported as `workerReady`.
    private mutating func markReady(_ identity: [UInt8], joined: Bool) -> [Action] {
        ready.removeAll { $0 == identity }
        ready.append(identity)
        return joined ? [.event(PatternEvent(.workerReady, worker: identity))] : []
    }
}
