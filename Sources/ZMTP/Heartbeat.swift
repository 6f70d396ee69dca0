import NIOCore

/// ZMTP 3.1 heartbeating for one connection (37/ZMTP "Connection Heartbeating"), as a value: the
/// caller tells it what happened and when, and it says when to PING and when the peer is dead.
public struct Heartbeat: Sendable {
    public struct Configuration: Sendable, Equatable {
        /// How often to send PING; nil sends none.
        public var interval: TimeAmount?
        /// How long to wait for any traffic after a PING before closing; defaults to `interval`.
        public var timeout: TimeAmount?
        /// The TTL announced in our PINGs: the peer closes if it hears nothing from us for this long.
        public var ttl: TimeAmount?

        public init(interval: TimeAmount? = nil, timeout: TimeAmount? = nil, ttl: TimeAmount? = nil) {
            self.interval = interval
            self.timeout = timeout
            self.ttl = ttl
        }
    }

    public enum Action: Equatable, Sendable {
        case none
        case sendPing(Command)
        case timeout
    }

    public let configuration: Configuration
    private var lastReceived: NIODeadline
    private var nextPing: NIODeadline?
    /// When the oldest PING still unanswered by any traffic was sent: one timeout clock, however
    /// many PINGs are outstanding.
    private var unansweredPingSince: NIODeadline?
    /// The TTL from the peer's last PING.
    private var peerTTL: TimeAmount?

    public init(configuration: Configuration, now: NIODeadline) {
        self.configuration = configuration
        self.lastReceived = now
        self.nextPing = configuration.interval.map { now + $0 }
    }

    /// Any incoming octets are a sign of life.
    public mutating func trafficReceived(at now: NIODeadline) {
        lastReceived = now
        unansweredPingSince = nil
    }

    /// The peer announced a TTL in a PING (in deciseconds, 0 for none).
    public mutating func peerAnnounced(ttlDeciseconds: UInt16) {
        peerTTL = ttlDeciseconds == 0 ? nil : .milliseconds(Int64(ttlDeciseconds) * 100)
    }

    private var timeout: TimeAmount? { configuration.timeout ?? configuration.interval }

    /// The next moment `tick` has something to do, if any.
    public var nextDeadline: NIODeadline? {
        let candidates: [NIODeadline?] = [
            nextPing,
            unansweredPingSince.flatMap { since in timeout.map { since + $0 } },
            peerTTL.map { lastReceived + $0 },
        ]
        return candidates.compactMap { $0 }.min()
    }

    public mutating func tick(now: NIODeadline) -> Action {
        if let peerTTL, now >= lastReceived + peerTTL { return .timeout }
        if let since = unansweredPingSince, let timeout, now >= since + timeout { return .timeout }
        if let interval = configuration.interval, let due = nextPing, now >= due {
            nextPing = now + interval
            if unansweredPingSince == nil { unansweredPingSince = now }
            return .sendPing(.ping(ttl: ttlDeciseconds, context: []))
        }
        return .none
    }

    private var ttlDeciseconds: UInt16 {
        guard let ttl = configuration.ttl else { return 0 }
        return UInt16(clamping: ttl.nanoseconds / 100_000_000)
    }
}
