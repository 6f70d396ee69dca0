import ZMTP

/// The routing rules of one socket type (28/REQREP, 29/PUBSUB, 30/PIPELINE, 31/EXPAIR), built from
/// the strategies in Routing/. The socket calls these with its lock held.
protocol SocketPattern: Sendable {
    /// Queues an outgoing message through `outbox`: on one pipe (PUSH, PAIR), on every matching
    /// pipe with room (PUB), or nowhere. Returns false when the message must wait for room.
    mutating func send(_ message: Message, among pipes: [Pipe], outbox: inout Outbox) throws(ZMQError) -> Bool
    /// The pipe the next incoming message is taken from, or nil when none holds one.
    mutating func pipeForReceiving(among pipes: [Pipe]) throws(ZMQError) -> Pipe?
    /// Whether a send may succeed now (libzmq's `xhas_out`), asked by a send that had to wait and
    /// by pollers: by default, whether any pipe has room.
    func hasOut(among pipes: [Pipe], hwm: Int) -> Bool
    /// Whether a receive would find a message now (libzmq's `xhas_in`): by default, whether any
    /// pipe holds one.
    func hasIn(among pipes: [Pipe]) -> Bool
    /// Whether a pipe stops reading from its peer when its inbound queue reaches the receive
    /// high-water mark. XPUB does not: its peers' subscriptions must always be applied.
    var pausesReading: Bool { get }
    /// Whether `receive` may still hand out `message`: SUB's check against its current
    /// subscriptions, so that nothing already queued for a cancelled topic is handed out.
    func accepts(_ message: Message) -> Bool
    /// Whether a newly accepted peer may join the pipes already there.
    func admits(_ peer: PeerInfo, among pipes: [Pipe]) -> Bool
    /// Whether `receive` may take a run of messages from one pipe at a time. REQ and REP see each
    /// message as it is handed out (`handOut`), because each changes what they may do next.
    var batchesReceives: Bool { get }
    /// The message `receive` returns for `message`, taken from `pipe` (when `batchesReceives` is false).
    mutating func handOut(_ message: Message, from pipe: Pipe) -> Message
    /// Whether each message is handed out with its pipe's routing id as a new first frame
    /// (ROUTER, STREAM). It goes on as the message leaves the pipe, not as it arrives: on the
    /// receiving thread, outside the I/O thread's hold on the socket's lock.
    var prefixesRoutingID: Bool { get }
    /// A batch read from `pipe`'s peer, before it joins the pipe's inbound queue: the pattern may
    /// take subscriptions out of it or filter it. Returns what it discarded by its rules (REQ's
    /// stray replies, REP's malformed requests), for the drop counters.
    mutating func received(_ batch: inout MessageQueue, from pipe: Pipe) -> DropTally
    /// `pipe` has a connected peer now (its outbound queue is drained once this returns). Returns
    /// a pipe the new one takes the place of (ROUTER handover), whose connection the socket closes.
    mutating func attached(_ pipe: Pipe) -> Pipe?
    /// `pipe`'s peer went away.
    mutating func detached(_ pipe: Pipe)
    /// `connect` made `pipe`, before any connection: PEER names it here.
    mutating func connecting(_ pipe: Pipe)
    /// `pipe` was full and may have room again (its queue was taken for the wire).
    mutating func pipeWritable(_ pipe: Pipe)
    /// Every pipe may have room again (the high-water mark changed).
    mutating func allPipesWritable()
    /// `pipe` left the socket for good.
    mutating func removed(_ pipe: Pipe)
    /// The socket's options changed (and once at creation): patterns keep what they use.
    mutating func configure(_ options: SocketOptions)
    /// Adds (or cancels) a subscription; only SUB and XSUB subscribe.
    mutating func changeSubscription(_ subscription: Subscription, among pipes: [Pipe], outbox: inout Outbox) throws(ZMQError)
}

extension SocketPattern {
    func admits(_ peer: PeerInfo, among pipes: [Pipe]) -> Bool { true }
    func hasOut(among pipes: [Pipe], hwm: Int) -> Bool { pipes.contains { $0.hasRoom(hwm: hwm) } }
    func hasIn(among pipes: [Pipe]) -> Bool { pipes.contains { !$0.inbound.isEmpty } }
    var pausesReading: Bool { true }
    func accepts(_ message: Message) -> Bool { true }
    var batchesReceives: Bool { true }
    mutating func handOut(_ message: Message, from pipe: Pipe) -> Message { message }
    var prefixesRoutingID: Bool { false }
    mutating func received(_ batch: inout MessageQueue, from pipe: Pipe) -> DropTally { .none }
    mutating func attached(_ pipe: Pipe) -> Pipe? { nil }
    mutating func detached(_ pipe: Pipe) {}
    mutating func connecting(_ pipe: Pipe) {}
    mutating func pipeWritable(_ pipe: Pipe) {}
    mutating func allPipesWritable() {}
    mutating func removed(_ pipe: Pipe) {}
    mutating func configure(_ options: SocketOptions) {}
    mutating func changeSubscription(_ subscription: Subscription, among pipes: [Pipe], outbox: inout Outbox) throws(ZMQError) {
        throw .notSupported("only SUB and XSUB sockets subscribe")
    }
}

/// Queues messages on pipes under the socket lock and remembers what to do once the lock is
/// released: the engines to wake (only on a pipe's empty-to-non-empty edge, never per message),
/// the engines to resume reading, the waiters to wake.
///
/// One is made and dropped for every message sent, so it holds two references: the first engine
/// to wake, and a box for everything else, which most sends never make. (With the rare parts as
/// fields of their own, dropping an outbox cost about 70 instructions per send.)
struct Outbox {
    /// The send high-water mark per pipe (0 = no limit).
    var hwm: Int
    /// Conflating: a queued message replaces whatever the pipe still held.
    var conflate: Bool
    /// Messages the pattern dropped by its rules during this send, and why (one reason per send).
    var dropped = 0
    var dropReason = DropReason.highWaterMark
    private var first: (any PipeEngine)?
    private var rare: Rare?

    /// What only some sends leave to do.
    private final class Rare {
        var engines: [any PipeEngine] = []
        var discards: [Pipe] = []
        var resume: [any PipeEngine] = []
        var wakeups = SocketState.Wakeups()
    }

    init(hwm: Int = 0, conflate: Bool = false) {
        self.hwm = hwm
        self.conflate = conflate
    }

    private mutating func rareParts() -> Rare {
        if let rare { return rare }
        let made = Rare()
        rare = made
        return made
    }

    /// `message` is dropped by the socket type's rules (at `pipe`, when it names a peer).
    mutating func drop(_ reason: DropReason, at pipe: Pipe?) {
        pipe?.drops.add(1, reason)
        dropped += 1
        dropReason = reason
    }

    /// `pipe`'s unread messages are to be discarded as stray replies.
    mutating func discardInbound(of pipe: Pipe) {
        rareParts().discards.append(pipe)
    }

    /// The pipes whose unread messages are to be discarded (`discardInbound`); nil, not an
    /// empty array, when there are none (an empty one costs a release on every send).
    var discards: [Pipe]? {
        guard let rare, !rare.discards.isEmpty else { return nil }
        return rare.discards
    }

    /// Engines to resume reading and waiters to wake once the lock is released.
    mutating func afterwards(resume engines: [any PipeEngine], wake wakeups: SocketState.Wakeups) {
        guard !engines.isEmpty || !wakeups.isEmpty else { return }
        let rare = rareParts()
        rare.resume += engines
        rare.wakeups.append(contentsOf: wakeups)
    }

    @inline(__always)
    mutating func queue(_ message: Message, on pipe: Pipe) {
        queued(pipe.queue(copying: message, conflate: conflate), on: pipe)
    }

    /// The same for a message made for the queue (a ROUTER's without its routing id): moved in,
    /// not copied.
    @inline(__always)
    mutating func queue(moving message: consuming Message, on pipe: Pipe) {
        queued(pipe.queue(moving: message, conflate: conflate), on: pipe)
    }

    @inline(__always)
    private mutating func queued(_ outcome: (conflated: Int, schedule: Bool), on pipe: Pipe) {
        let (conflated, schedule) = outcome
        if conflated > 0 {
            pipe.drops.add(conflated, .conflated)
            dropped += conflated
            dropReason = .conflated
        }
        // The flag first: reading `engine` retains it, and its reference count shares a cache
        // line with state the I/O thread is writing.
        guard schedule, let engine = pipe.engine else { return }
        if first == nil { first = engine } else { rareParts().engines.append(engine) }
    }

    /// The same, to a pipe the caller holds no reference to (`LoadBalancer.select`).
    @inline(__always)
    mutating func queue(_ message: Message, on pipe: Unmanaged<Pipe>) {
        pipe._withUnsafeGuaranteedRef { queue(message, on: $0) }
    }

    /// Wakes the engines and waiters collected; call with the socket lock released.
    @inline(__always)
    func wake() {
        first?.scheduleDrain()
        if let rare { Self.wake(rare) }
    }

    private static func wake(_ rare: Rare) {
        for engine in rare.engines { engine.scheduleDrain() }
        for engine in rare.resume { engine.resumeReading() }
        rare.wakeups.resume()
    }
}

/// The rule the thread-safe draft types share (47/CLIENTSERVER and the others): one frame per
/// message, both ways.
enum SingleFrame {
    /// Refuses to send a multipart message, saying so.
    static func check(_ message: Message, for type: String) throws(ZMQError) {
        guard message.count == 1 else {
            throw .invalidMessage("a \(type) message is one frame, not \(message.count)")
        }
    }

    /// Drops the multipart messages a peer sent ("MUST discard any part of a multipart message").
    static func dropMultipart(_ batch: inout MessageQueue) -> DropTally {
        let before = batch.count
        batch.removeAll { $0.count != 1 }
        return DropTally(count: before - batch.count, reason: .malformed)
    }
}

extension SocketType {
    /// The options this type takes beyond those every type takes: its row of the option table
    /// (OptionsByType.md, pinned by a test). An option no type lists applies to every type.
    var ownOptions: Set<String> {
        switch kind {
        case .router: ["routerMandatory", "routerRaw", "routerHandover", "routerNotify", "probeRouter", "connectRoutingID", "streamNotify"]
        case .dealer: ["probeRouter", "conflate"]
        case .req: ["probeRouter", "reqRelaxed", "reqCorrelate"]
        case .stream: ["connectRoutingID", "streamNotify"]
        case .pub: ["conflate", "xpubNoDrop", "xpubWelcomeMessage", "invertMatching"]
        case .xpub: ["xpubVerbose", "xpubVerboser", "xpubManual", "xpubNoDrop", "xpubWelcomeMessage", "invertMatching"]
        case .sub: ["conflate", "invertMatching"]
        case .xsub: ["invertMatching"]
        case .push, .pull: ["conflate"]
        case .pair, .rep, .client, .server, .radio, .dish, .scatter, .gather, .peer, .channel, .dgram: []
        }
    }

    /// Every option some type claims as its own.
    static let typeSpecificOptions: Set<String> = allCases.reduce(into: []) { $0.formUnion($1.ownOptions) }

    func makePattern() throws(ZMQError) -> any SocketPattern {
        switch kind {
        case .push: return PushPattern()
        case .pull: return PullPattern()
        case .pair: return PairPattern()
        case .pub: return PubPattern()
        case .xpub: return XPubPattern()
        case .sub: return SubPattern()
        case .xsub: return XSubPattern()
        case .req: return ReqPattern()
        case .rep: return RepPattern()
        case .dealer: return DealerPattern()
        case .router: return RouterPattern()
        case .stream: return StreamPattern()
        case .client: return ClientPattern()
        case .server: return ServerPattern()
        case .radio: return RadioPattern()
        case .dish: return DishPattern()
        case .scatter: return ScatterPattern()
        case .gather: return GatherPattern()
        case .peer: return PeerPattern()
        case .channel: return ChannelPattern()
        case .dgram: return DgramPattern()
        }
    }
}
