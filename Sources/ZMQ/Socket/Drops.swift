import CoreMetrics
import NIOCore
import Synchronization
import ZMTP

/// Why a socket discarded a message by its type's rules, where libzmq drops in silence.
public struct DropReason: Hashable, Sendable, CustomStringConvertible {
    /// One octet and nothing to reference-count: the send path carries one in every `Outbox`.
    let index: Int
    private init(_ index: Int, _ name: StaticString) { self.index = index }

    public var description: String { Self.names[index] }
    private static let names = ["highWaterMark", "unroutable", "strayReply", "conflated", "tooLarge", "malformed", "peerGone"]

    /// A PUB or XPUB subscriber's queue, a ROUTER peer's without `routerMandatory`, or the queue
    /// of the requester a REP answers, was full.
    public static var highWaterMark: DropReason { DropReason(0, "highWaterMark") }
    /// A ROUTER had no peer with the message's routing id (and `routerMandatory` was off).
    public static var unroutable: DropReason { DropReason(1, "unroutable") }
    /// A REQ received a reply that was not for the request it awaits: late, from another peer,
    /// malformed, or (with `reqCorrelate`) with another request's id.
    public static var strayReply: DropReason { DropReason(2, "strayReply") }
    /// `conflate` replaced a queued message with a newer one.
    public static var conflated: DropReason { DropReason(3, "conflated") }
    /// A message over `maxMessageSize` arrived; its connection was closed.
    public static var tooLarge: DropReason { DropReason(4, "tooLarge") }
    /// A message without the envelope its socket type needs: a request without a delimiter at
    /// a REP, a routing id with nothing after it sent on a ROUTER.
    public static var malformed: DropReason { DropReason(5, "malformed") }
    /// A peer went with messages still queued for it: its connection closed (an accepted peer,
    /// or a connect endpoint with `immediate`), its endpoint was disconnected or given up
    /// (`reconnectStop`), or a ROUTER handed its name to a newcomer (what it left unread); or a
    /// REP's reply found its requester gone.
    public static var peerGone: DropReason { DropReason(6, "peerGone") }

    public static let all: [DropReason] = [.highWaterMark, .unroutable, .strayReply, .conflated, .tooLarge, .malformed, .peerGone]
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

    static var none: DropTally { DropTally(count: 0) }
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

/// The octets a socket's connections read and wrote, and the messages its engines took to
/// send, counted by the I/O threads. An object of its own, so that these counters do not share
/// a cache line with the socket's lock.
final class OctetCounters: Sendable {
    let received = Atomic<Int>(0)
    /// Of `received`, the octets read straight into a large frame's own buffer.
    let receivedInPlace = Atomic<Int>(0)
    let sent = Atomic<Int>(0)
    let messagesSent = Atomic<Int>(0)
}

/// What a socket has carried: plain counts kept where the work is done (messages under the
/// socket lock, octets by the I/O threads), published to swift-metrics once a second.
struct Traffic: Equatable {
    var messagesReceived = 0
    var messagesSent = 0
    var octetsReceived = 0
    var octetsSent = 0
    var drops = DropCounts()
    /// Of `octetsReceived`, those read straight into a large frame's own buffer (not exported).
    var octetsReadInPlace = 0

    var sum: Int { messagesReceived + messagesSent + octetsReceived + octetsSent + drops.total }
}

/// The counters a socket exports through swift-metrics: messages and octets in and out (octets
/// as they cross the wire, framing included, for tcp and ipc; inproc carries none), and drops
/// by reason. Labelled `zmq_messages_received` …, with the socket type and, when set with
/// `SocketOption.metricsName`, the socket's name as dimensions. The hot paths only add to plain
/// counts; `publish` hands the growth since the last call to the counters, once a second and
/// when the socket closes, so sending and receiving cost the same with a metrics backend or
/// without one.
final class SocketMetrics: Sendable {
    private let messagesReceived: Counter
    private let messagesSent: Counter
    private let octetsReceived: Counter
    private let octetsSent: Counter
    private let drops: [Counter]
    private let published = Mutex(Traffic())

    /// How often the counters are brought up to date.
    static let interval = TimeAmount.seconds(1)

    /// Counts from `baseline` on: what the socket carried before is not this name's.
    init(type: SocketType, name: String?, factory: any MetricsFactory, baseline: Traffic = Traffic()) {
        published.withLock { $0 = baseline }
        var dimensions = [("type", type.rawValue)]
        if let name { dimensions.append(("socket", name)) }
        messagesReceived = Counter(label: "zmq_messages_received", dimensions: dimensions, factory: factory)
        messagesSent = Counter(label: "zmq_messages_sent", dimensions: dimensions, factory: factory)
        octetsReceived = Counter(label: "zmq_bytes_received", dimensions: dimensions, factory: factory)
        octetsSent = Counter(label: "zmq_bytes_sent", dimensions: dimensions, factory: factory)
        drops = DropReason.all.map {
            Counter(label: "zmq_messages_dropped", dimensions: dimensions + [("reason", $0.description)], factory: factory)
        }
    }

    /// Whether `factory` records anything: without a backend there is nothing to publish.
    static func records(_ factory: any MetricsFactory) -> Bool {
        !(factory is NOOPMetricsHandler)
    }

    /// Adds what `traffic` grew by since the last call. Every count only grows, so a snapshot
    /// that sums to less than the last one was taken before it (two publishes crossing) and is
    /// ignored.
    func publish(_ traffic: Traffic) {
        let last = published.withLock { last -> Traffic? in
            guard traffic.sum >= last.sum else { return nil }
            defer { last = traffic }
            return last
        }
        guard let last else { return }
        increment(messagesReceived, by: traffic.messagesReceived - last.messagesReceived)
        increment(messagesSent, by: traffic.messagesSent - last.messagesSent)
        increment(octetsReceived, by: traffic.octetsReceived - last.octetsReceived)
        increment(octetsSent, by: traffic.octetsSent - last.octetsSent)
        for reason in DropReason.all {
            increment(drops[reason.index], by: traffic.drops[reason] - last.drops[reason])
        }
    }

    private func increment(_ counter: Counter, by delta: Int) {
        if delta > 0 { counter.increment(by: delta) }
    }
}
