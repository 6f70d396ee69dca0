import Logging
import NIOCore
import Synchronization

/// How many connections a socket has seen succeed and fail, for `ZMQSocket.connectionStatistics`.
public struct ConnectionStatistics: Sendable, Equatable {
    /// Connections that completed their handshake.
    public var handshakesSucceeded = 0
    /// Connections that closed before completing their handshake: a bad greeting, an incompatible
    /// socket type, a handshake timeout, a peer that went away mid-handshake.
    public var handshakesFailed = 0
    /// Peers refused after a good handshake because the socket type takes no further peer (PAIR).
    public var peersRefused = 0
    /// Established connections that closed (by either side, or by a heartbeat timeout).
    public var disconnections = 0

    public init() {}
}

/// At most one log line per `window`: the first event of a window is logged, the others are
/// counted and reported with the next line. Hostile peers can then make thousands of failed
/// connections a second without turning the log into megabytes.
struct LogLimiter: Sendable {
    let window: TimeAmount
    private var windowStart: NIODeadline?
    private var suppressed = 0

    init(window: TimeAmount = .seconds(10)) {
        self.window = window
    }

    /// Whether to log an event at `now`; if so, also how many went unlogged since the last line.
    mutating func admit(now: NIODeadline) -> Int? {
        if let windowStart, now < windowStart + window {
            suppressed += 1
            return nil
        }
        windowStart = now
        defer { suppressed = 0 }
        return suppressed
    }
}

/// Where a socket's engines report what happens to their connections: each report is counted,
/// sent to the socket's monitors, and failures are logged at a bounded rate.
final class ConnectionLog: Sendable {
    /// The socket option whose value made the connection fail, where one did.
    static func option(governing error: ZMTPError) -> String? {
        switch error {
        case .messageTooLarge, .tooManyFrames: "maxMessageSize"
        case .handshakeTimeout: "handshakeInterval"
        case .heartbeatTimeout: "heartbeatTimeout"
        default: nil
        }
    }

    private struct State {
        var statistics = ConnectionStatistics()
        var limiter = LogLimiter()
    }
    private let state = Mutex(State())
    let events = EventHub()
    private let logger: Logger

    init(logger: Logger) {
        self.logger = logger
    }

    var statistics: ConnectionStatistics { state.withLock { $0.statistics } }

    func record(_ event: SocketEvent) {
        let logLine: (String, Int)? = state.withLock { state in
            let failure: String?
            switch event.kind {
            case .handshakeSucceeded:
                state.statistics.handshakesSucceeded += 1
                failure = nil
            case .handshakeFailed:
                state.statistics.handshakesFailed += 1
                failure = "handshake failed with \(event.peerAddress ?? event.endpoint): \(event.failure?.description ?? "")"
            case .peerRefused:
                state.statistics.peersRefused += 1
                failure = "refused \(event.peerAddress ?? event.endpoint): the socket takes no further peer"
            case .disconnected:
                state.statistics.disconnections += 1
                failure = event.reason.map { "disconnected from \(event.peerAddress ?? event.endpoint): \($0)" }
            case .acceptFailed:
                failure = event.error?.description
            default:
                failure = nil
            }
            guard let failure, let suppressed = state.limiter.admit(now: .now()) else { return nil }
            return (failure, suppressed)
        }
        if let (line, suppressed) = logLine {
            let more = suppressed > 0 ? " (and \(suppressed) more connection failures not logged)" : ""
            // The option that would have let the connection be, for an application to name in its
            // own words (the `zmq` tool names its flag).
            if let option = event.failure?.error.flatMap(Self.option(governing:)) {
                logger.info("\(line) (socket option \(option))\(more)", metadata: [ZMQContext.logOptionKey: "\(option)"])
            } else {
                logger.info("\(line)\(more)")
            }
        }
        events.emit(event)
    }
}
