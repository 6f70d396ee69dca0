import Synchronization
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
    /// The receiving thread takes what the peer sends itself (inproc): the engine delivers only
    /// while the pipe holds nothing unread (`Pipe.pullsFromPeer`).
    var peerPulls: Bool { get }
    /// The peer's receive high-water mark, where the peer's queue is this pipe's outbound queue
    /// (inproc; `Pipe.roomBeyondHighWaterMark`); nil for a connection.
    var peerReceiveHighWaterMark: Int? { get }
    /// The socket is closing: anything sent that only waits for the peer to take it is handed
    /// over now (inproc, where a send is delivered once queued, as libzmq's are).
    func socketClosing()
}

extension PipeEngine {
    var datagramLimit: Int? { nil }
    var peerPulls: Bool { false }
    var peerReceiveHighWaterMark: Int? { nil }
    func socketClosing() {}
}

/// The per-peer queues between user code and one connection: outbound messages waiting for the
/// wire, inbound messages waiting for `receive`. Every field is guarded by the owning socket's
/// lock, except the outbound queue, which the sending socket and the engine share without one
/// (`OutboundQueue`): the engine's take never waits for the socket's lock, which a sending
/// thread holds most of the time. The engine takes the socket's lock only when the socket must
/// hear of a take (a sender found the queue full, or the socket lingers).
///
/// The queues are touched for every message; the lock already rules out overlapping access, so
/// the per-access runtime exclusivity check is turned off for them (`@exclusivity(unchecked)`).
final class Pipe: @unchecked Sendable {
    let id: Int
    /// Pipes made by `connect` live from the call on and keep their messages across reconnects;
    /// pipes for accepted peers live as long as their connection (30/PIPELINE, 28/REQREP).
    let isConnectSide: Bool
    private let outbound = OutboundQueue()
    @exclusivity(unchecked) var inbound = MessageQueue()
    var engine: (any PipeEngine)?
    var peer: PeerInfo?
    /// What messages from the current connection carry. Attached as they leave `inbound`, on the
    /// receiving thread, so the I/O thread never touches the shared reference count per message.
    var messageMetadata: MessageMetadata?
    /// A sender found the outbound queue at its high-water mark: the next take tells the socket
    /// of the room. Set by the sender, cleared by the engine.
    private let sawFull = Atomic<Bool>(false)
    /// The socket lingers: each take is counted (`batchesInFlight`), under the socket's lock.
    /// Guarded by `outbound.consumerLock`.
    @exclusivity(unchecked) private var reportsTakes = false
    /// True while the engine has stopped reading because `inbound` reached the high-water mark.
    @exclusivity(unchecked) var readingPaused = false
    /// An inproc pipe: its engine delivers only while nothing is unread, and the receiving thread
    /// resumes it, taking the peer's next batch itself, once it has read the last message. Each
    /// batch is then what the peer sent while the last one was read, not a trickle: every take
    /// costs the sending thread cache misses on the queue it shares with the taker.
    @exclusivity(unchecked) var pullsFromPeer = false
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
    /// ROUTER, STREAM: how many messages at the head of `inbound` already carry their routing
    /// id: what a connection left unread when the pipe reconnected, named under the old id
    /// before the new connection could rename the pipe. The rest get it as they are handed out.
    private var inboundWithRoutingID = 0
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

    /// ROUTER, STREAM: the id to put on the next `count` messages leaving `inbound`, or nil when
    /// they carry theirs already; `count` shrinks so that the messages taken are all one or the
    /// other.
    @inline(__always)
    func routingIDForHandOut(count: inout Int) -> Frame? {
        guard inboundWithRoutingID > 0 else { return Frame(routingID) }
        count = min(count, inboundWithRoutingID)
        inboundWithRoutingID -= count
        return nil
    }

    /// ROUTER, STREAM: before a new connection may rename the pipe, what the last one left
    /// unread is given the id it came under.
    func stampUnreadWithRoutingID() {
        guard inboundWithRoutingID < inbound.count else { return }
        let id = Frame(routingID)
        for index in inbound.indices.dropFirst(inboundWithRoutingID) { inbound[index].prepend(id) }
        inboundWithRoutingID = inbound.count
    }

    /// Empties `inbound`.
    func dropInbound() {
        inbound.removeAll()
        inboundWithRoutingID = 0
    }

    /// Whether `send` may queue another message here under high-water mark `hwm` (0 = no limit).
    /// Called with the socket's lock held. The count may be larger than the queue is by then,
    /// never smaller; "full" is noted for the engine and checked again after the note, so that
    /// either this check sees the engine's take or the engine sees the note and tells the socket.
    ///
    /// A caller that drops the message when there is no room, and never waits for room, passes
    /// `waits: false`: nothing is noted, so the engine's takes do not go on to tell the socket.
    @inline(__always)
    func hasRoom(hwm: Int, waits: Bool = true) -> Bool {
        guard !isDetached, !awaitingConnection else { return false }
        let limit = hwm &+ roomBeyondHighWaterMark
        guard hwm > 0, outbound.count >= limit else { return true }
        guard waits else { return false }
        sawFull.store(true, ordering: .sequentiallyConsistent)
        return outbound.countAfterFlag < limit
    }

    /// What an inproc pipe's outbound queue holds beyond the send high-water mark: the peer's
    /// receive high-water mark (its own inbound queue takes one batch at a time), so that the
    /// pair holds their sum, as libzmq's inproc pipes do. Unlimited when the peer's is.
    var roomBeyondHighWaterMark = 0

    static let unlimitedRoom = 1 << 40

    /// Queues a copy of `message` for the engine (after dropping what is queued, with `conflate`). Returns
    /// how many were dropped so, and whether the engine must be told (it was idle).
    @inline(__always)
    func queue(copying message: borrowing Message, conflate: Bool) -> (conflated: Int, schedule: Bool) {
        guard conflate else { return (0, outbound.append(copying: message)) }
        let (dropped, wake) = outbound.replaceAll(with: message)
        return (dropped, wake)
    }

    /// The same for a message made for this queue, moved in rather than copied.
    @inline(__always)
    func queue(moving message: consuming Message, conflate: Bool) -> (conflated: Int, schedule: Bool) {
        guard conflate else { return (0, outbound.append(moving: message)) }
        let (dropped, wake) = outbound.replaceAll(with: message)
        return (dropped, wake)
    }

    /// Changes the outbound queue other than by `queue` or a take (rare paths: subscriptions put
    /// ahead of it, the queue of a peer that left dropped). With the socket's lock held.
    func withOutbound<T>(_ body: (inout MessageQueue) throws -> T) rethrows -> T {
        try outbound.exclusively(body)
    }

    /// How many messages wait in the outbound queue.
    var outboundQueued: Int { outbound.count }

    /// Empties the outbound queue (its peer has gone); returns how many messages it held.
    func dropOutbound() -> Int {
        outbound.removeAll()
    }

    /// A new engine: it has been told nothing yet. Returns whether messages wait for it (the
    /// caller tells it); otherwise the next message does.
    func engineAttached() -> Bool {
        outbound.resetWake()
    }

    /// From now on every take goes through the socket's lock, which counts it (lingering).
    func reportTakes() {
        outbound.consumerLock.withLock { _ in reportsTakes = true }
    }

    enum Take {
        /// Nothing queued: the engine is told when there is.
        case nothing
        /// Messages moved into the batch.
        case taken
        /// Nothing moved: the socket must hear of this take; take under its lock
        /// (`SocketState.takeOutbound`).
        case throughSocket
    }

    /// The engine's take: moves up to `limit` queued messages into `batch`, without the socket's
    /// lock unless `throughSocket` (the caller holds it). `wasFull`: a sender had found the queue
    /// full, and the socket is to hear of the room (`SocketState.roomMade`).
    @inline(__always)
    func take(into batch: inout MessageQueue, limit: Int, throughSocket: Bool = false) -> (take: Take, wasFull: Bool) {
        outbound.consumerLock.withLock { _ in
            if !throughSocket, reportsTakes { return (.throughSocket, false) }
            let count = outbound.take(into: &batch, limit: limit)
            guard count > 0 else { return (.nothing, false) }
            // Read after the take's count went down, both sequentially consistent, as the
            // sender's note and its second look at the count.
            let wasFull = sawFull.load(ordering: .sequentiallyConsistent) && sawFull.exchange(false, ordering: .sequentiallyConsistent)
            return (.taken, wasFull)
        }
    }
}

extension Message {
    /// Sets `metadata` unless the message already carries some.
    @inline(__always)
    mutating func tagIfUntagged(_ metadata: MessageMetadata) {
        if self.metadata == nil { self.metadata = metadata }
    }
}
