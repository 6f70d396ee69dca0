import ZMQ

/// The Paranoid Pirate worker (6/PPP) as a value: it says READY on each new connection,
/// heartbeats its queue, takes any message as a sign of life, and when the queue has been silent
/// for `liveness` intervals asks to dial again after a wait that doubles from `reconnectInterval`
/// up to `reconnectIntervalMax`, as the Guide's worker does (1 s to 32 s).
struct PirateWorkerMachine {
    enum Action: Equatable {
        case send(Message)
        /// A request to answer: the reply goes back behind `envelope`.
        case handle(envelope: [Frame], body: Message)
        /// Close the socket, wait `after`, then open a new one and call `connected`.
        case reconnect(after: Duration)
    }

    let heartbeat: Duration
    let liveness: Int
    let reconnectInterval: Duration
    let reconnectIntervalMax: Duration
    private var lastHeard: ContinuousClock.Instant
    private var nextHeartbeat: ContinuousClock.Instant
    private var nextReconnectDelay: Duration

    init(heartbeat: Duration, liveness: Int, reconnectInterval: Duration, reconnectIntervalMax: Duration, now: ContinuousClock.Instant) {
        self.heartbeat = heartbeat
        self.liveness = liveness
        self.reconnectInterval = reconnectInterval
        self.reconnectIntervalMax = reconnectIntervalMax
        lastHeard = now
        nextHeartbeat = now + heartbeat
        nextReconnectDelay = reconnectInterval
    }

    /// When `tick` next has something to do.
    var nextDeadline: ContinuousClock.Instant { min(nextHeartbeat, lastHeard + heartbeat * liveness) }

    /// A new connection: announce ourselves, and give the queue a full liveness to answer.
    mutating func connected(now: ContinuousClock.Instant) -> [Action] {
        lastHeard = now
        nextHeartbeat = now + heartbeat
        return [.send(Message(PirateCommand.ready))]
    }

    mutating func received(_ message: Message, now: ContinuousClock.Instant) -> [Action] {
        lastHeard = now
        nextReconnectDelay = reconnectInterval
        if message.count == 1, message[0] == PirateCommand.heartbeat || message[0] == PirateCommand.ready { return [] }
        let (envelope, body) = splitEnvelope(message)
        guard !body.isEmpty else { return [] }
        return [.handle(envelope: envelope, body: Message(body, metadata: message.metadata))]
    }

    mutating func tick(now: ContinuousClock.Instant) -> [Action] {
        if now >= lastHeard + heartbeat * liveness {
            let delay = nextReconnectDelay
            nextReconnectDelay = min(nextReconnectDelay * 2, reconnectIntervalMax)
            // Counted from the new connection, not from this silence.
            lastHeard = now + delay
            nextHeartbeat = now + delay + heartbeat
            return [.reconnect(after: delay)]
        }
        guard now >= nextHeartbeat else { return [] }
        nextHeartbeat = now + heartbeat
        return [.send(Message(PirateCommand.heartbeat))]
    }
}
