import CoreMetrics
import ZMTP

/// Why a socket discarded a message by its type's rules, where libzmq drops in silence.
public struct DropReason: Hashable, Sendable, CustomStringConvertible {
    let index: Int
    public let description: String
    private init(_ index: Int, _ name: String) {
        self.index = index
        self.description = name
    }

    /// A PUB or XPUB subscriber's queue, or a ROUTER peer's without `routerMandatory`, was full.
    public static let highWaterMark = DropReason(0, "highWaterMark")
    /// A ROUTER had no peer with the message's routing id (and `routerMandatory` was off).
    public static let unroutable = DropReason(1, "unroutable")
    /// A REQ received a reply that was not for the request it awaits: late, from another peer,
    /// malformed, or (with `reqCorrelate`) with another request's id.
    public static let strayReply = DropReason(2, "strayReply")
    /// `conflate` replaced a queued message with a newer one.
    public static let conflated = DropReason(3, "conflated")
    /// A message over `maxMessageSize` arrived; its connection was closed.
    public static let tooLarge = DropReason(4, "tooLarge")
    /// A message without the envelope its socket type needs: a request without a delimiter at
    /// a REP, a routing id with nothing after it sent on a ROUTER.
    public static let malformed = DropReason(5, "malformed")

    public static let all: [DropReason] = [.highWaterMark, .unroutable, .strayReply, .conflated, .tooLarge, .malformed]
}

/// How many messages were dropped, by reason.
public struct DropCounts: Sendable, Equatable, CustomStringConvertible {
    /// Empty until the first drop, so that a pipe that never drops allocates nothing.
    private var counts: [Int] = []

    public init() {}

    public subscript(reason: DropReason) -> Int {
        reason.index < counts.count ? counts[reason.index] : 0
    }

    /// Every message dropped, whatever the reason.
    public var total: Int { counts.reduce(0, +) }

    mutating func add(_ count: Int, _ reason: DropReason) {
        if counts.isEmpty { counts = Array(repeating: 0, count: DropReason.all.count) }
        counts[reason.index] += count
    }

    public static func == (lhs: DropCounts, rhs: DropCounts) -> Bool {
        DropReason.all.allSatisfy { lhs[$0] == rhs[$0] }
    }

    public var description: String {
        let parts = DropReason.all.filter { self[$0] > 0 }.map { "\($0): \(self[$0])" }
        return parts.isEmpty ? "none" : parts.joined(separator: ", ")
    }
}

/// What a socket type dropped from a batch it received, and why.
struct DropTally {
    var count = 0
    var reason = DropReason.strayReply

    static let none = DropTally()
}

/// One connected peer's drops, from `ZMQSocket.peerDrops`.
public struct PeerDrops: Sendable, Equatable {
    /// The endpoint the connection belongs to: as bound for an accepted peer, as given to
    /// `connect` otherwise.
    public let endpoint: String
    /// The peer's address (`tcp://ip:port`), where known.
    public let peerAddress: String?
    /// The peer's name at a ROUTER.
    public let routingID: [UInt8]?
    public let counts: DropCounts
}

/// The counters a socket exports through swift-metrics: messages and octets in and out (octets
/// as they cross the wire, framing included, for tcp and ipc; payload octets for inproc), and
/// drops by reason. Labelled `zmq_messages_received` …, with the socket type and, when set with
/// `SocketOption.metricsName`, the socket's name as dimensions. Counted per batch, not per
/// message, so that the hot paths stay as fast without a metrics backend as with one.
final class SocketMetrics: Sendable {
    let messagesReceived: Counter
    let messagesSent: Counter
    let bytesReceived: Counter
    let bytesSent: Counter
    private let drops: [Counter]

    init(type: SocketType, name: String?, factory: any MetricsFactory) {
        var dimensions = [("type", type.rawValue)]
        if let name { dimensions.append(("socket", name)) }
        messagesReceived = Counter(label: "zmq_messages_received", dimensions: dimensions, factory: factory)
        messagesSent = Counter(label: "zmq_messages_sent", dimensions: dimensions, factory: factory)
        bytesReceived = Counter(label: "zmq_bytes_received", dimensions: dimensions, factory: factory)
        bytesSent = Counter(label: "zmq_bytes_sent", dimensions: dimensions, factory: factory)
        drops = DropReason.all.map {
            Counter(label: "zmq_messages_dropped", dimensions: dimensions + [("reason", $0.description)], factory: factory)
        }
    }

    func dropped(_ count: Int, _ reason: DropReason) {
        drops[reason.index].increment(by: count)
    }
}
