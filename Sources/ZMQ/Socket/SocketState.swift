import ZMTP

/// The socket's shared state and what happens to it under the socket's lock. Each operation
/// changes the state and returns what to do once the lock is released (engines to wake, waiters
/// to resume), so the rules are tested without threads or I/O.
struct SocketState: Sendable {
    /// A suspended task, resumed to look again or with why it must stop. A one-octet value: a
    /// resume hands it through the task's context, on every wakeup.
    typealias Waiter = UnsafeContinuation<WaitOutcome, Never>
    typealias Wakeups = WaitQueues<Waiter, PollSignal>.Wakeups

    var pattern: any SocketPattern
    /// The pattern's `batchesReceives`, read when options change: it is asked on every send and
    /// receive.
    private(set) var takesTurns: Bool
    /// The pattern's `prefixesRoutingID`, read when options change, as `takesTurns` is.
    private(set) var prefixesRoutingID: Bool
    var options = SocketOptions()
    var pipes: [Pipe] = []
    /// The pipes holding unread messages, in the order receives take them: a receive looks only
    /// at these (libzmq's fair-queue active region).
    var readable = FairQueue()
    var listeners: [any Binding] = []
    var connecters: [Connecter] = []
    var engines: [ObjectIdentifier: any PipeEngine] = [:]
    var waiters = WaitQueues<Waiter, PollSignal>()
    var nextWaiterID: UInt64 = 0
    var nextPipeID = 0
    var closed = false
    /// True between `close()` and the end of linger: connections may still form and drain.
    var lingering = false
    var lingerWaiter: CheckedContinuation<Void, Never>?
    /// The work `close()` leaves to the background: lingering, then closing every connection.
    var closingTask: Task<Void, Never>?
    /// The part of closing that closes the listeners.
    var unbindingTask: Task<Void, Never>?
    /// Every message the socket type dropped, by reason, including those of peers now gone.
    var drops = DropCounts()
    /// Messages handed over by the engines and taken by them for the wire, for the metrics.
    var messagesReceived = 0

    init(pattern: any SocketPattern) {
        self.pattern = pattern
        self.takesTurns = !pattern.batchesReceives
        self.prefixesRoutingID = pattern.prefixesRoutingID
    }

    /// Applies `option` for the socket and its type; a raised high-water mark wakes the senders
    /// waiting for room.
    mutating func apply(_ option: SocketOption) throws(ZMQError) -> Wakeups {
        let wasRaw = options.routerRaw
        let wasHWM = options.effectiveSendHighWaterMark
        try options.apply(option)
        var wakeups = Wakeups()
        if options.effectiveSendHighWaterMark != wasHWM {
            pattern.allPipesWritable()
            wakeups = waiters.roomMade()
        }
        if options.routerRaw != wasRaw {
            // A raw ROUTER is a STREAM socket; its peers cannot change kind midway.
            guard pipes.isEmpty, listeners.isEmpty, connecters.isEmpty else {
                options.routerRaw = wasRaw
                throw .invalidOption(name: "routerRaw", reason: "must be set before bind or connect")
            }
            pattern = options.routerRaw ? StreamPattern() : RouterPattern()
        }
        pattern.configure(options)
        takesTurns = !pattern.batchesReceives
        prefixesRoutingID = pattern.prefixesRoutingID
        return wakeups
    }

    var connectedPeers: Int { pipes.reduce(0) { $0 + ($1.engine == nil ? 0 : 1) } }

    mutating func makePipe(connectSide: Bool) -> Pipe {
        nextPipeID += 1
        let pipe = Pipe(id: nextPipeID, isConnectSide: connectSide)
        pipe.awaitingConnection = connectSide && options.immediate
        return pipe
    }

    mutating func remove(_ pipe: Pipe) {
        pipe.isRemoved = true
        pipes.removeAll { $0 === pipe }
        readable.remove(pipe)
        pattern.removed(pipe)
    }

    mutating func makeWaiterID() -> UInt64 {
        nextWaiterID += 1
        return nextWaiterID
    }

    // MARK: Readiness

    /// Whether a task waiting for `kind` may go on now (`received` holds messages already taken
    /// from the pipes for the next receives).
    func isReady(_ kind: WaitKind, received: Int) -> Bool {
        switch kind {
        case .send: return pattern.hasOut(among: pipes, hwm: options.effectiveSendHighWaterMark)
        case .receive: return received > 0 || pattern.hasIn(among: readable.pipes)
        case .peers(let count): return connectedPeers >= count
        }
    }

    /// Which of `events` the socket is ready for.
    func readiness(_ events: PollEvents, received: Int) -> PollEvents {
        var ready: PollEvents = []
        if events.contains(.readable), isReady(.receive, received: received) { ready.insert(.readable) }
        if events.contains(.writable), isReady(.send, received: received) { ready.insert(.writable) }
        return ready
    }

    // MARK: Sending and receiving

    // These run for every message: what to do after the lock goes into the caller's `outbox`
    // or `after` in place, never into a returned struct, whose copies would each update the
    // reference counts of the engines and arrays it holds.

    /// Queues `message` where the socket type routes it; false when it must wait for room.
    @inline(__always)
    mutating func enqueue(_ message: Message, outbox: inout Outbox) throws(ZMQError) -> Bool {
        guard !closed else { throw .socketClosed }
        outbox.hwm = options.effectiveSendHighWaterMark
        outbox.conflate = options.conflate
        let queued = try pattern.send(message, among: pipes, outbox: &outbox)
        if outbox.dropped > 0 { countDrops(outbox.dropped, outbox.dropReason) }
        let discards = outbox.discards
        if let discards {
            for pipe in discards {
                countDrops(pipe.inbound.count, .strayReply, at: pipe)
                pipe.dropInbound()
                readable.remove(pipe)
            }
        }
        if discards != nil || (queued && takesTurns) {
            outbox.afterwards(resume: discards == nil ? [] : inboundShrank(),
                              wake: queued && takesTurns ? waiters.turnTaken() : Wakeups())
        }
        return queued
    }

    /// Counts `count` messages dropped for `reason`, on the socket and, when given, on the peer's
    /// pipe (patterns that drop while sending count the pipe themselves, through the outbox).
    mutating func countDrops(_ count: Int, _ reason: DropReason, at pipe: Pipe? = nil) {
        guard count > 0 else { return }
        pipe?.drops.add(count, reason)
        drops.add(count, reason)
    }

    /// The drops of the peers connected now.
    var peerDrops: [PeerDrops] {
        pipes.filter { $0.engine != nil }.map { pipe in
            PeerDrops(endpoint: pipe.endpoint, peerAddress: pipe.peerAddress,
                      routingID: pipe.routingID.isEmpty ? nil : pipe.routingID, counts: pipe.drops)
        }
    }

    /// What `receive` does once the lock is released.
    struct AfterReceive {
        var resume: (any PipeEngine)?
        var wakeups = Wakeups()
    }

    /// Takes the next message from the pipe the socket type picks. When the type allows and the
    /// pipe holds more, that pipe is returned too, for `moveBatch`.
    @inline(__always)
    mutating func dequeue(after: inout AfterReceive) throws(ZMQError) -> (Message, more: Pipe?)? {
        guard !closed else { throw .socketClosed }
        guard let pipe = try pattern.pipeForReceiving(among: readable.pipes) else { return nil }
        var message = pipe.inbound.removeFirst()
        if prefixesRoutingID {
            var one = 1
            if let id = pipe.routingIDForHandOut(count: &one) { message.prepend(id) }
        }
        pipe.tag(&message)
        if takesTurns {
            message = pattern.handOut(message, from: pipe)
            after.wakeups = waiters.turnTaken()
        } else if !pipe.inbound.isEmpty {
            return (message, pipe)
        }
        readable.turnTaken(by: pipe)
        after.resume = inboundShrank(pipe)
        return (message, nil)
    }

    /// Moves up to `limit` more of `pipe`'s messages to `received` for the next receives, so that
    /// those take only `received`'s lock, not the socket's.
    @inline(__always)
    mutating func moveBatch(from pipe: Pipe, limit: Int, into received: inout ReceivedBatch, after: inout AfterReceive) {
        // Moved, never copied: a copy would touch the payload's reference count, which the
        // sending thread shares.
        // The pipe's metadata is read once: its fields share cache lines the I/O thread writes.
        // A pipe that pulls from its peer keeps its last message back: the next batch is
        // taken when that one is read, not now, when the peer has sent next to nothing.
        var count = min(pipe.inbound.count - (pipe.readingPaused && pulls(pipe) ? 1 : 0), limit)
        if prefixesRoutingID {
            // One envelope for the whole batch: it holds one pipe's messages at a time (another
            // receiver may have refilled it meanwhile; these then wait for the next turn), and
            // either all carry their id already or none does.
            if received.messages.isEmpty {
                received.envelope = pipe.routingIDForHandOut(count: &count)
            } else {
                count = 0
            }
        }
        if let metadata = pipe.messageMetadata {
            received.messages.appendMoving(first: count, of: &pipe.inbound, tagging: metadata)
        } else {
            received.messages.appendMoving(first: count, of: &pipe.inbound)
        }
        readable.turnTaken(by: pipe)
        // Another receiver may be waiting: there is more for it now.
        after.wakeups = waiters.messagesArrived(1)
        after.resume = inboundShrank(pipe)
    }

    /// A subscription changes; a cancel also drops what is queued for the cancelled topic.
    mutating func changeSubscription(_ subscription: Subscription, received: inout ReceivedBatch, outbox: inout Outbox) throws(ZMQError) {
        guard !closed else { throw .socketClosed }
        try pattern.changeSubscription(subscription, among: pipes, outbox: &outbox)
        // What narrows the messages wanted (a cancel; with invert matching, a subscribe).
        guard subscription.isSubscribe == options.invertMatching else { return }
        let pattern = self.pattern
        for pipe in pipes { pipe.inbound.removeAll { !pattern.accepts($0) } }
        readable.sweep()
        received.messages.removeAll { !pattern.accepts($0) }
        outbox.afterwards(resume: inboundShrank(), wake: Wakeups())
    }

    // MARK: Connections

    /// A connection completed its handshake: its pipe (the connect-side one, or a new one for an
    /// accepted peer), or nil when the socket type refuses another peer.
    /// Also returns the engine of a peer the new one replaces (ROUTER handover), to be closed.
    /// `resume`: reading paused before this engine was attached (an inproc peer delivers from
    /// the moment it is linked), and the pipe has been read down since: resume the engine.
    mutating func attach(_ engine: any PipeEngine, peer: PeerInfo, metadata: MessageMetadata?, connectPipe: Pipe?)
        -> (pipe: Pipe?, wakeups: Wakeups, replaced: (any PipeEngine)?, messagesWait: Bool, resume: Bool) {
        guard !closed || lingering else { return (nil, Wakeups(), nil, false, false) }
        let pipe: Pipe
        if let connectPipe {
            guard pipes.contains(where: { $0 === connectPipe }) else { return (nil, Wakeups(), nil, false, false) }
            pipe = connectPipe
        } else {
            guard pattern.admits(peer, among: pipes) else { return (nil, Wakeups(), nil, false, false) }
            pipe = makePipe(connectSide: false)
            pipes.append(pipe)
        }
        pipe.engine = engine
        pipe.peer = peer
        pipe.endpoint = engine.endpoint
        pipe.peerAddress = engine.peerAddress
        pipe.datagramLimit = engine.datagramLimit
        pipe.pullsFromPeer = engine.peerPulls
        pipe.roomBeyondHighWaterMark = engine.peerReceiveHighWaterMark.map { $0 == 0 ? Pipe.unlimitedRoom : $0 } ?? 0
        // What the last connection left unread keeps that connection's metadata, and its
        // routing id: the new connection may rename the pipe (`attached`).
        for index in pipe.inbound.indices { pipe.tag(&pipe.inbound[index]) }
        if prefixesRoutingID { pipe.stampUnreadWithRoutingID() }
        pipe.messageMetadata = metadata
        pipe.awaitingConnection = false
        let replaced = pattern.attached(pipe)
        var replacedEngine: (any PipeEngine)?
        if let replaced {
            // Taken over: what the old connection left unread is dropped, as libzmq does.
            countDrops(replaced.inbound.count, .peerGone, at: replaced)
            replaced.dropInbound()
            readable.remove(replaced)
            // An accepted peer's pipe goes with its connection; a connect-side one stays for the
            // reconnect, which must find it usable.
            if !replaced.isConnectSide { replaced.isDetached = true }
            replacedEngine = replaced.engine
        }
        // A raw connection would take the empty probe for "close".
        if options.probeRouter, !options.routerRaw, !pipe.probed {
            pipe.probed = true
            pipe.withOutbound { $0.prepend(Message(Frame())) }
        }
        // Whatever the last engine was told, this one has been told nothing: the caller tells it
        // when messages wait, and the next send does otherwise.
        let messagesWait = pipe.engineAttached()
        // A peer accepted while lingering: its takes are counted, as every other pipe's are.
        if lingering { pipe.reportTakes() }
        // What the last connection left, or a notice the pattern queued.
        readable.activate(pipe)
        let resume = pipe.readingPaused && pipe.inbound.count <= lowWaterMark(of: pipe)
        if resume { pipe.readingPaused = false }
        // A new peer may be the room a waiting sender needs, or the peer someone waits for (and
        // with routerNotify it brings a message).
        return (pipe, waiters.peerAttached(withMessages: !pipe.inbound.isEmpty), replacedEngine, messagesWait, resume)
    }

    /// A connection went away. Its queued outbound messages stay with a connect-side pipe; an
    /// accepted peer's pipe is dropped once what it already received has been read.
    mutating func detach(_ engine: any PipeEngine, from pipe: Pipe) -> Wakeups {
        guard pipe.engine === engine else { return Wakeups() }
        // Let go of the engine even for a pipe the socket dropped: engine, connecter and pipe
        // would otherwise hold one another for ever.
        pipe.engine = nil
        pipe.readingPaused = false
        guard !pipe.isRemoved else { return Wakeups() }
        pattern.detached(pipe)
        readable.activate(pipe)
        if pipe.isConnectSide, options.immediate {
            // Queued only for that connection: it goes with it, as libzmq's does, and the next
            // connection is a new peer (probed again).
            countDrops(pipe.dropOutbound(), .peerGone, at: pipe)
            pipe.awaitingConnection = true
            pipe.probed = false
        }
        if !pipe.isConnectSide {
            countDrops(pipe.dropOutbound(), .peerGone, at: pipe)
            pipe.isDetached = true
            if pipe.inbound.isEmpty { remove(pipe) }
        }
        // XPUB may have queued cancels for the peer's subscriptions; a send waiting for this
        // peer (ROUTER with routerMandatory) must learn it is gone.
        return waiters.peerDetached(leftMessages: !pipe.inbound.isEmpty)
    }

    /// Messages read from `pipe`'s connection join its inbound queue; `pause` says that the
    /// engine should stop reading (the receive high-water mark is reached, or for a pipe that
    /// pulls from its peer, anything is unread).
    @inline(__always)
    mutating func deliver(_ batch: inout MessageQueue, from pipe: Pipe) -> (pause: Bool, wakeups: Wakeups) {
        // A pipe the socket let go of (disconnect) until its connection closes.
        if pipe.isRemoved {
            batch.removeAll()
            return (false, Wakeups())
        }
        let arrived = batch.count
        let discarded = pattern.received(&batch, from: pipe)
        if discarded.count > 0 { countDrops(discarded.count, discarded.reason, at: pipe) }
        messagesReceived &+= arrived
        if options.conflate, let newest = batch.popLast() {
            countDrops(pipe.inbound.count + batch.count, .conflated, at: pipe)
            pipe.dropInbound()
            batch.removeAll()
            batch.append(newest)
        }
        let delivered = batch.count
        // Moved, not copied: a copy would retain every payload here and release it again
        // below, on a reference count the receiving thread is releasing at the same time.
        if pipe.inbound.isEmpty {
            swap(&pipe.inbound, &batch)
        } else {
            pipe.inbound.appendMoving(first: batch.count, of: &batch)
        }
        readable.activate(pipe)
        let hwm = options.receiveHighWaterMark
        let pause = pattern.pausesReading && (pulls(pipe) ? !pipe.inbound.isEmpty : hwm > 0 && pipe.inbound.count >= hwm)
        if pause { pipe.readingPaused = true }
        return (pause, delivered > 0 ? waiters.messagesArrived(delivered) : Wakeups())
    }

    /// An engine's take that the socket must hear of (`Pipe.take` said so): moves up to `limit`
    /// queued outbound messages of `pipe` into `batch`. Nil when there is nothing to send;
    /// otherwise whether the engine must report the batch written: only while lingering.
    mutating func takeOutbound(from pipe: Pipe, into batch: inout MessageQueue, limit: Int) -> (reportWhenWritten: Bool, wakeups: Wakeups)? {
        let (take, wasFull) = pipe.take(into: &batch, limit: limit, throughSocket: true)
        guard case .taken = take else { return nil }
        if lingering { pipe.batchesInFlight += 1 }
        return (lingering, wasFull ? roomMade(in: pipe) : Wakeups())
    }

    /// An engine took from `pipe`, which a sender had found full.
    mutating func roomMade(in pipe: Pipe) -> Wakeups {
        pattern.pipeWritable(pipe)
        return waiters.roomMade()
    }

    /// Whether `pipe`'s receiving thread takes its peer's batches itself (`Pipe.pullsFromPeer`).
    /// Not with conflate: only the newest message counts, so every delivery takes all there is.
    @inline(__always)
    func pulls(_ pipe: Pipe) -> Bool {
        pipe.pullsFromPeer && !options.conflate
    }

    /// How far a paused pipe is read down before its engine resumes: half the receive mark, or for
    /// a pipe that pulls from its peer, all of it.
    func lowWaterMark(of pipe: Pipe) -> Int {
        pulls(pipe) ? 0 : options.receiveHighWaterMark / 2
    }

    /// After messages left inbound queues other than through `receive`: resumes reading where
    /// that made room, and forgets accepted pipes whose connection has gone and that are empty.
    mutating func inboundShrank() -> [any PipeEngine] {
        pipes.compactMap { inboundShrank($0) }
    }

    /// The same for one pipe: the engine to resume, if reading paused and there is room again.
    mutating func inboundShrank(_ pipe: Pipe) -> (any PipeEngine)? {
        var resume: (any PipeEngine)?
        // With no engine yet (an inproc peer delivers before this side's attach), reading stays
        // paused: `attach` resumes it.
        if pipe.readingPaused, pipe.inbound.count <= lowWaterMark(of: pipe), let engine = pipe.engine {
            pipe.readingPaused = false
            resume = engine
        }
        if pipe.isDetached, pipe.inbound.isEmpty { remove(pipe) }
        return resume
    }

    // MARK: Closing

    struct Closing {
        var wakeups: Wakeups
        var listeners: [any Binding]
        var linger: Linger
        /// Connections whose earlier writes linger must wait for.
        var flushes: [(any PipeEngine, Pipe)]
        /// Every connection, told the socket is closing (`PipeEngine.socketClosing`).
        var engines: [any PipeEngine]
    }

    mutating func beginClosing() -> Closing {
        closed = true
        lingering = options.linger != .zero
        var flushes: [(any PipeEngine, Pipe)] = []
        if lingering {
            for pipe in pipes {
                pipe.reportTakes()
                guard let engine = pipe.engine else { continue }
                pipe.batchesInFlight += 1
                flushes.append((engine, pipe))
            }
        }
        defer { listeners.removeAll() }
        return Closing(wakeups: waiters.closeAll(), listeners: listeners, linger: options.linger, flushes: flushes,
                       engines: Array(engines.values))
    }

    /// Nothing left to write: every pipe's queue is empty and every engine has flushed.
    var isSettled: Bool {
        pipes.allSatisfy { $0.outboundQueued == 0 && $0.batchesInFlight == 0 }
    }

    mutating func takeLingerWaiterIfSettled() -> CheckedContinuation<Void, Never>? {
        guard lingerWaiter != nil, isSettled else { return nil }
        return lingerWaiter.take()
    }
}

extension WaitQueues.Wakeups where Waiter == SocketState.Waiter, Watcher == PollSignal {
    /// Resumes the takers (to look again) and tells the watchers; call with the lock released.
    func resume() {
        first?.resume(returning: .lookAgain)
        if let others { for waiter in others { waiter.resume(returning: .lookAgain) } }
        if let watchers { for watcher in watchers { watcher.fire() } }
    }

    /// Fails the takers with `error` (the socket closed) and tells the watchers.
    func fail(with outcome: WaitOutcome) {
        first?.resume(returning: outcome)
        if let others { for waiter in others { waiter.resume(returning: outcome) } }
        if let watchers { for watcher in watchers { watcher.fire() } }
    }
}
