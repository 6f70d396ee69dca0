/// A worker's view of its broker or queue, as a value: when to heartbeat, and when the other
/// side has been silent long enough (`liveness` intervals) to close and dial again, after a wait
/// that doubles from `reconnectInterval` up to `reconnectIntervalMax` and starts over once the
/// other side is heard from.
struct PeerLiveness {
    enum Due: Equatable {
        case nothing
        case heartbeat
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

    /// A new connection: the other side gets a full liveness to answer.
    mutating func connected(now: ContinuousClock.Instant) {
        lastHeard = now
        nextHeartbeat = now + heartbeat
    }

    /// Anything from the other side shows it is there.
    mutating func heard(now: ContinuousClock.Instant) {
        lastHeard = now
        nextReconnectDelay = reconnectInterval
    }

    mutating func tick(now: ContinuousClock.Instant) -> Due {
        if now >= lastHeard + heartbeat * liveness {
            let delay = nextReconnectDelay
            nextReconnectDelay = min(nextReconnectDelay * 2, reconnectIntervalMax)
            // Counted from the new connection, not from this silence.
            lastHeard = now + delay
            nextHeartbeat = now + delay + heartbeat
            return .reconnect(after: delay)
        }
        guard now >= nextHeartbeat else { return .nothing }
        nextHeartbeat = now + heartbeat
        return .heartbeat
    }
}
