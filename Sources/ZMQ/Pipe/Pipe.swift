import ZMTP

/// What carries a pipe's messages to and from a peer: a ZMTP connection or an inproc link.
/// The socket calls these with its lock released; implementations hop to their own thread.
protocol PipeEngine: AnyObject, Sendable {
    /// The pipe's outbound queue went from empty to non-empty (or the engine was just attached).
    func scheduleDrain()
    /// The pipe's inbound queue fell to its low-water mark after reading had paused.
    func resumeReading()
    /// Calls `done` once everything handed to the connection so far is written (or has failed).
    func whenFlushed(_ done: @escaping @Sendable () -> Void)
    /// Close the connection now and wait until it is closed; queued outbound messages stay in the pipe.
    func close() async
    /// The endpoint as bound (accepted connections) or as given to `connect`.
    var endpoint: String { get }
    /// The far side's address, where there is one (not for inproc).
    var peerAddress: String? { get }
    /// The most octets one message may take on this engine's transport (udp's datagrams);
    /// nil for no limit.
    var datagramLimit: Int? { get }
}

extension PipeEngine {
    var datagramLimit: Int? { nil }
}

/// The per-peer queues between user code and one connection: outbound messages waiting for the
/// wire, inbound messages waiting for `receive`. Every field is guarded by the owning socket's lock.
///
/// The queues are touched for every message; the lock already rules out overlapping access, so
/// the per-access runtime exclusivity check is turned off for them (`@exclusivity(unchecked)`).
final class Pipe: @unchecked Sendable {
    let id: Int
    /// Pipes made by `connect` live from the call on and keep their messages across reconnects;
    /// pipes for accepted peers live as long as their connection (30/PIPELINE, 28/REQREP).
    let isConnectSide: Bool
    @exclusivity(unchecked) var outbound = MessageQueue()
    @exclusivity(unchecked) var inbound = MessageQueue()
    var engine: (any PipeEngine)?
    var peer: PeerInfo?
    /// What messages from the current connection carry. Attached as they leave `inbound`, on the
    /// receiving thread, so the I/O thread never touches the shared reference count per message.
    var messageMetadata: MessageMetadata?
    /// True while a drain is scheduled or the engine is waiting for the channel to become writable,
    /// so a sender wakes the I/O thread only on the empty-to-non-empty edge.
    @exclusivity(unchecked) var drainScheduled = false
    /// True while the engine has stopped reading because `inbound` reached the high-water mark.
    @exclusivity(unchecked) var readingPaused = false
    /// Writes linger waits for: batches taken while the socket lingers, and the flush asked of
    /// the connection when closing began.
    var batchesInFlight = 0
    /// An accepted peer's pipe whose connection has gone: it lives on only until `inbound` is read.
    @exclusivity(unchecked) var isDetached = false
    /// Where the socket's load balancer keeps this pipe (-1: it does not).
    var balancerSlot = -1
    /// The socket let go of this pipe (disconnect, or an accepted peer's last message read):
    /// what its engine still delivers or reports is ignored.
    @exclusivity(unchecked) var isRemoved = false
    /// In the socket's fair queue of pipes with messages to read.
    @exclusivity(unchecked) var isReadable = false
    /// With `immediate`, a connect-side pipe takes no messages until its connection is up.
    @exclusivity(unchecked) var awaitingConnection = false
    /// The probe of `probeRouter` has been queued (once per pipe, as libzmq: not on reconnects).
    var probed = false
    /// The peer's name at a ROUTER: the Identity it announced, or one the ROUTER made up.
    var routingID: [UInt8] = []
    /// The application named this connect-side pipe's peer (ROUTER's `connectRoutingID`).
    var routingIDChosen = false
    /// What the peer subscribed to, for PUB and XPUB: the filter applied to every message sent.
    @exclusivity(unchecked) var subscriptions = Subscriptions()
    /// The most octets a message may take to this peer (udp), from its engine; nil for no limit.
    /// Such a peer cannot say what it wants, so a RADIO sends it every group.
    var datagramLimit: Int?
    /// What this peer's messages lost by the socket type's rules.
    var drops = DropCounts()
    /// The connection's endpoint (as bound or connected) and the peer's address, for `peerDrops`.
    var endpoint = ""
    var peerAddress: String?

    init(id: Int, isConnectSide: Bool) {
        self.id = id
        self.isConnectSide = isConnectSide
    }

    /// Gives `message` this pipe's connection metadata, unless it came with its own.
    @inline(__always)
    func tag(_ message: inout Message) {
        if let messageMetadata { message.tagIfUntagged(messageMetadata) }
    }

    /// Whether `send` may queue another message here under high-water mark `hwm` (0 = no limit).
    func hasRoom(hwm: Int) -> Bool {
        !isDetached && !awaitingConnection && (hwm == 0 || outbound.count < hwm)
    }
}

extension Message {
    /// Sets `metadata` unless the message already carries some.
    @inline(__always)
    mutating func tagIfUntagged(_ metadata: MessageMetadata) {
        if self.metadata == nil { self.metadata = metadata }
    }
}
