import DequeModule
import Logging
import NIOCore
import Synchronization
import ZMTP

/// A ZeroMQ socket. Safe to use from many tasks at once: every operation takes the socket's lock
/// for a few instructions, and the I/O threads hand messages over in batches.
///
///     let push = try context.socket(.push)
///     try await push.connect("tcp://127.0.0.1:5555")
///     try await push.send(["job", "42"])
public final class ZMQSocket: Sendable {
    public let type: SocketType
    let context: ZMQContext
    let eventLoop: any EventLoop
    var logger: Logger { context.logger }
    let state: Mutex<SocketState>
    /// Counts, monitors and logs what happens to connections.
    let connectionLog: ConnectionLog
    var events: EventHub { connectionLog.events }

    init(type: SocketType, context: ZMQContext) throws(ZMQError) {
        self.type = type
        self.context = context
        self.eventLoop = context.eventLoopGroup.next()
        self.connectionLog = ConnectionLog(logger: context.logger)
        self.state = Mutex(SocketState(pattern: try type.makePattern()))
    }

    /// Runs tasks on this socket's I/O thread, for the lowest latency; see `IOExecutor`.
    public var ioExecutor: IOExecutor { IOExecutor(eventLoop: eventLoop) }

    /// A snapshot of the current option values.
    public var options: SocketOptions { state.withLock { $0.options } }

    /// Sets one option; an invalid value throws `ZMQError.invalidOption` and changes nothing.
    /// Options that shape connections (heartbeats, limits) apply to connections made afterwards.
    public func set(_ option: SocketOption) throws(ZMQError) {
        try state.withLock { (state: inout SocketState) throws(ZMQError) in
            try state.options.apply(option)
            state.pattern.configure(state.options)
        }
    }

    /// A stream of connection events: handshakes, disconnects, retries. It ends when the socket closes.
    public func monitor() -> AsyncStream<SocketEvent> {
        events.stream()
    }

    /// How many connections have completed their handshake, failed it, been refused or closed.
    public var connectionStatistics: ConnectionStatistics { connectionLog.statistics }

    // MARK: Bind and connect

    /// Accepts connections at `endpoint` and returns the endpoint actually bound, with an
    /// ephemeral port (`tcp://host:*`) filled in.
    @discardableResult
    public func bind(_ endpoint: String) async throws -> String {
        let parsed = try Endpoint(endpoint)
        try checkOpen()
        let listener = try await Listener.bind(parsed, socket: self)
        let accepted = state.withLock { state -> Bool in
            guard !state.closed else { return false }
            state.listeners.append(listener)
            return true
        }
        guard accepted else {
            await listener.close()
            throw ZMQError.socketClosed
        }
        events.emit(.listening(endpoint: listener.boundEndpoint))
        return listener.boundEndpoint
    }

    /// Connects to `endpoint` in the background and keeps the connection up: a peer that is not
    /// there yet, or goes away, is retried with backoff. Messages sent meanwhile wait in this
    /// connection's queue.
    public func connect(_ endpoint: String) async throws {
        let parsed = try Endpoint(endpoint)
        let connecter = try state.withLock { (state: inout SocketState) throws(ZMQError) -> Connecter in
            guard !state.closed else { throw .socketClosed }
            let pipe = state.makePipe(connectSide: true)
            state.pipes.append(pipe)
            let connecter = Connecter(endpoint: parsed, socket: self, pipe: pipe, options: state.options)
            state.connecters.append(connecter)
            return connecter
        }
        if case .inproc = parsed {
            context.inproc.connect(connecter)
        } else {
            connecter.start()
        }
    }

    func checkOpen() throws(ZMQError) {
        if state.withLock({ $0.closed }) { throw .socketClosed }
    }

    // MARK: Sending

    /// Sends a message, waiting while no peer has room (or until the send timeout).
    nonisolated(nonsending) public func send(_ message: Message) async throws {
        if try enqueue(message) { return }
        // No room: only now is the timeout worth reading.
        let deadline = options.sendTimeout.map { NIODeadline.now() + TimeAmount($0) }
        repeat {
            try await suspend(.send, until: deadline)
        } while try !enqueue(message)
    }

    nonisolated(nonsending) public func send(_ frame: Frame) async throws {
        try await send(Message(frame))
    }

    nonisolated(nonsending) public func send(_ string: String) async throws {
        try await send(Message(Frame(string)))
    }

    /// Sends without waiting: throws `ZMQError.wouldBlock` when no peer has room.
    public func trySend(_ message: Message) throws {
        guard try enqueue(message) else { throw ZMQError.wouldBlock }
    }

    /// Queues `message` where the socket type routes it; false when it must wait for room.
    private func enqueue(_ message: Message) throws(ZMQError) -> Bool {
        guard !message.isEmpty else { throw .invalidMessage("a message has at least one frame") }
        let (queued, outbox, resume) = try state.withLock { (state: inout SocketState) throws(ZMQError) -> (Bool, Outbox, [any PipeEngine]) in
            guard !state.closed else { throw .socketClosed }
            var outbox = Outbox(hwm: state.options.sendHighWaterMark)
            let queued = try state.pattern.send(message, among: state.pipes, outbox: &outbox)
            return (queued, outbox, outbox.removedInbound ? state.inboundShrank() : [])
        }
        outbox.wake()
        resume.forEach { $0.resumeReading() }
        return queued
    }

    // MARK: Subscribing

    /// Subscribes a SUB or XSUB socket to the messages whose first frame starts with `prefix`;
    /// the empty prefix subscribes to everything. Subscriptions are counted: subscribing twice
    /// needs two `unsubscribe` calls. Other socket types throw `notSupported`.
    public func subscribe(_ prefix: [UInt8]) throws(ZMQError) {
        try changeSubscription(Subscription(subscribe: true, topic: prefix))
    }

    public func subscribe(_ prefix: String = "") throws(ZMQError) {
        try subscribe(Array(prefix.utf8))
    }

    /// Cancels one `subscribe(prefix)`; cancelling a prefix never subscribed does nothing.
    public func unsubscribe(_ prefix: [UInt8]) throws(ZMQError) {
        try changeSubscription(Subscription(subscribe: false, topic: prefix))
    }

    public func unsubscribe(_ prefix: String) throws(ZMQError) {
        try unsubscribe(Array(prefix.utf8))
    }

    private func changeSubscription(_ subscription: Subscription) throws(ZMQError) {
        let (outbox, resume) = try state.withLock { (state: inout SocketState) throws(ZMQError) -> (Outbox, [any PipeEngine]) in
            guard !state.closed else { throw .socketClosed }
            var outbox = Outbox(hwm: 0)
            try state.pattern.changeSubscription(subscription, among: state.pipes, outbox: &outbox)
            guard !subscription.isSubscribe else { return (outbox, []) }
            // Nothing already queued for a cancelled topic is handed out afterwards.
            let pattern = state.pattern
            for pipe in state.pipes { pipe.inbound.removeAll { !pattern.accepts($0) } }
            received.withLock { $0.removeAll { !pattern.accepts($0) } }
            return (outbox, state.inboundShrank())
        }
        outbox.wake()
        resume.forEach { $0.resumeReading() }
    }

    // MARK: Receiving

    /// Receives the next message, waiting until one arrives (or until the receive timeout).
    nonisolated(nonsending) public func receive() async throws -> Message {
        if let message = try dequeue() { return message }
        let deadline = options.receiveTimeout.map { NIODeadline.now() + TimeAmount($0) }
        while true {
            try await suspend(.receive, until: deadline)
            if let message = try dequeue() { return message }
        }
    }

    /// Receives without waiting: throws `ZMQError.wouldBlock` when no message is queued.
    public func tryReceive() throws -> Message {
        guard let message = try dequeue() else { throw ZMQError.wouldBlock }
        return message
    }

    /// Messages as they arrive; the sequence ends when the socket is closed.
    public var messages: Messages { Messages(socket: self) }

    /// Messages already taken from a pipe, oldest first, for the next receives. Filled a batch at
    /// a time under the socket lock and emptied under this lock alone, so receiving a message
    /// does not contend with the I/O threads for the socket lock. Lock order: `state`, then this.
    private let received = Mutex(Deque<Message>())

    /// At most this many messages move from one pipe to `received` at a time: fair-queueing
    /// between peers works in batches of this size.
    static let receiveBatch = 256

    private func dequeue() throws(ZMQError) -> Message? {
        if let message = received.withLock({ $0.popFirst() }) { return message }
        let (message, engine, waiter) = try state.withLock { (state: inout SocketState) throws(ZMQError) -> (Message?, (any PipeEngine)?, SocketState.Waiter?) in
            guard !state.closed else { throw .socketClosed }
            guard let pipe = try state.pattern.pipeForReceiving(among: state.pipes) else { return (nil, nil, nil) }
            var message = pipe.inbound.removeFirst()
            pipe.tag(&message)
            var waiter: SocketState.Waiter?
            if !state.pattern.batchesReceives {
                message = state.pattern.handOut(message, from: pipe)
            } else if !pipe.inbound.isEmpty {
                let more = min(pipe.inbound.count, Self.receiveBatch - 1)
                received.withLock { received in
                    for _ in 0..<more {
                        var next = pipe.inbound.removeFirst()
                        pipe.tag(&next)
                        received.append(next)
                    }
                }
                // Another receiver may be waiting: there is more for it now.
                waiter = state.receiveWaiters.popFirst()
            }
            return (message, state.inboundShrank(pipe), waiter)
        }
        waiter?.continuation.resume()
        engine?.resumeReading()
        return message
    }

    // MARK: Waiting

    /// Waits until at least `count` peers have completed their handshake with this socket.
    /// Useful before a burst that should be spread over several peers from the start.
    public func waitForPeers(_ count: Int) async throws {
        while !state.withLock({ $0.connectedPeers >= count }) {
            try await suspend(.peers(count), until: nil)
        }
    }

    /// The number of peers connected right now (handshake complete).
    public var connectedPeerCount: Int { state.withLock { $0.connectedPeers } }

    enum WaitKind: Equatable { case send, receive, peers(Int) }

    /// Suspends until the socket may be able to `kind` again; callers retry after it returns.
    nonisolated(nonsending) private func suspend(_ kind: WaitKind, until deadline: NIODeadline?) async throws {
        let id = state.withLock { state -> UInt64 in
            state.nextWaiterID += 1
            return state.nextWaiterID
        }
        try await withTaskCancellationHandler {
            // Unsafe, not checked: the checked kind allocates per wait. Each waiter is resumed
            // exactly once, by whoever removes it from the socket state under the lock.
            try await withUnsafeThrowingContinuation { (continuation: UnsafeContinuation<Void, any Error>) in
                let immediate = state.withLock { state -> Result<Void, any Error>? in
                    if state.closed { return .failure(ZMQError.socketClosed) }
                    if Task.isCancelled { return .failure(CancellationError()) }
                    if state.isReady(kind) || (kind == .receive && !received.withLock({ $0.isEmpty })) {
                        return .success(())
                    }
                    state.addWaiter(SocketState.Waiter(id: id, continuation: continuation), kind)
                    return nil
                }
                if let immediate {
                    continuation.resume(with: immediate)
                } else if let deadline {
                    eventLoop.scheduleTask(deadline: deadline) { [self] in
                        self.cancelWaiter(id, kind, with: ZMQError.timedOut)
                    }
                }
            }
        } onCancel: {
            self.cancelWaiter(id, kind, with: CancellationError())
        }
    }

    private func cancelWaiter(_ id: UInt64, _ kind: WaitKind, with error: any Error) {
        let waiter = state.withLock { $0.removeWaiter(id, kind) }
        waiter?.continuation.resume(throwing: error)
    }

    // MARK: Called by engines

    /// Returns once the socket is closing or closed (used by the proxy to notice either side go).
    func untilClosed() async {
        let events = events.stream()
        if state.withLock({ $0.closed }) { return }
        for await _ in events {}
    }

    /// Whether a `receive` is suspended waiting for a message.
    var hasWaitingReceiver: Bool { state.withLock { !$0.receiveWaiters.isEmpty } }

    /// Registers a new connection so closing the socket closes it; false if the socket is closed.
    func register(_ engine: any PipeEngine) -> Bool {
        state.withLock { state in
            guard !state.closed || state.lingering else { return false }
            state.engines[ObjectIdentifier(engine)] = engine
            return true
        }
    }

    func unregister(_ engine: any PipeEngine) {
        let settled = state.withLock { state -> CheckedContinuation<Void, Never>? in
            state.engines[ObjectIdentifier(engine)] = nil
            return state.takeLingerWaiterIfSettled()
        }
        settled?.resume()
    }

    /// A connection completed its handshake. Returns its pipe (the connect-side pipe, or a new one
    /// for an accepted peer), or nil when the socket type refuses another peer.
    func attach(_ engine: any PipeEngine, peer: PeerInfo, metadata: MessageMetadata? = nil, connectPipe: Pipe?) -> Pipe? {
        let (pipe, waiters) = state.withLock { state -> (Pipe?, SocketState.Wakeups) in
            guard !state.closed || state.lingering else { return (nil, .init()) }
            let pipe: Pipe
            if let connectPipe {
                guard state.pipes.contains(where: { $0 === connectPipe }) else { return (nil, .init()) }
                pipe = connectPipe
            } else {
                guard state.pattern.admits(peer, among: state.pipes) else { return (nil, .init()) }
                pipe = state.makePipe(connectSide: false)
                state.pipes.append(pipe)
            }
            pipe.engine = engine
            pipe.peer = peer
            // What the last connection left unread keeps that connection's metadata.
            for index in pipe.inbound.indices { pipe.tag(&pipe.inbound[index]) }
            pipe.messageMetadata = metadata
            state.pattern.attached(pipe)
            pipe.drainScheduled = !pipe.outbound.isEmpty
            // A new peer may be the room a waiting sender needs, or the peer someone waits for.
            var waiters = SocketState.Wakeups()
            waiters.take(&state.sendWaiters)
            waiters.take(&state.peerWaiters)
            return (pipe, waiters)
        }
        waiters.resume()
        if let pipe, pipe.drainScheduled { engine.scheduleDrain() }
        return pipe
    }

    /// A connection went away. Its queued outbound messages stay with a connect-side pipe; an
    /// accepted peer's pipe is dropped once what it already received has been read.
    func detach(_ engine: any PipeEngine, from pipe: Pipe) {
        let waiters = state.withLock { state -> SocketState.Wakeups in
            var waiters = SocketState.Wakeups()
            guard pipe.engine === engine else { return waiters }
            pipe.engine = nil
            pipe.drainScheduled = false
            pipe.readingPaused = false
            state.pattern.detached(pipe)
            if !pipe.isConnectSide {
                pipe.outbound.removeAll()
                pipe.isDetached = true
                if pipe.inbound.isEmpty { state.remove(pipe) }
            }
            // XPUB may have queued cancels for the peer's subscriptions.
            if !pipe.inbound.isEmpty { waiters.take(&state.receiveWaiters) }
            // A send waiting for this peer (ROUTER with routerMandatory) must learn it is gone.
            waiters.take(&state.sendWaiters)
            return waiters
        }
        waiters.resume()
    }

    /// Hands messages read from `pipe`'s connection to the socket, in one lock. Returns true when
    /// the pipe reached the receive high-water mark and the engine should pause reading.
    func deliver(_ batch: inout Deque<Message>, from pipe: Pipe) -> Bool {
        let (pause, waiters) = state.withLock { state -> (Bool, SocketState.Wakeups) in
            state.pattern.received(&batch, from: pipe)
            let delivered = batch.count
            // Moved, not copied: a copy would retain every payload here and release it again
            // below, on a reference count the receiving thread is releasing at the same time.
            if pipe.inbound.isEmpty {
                swap(&pipe.inbound, &batch)
            } else {
                while let message = batch.popFirst() { pipe.inbound.append(message) }
            }
            let hwm = state.options.receiveHighWaterMark
            let pause = hwm > 0 && pipe.inbound.count >= hwm && state.pattern.pausesReading
            if pause { pipe.readingPaused = true }
            var woken = SocketState.Wakeups()
            for _ in 0..<min(delivered, state.receiveWaiters.count) {
                woken.append(state.receiveWaiters.removeFirst())
            }
            return (pause, woken)
        }
        batch.removeAll(keepingCapacity: true)
        waiters.resume()
        return pause
    }

    /// At most this many messages go into one batch for the wire. With the default high-water
    /// mark a batch is the whole queue; without one (0), a queue of millions would otherwise be
    /// encoded into a single buffer of hundreds of megabytes.
    static let sendBatch = 1024

    /// Moves the queued outbound messages of `pipe` into `batch`, up to `sendBatch` of them (the
    /// common case is an O(1) swap of the whole queue). Returns nil, and clears the drain flag,
    /// when there is nothing to send; otherwise whether the engine must report the batch written
    /// (`batchWritten`): only while the socket lingers, so the steady path needs no promise.
    func takeOutbound(from pipe: Pipe, into batch: inout Deque<Message>) -> TakenBatch? {
        let (taken, waiters) = state.withLock { state -> (TakenBatch?, SocketState.Wakeups) in
            var waiters = SocketState.Wakeups()
            guard !pipe.outbound.isEmpty else {
                pipe.drainScheduled = false
                return (nil, waiters)
            }
            let wasFull = !pipe.hasRoom(hwm: state.options.sendHighWaterMark)
            if pipe.outbound.count <= Self.sendBatch {
                swap(&pipe.outbound, &batch)
            } else {
                // Moved one by one: a copy would touch every payload's reference count.
                for _ in 0..<Self.sendBatch { batch.append(pipe.outbound.removeFirst()) }
            }
            if state.lingering { pipe.batchesInFlight += 1 }
            if wasFull { waiters.take(&state.sendWaiters) }
            return (TakenBatch(reportWhenWritten: state.lingering), waiters)
        }
        waiters.resume()
        return taken
    }

    struct TakenBatch {
        /// Call `batchWritten(from:)` once the batch is on the wire (or its connection failed).
        let reportWhenWritten: Bool
    }

    /// A batch taken while lingering, or a connection's flush when closing began, has reached the
    /// wire (or its connection failed): this may end the linger wait.
    func batchWritten(from pipe: Pipe) {
        let settled = state.withLock { state in
            pipe.batchesInFlight -= 1
            return state.takeLingerWaiterIfSettled()
        }
        settled?.resume()
    }

    // MARK: Closing

    /// Closes the socket. Messages still queued are delivered first, for as long as the linger
    /// option allows (or until the calling task is cancelled); then every connection and
    /// listener is closed and its descriptor released.
    public func close() async {
        let closing = state.withLock { state -> (SocketState.Closing)? in
            guard !state.closed else { return nil }
            return state.beginClosing()
        }
        guard let closing else { return }
        received.withLock { $0.removeAll() }
        closing.waiters.forEach { $0.continuation.resume(throwing: ZMQError.socketClosed) }
        // Batches written before closing began carry no completion: linger waits for each
        // connection to flush them, then for every batch taken from now on.
        for (engine, pipe) in closing.flushes {
            engine.whenFlushed { [self] in self.batchWritten(from: pipe) }
        }
        for listener in closing.listeners { await listener.close() }

        if closing.linger != .zero {
            await waitForLinger(closing.linger)
        }

        let (connecters, engines) = state.withLock { state in
            state.lingering = false
            defer { state.connecters.removeAll(); state.pipes.removeAll() }
            return (state.connecters, Array(state.engines.values))
        }
        for connecter in connecters { await connecter.stop() }
        for engine in engines { await engine.close() }
        context.inproc.unbind(socket: self)
        context.forget(self)
        events.finish()
    }

    /// Waits until everything queued is written, or the linger time passes, or the closing task
    /// is cancelled (a cancelled close stops lingering and drops what is left).
    private func waitForLinger(_ linger: Linger) async {
        let endLinger: @Sendable () -> Void = { [self] in
            let waiter = self.state.withLock { state in state.lingerWaiter.take() }
            waiter?.resume()
        }
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let settledNow = state.withLock { state -> Bool in
                    if state.isSettled || Task.isCancelled { return true }
                    state.lingerWaiter = continuation
                    return false
                }
                if settledNow {
                    continuation.resume()
                } else if case .after(let duration) = linger {
                    eventLoop.scheduleTask(in: TimeAmount(duration), endLinger)
                }
            }
        } onCancel: {
            endLinger()
        }
    }
}

/// The socket's shared state; every access holds the socket's lock.
struct SocketState: Sendable {
    struct Waiter: Sendable {
        let id: UInt64
        let continuation: UnsafeContinuation<Void, any Error>
    }

    /// Waiters taken under the lock, to resume once it is released. The usual one needs no array.
    struct Wakeups {
        private var first: Waiter?
        private var others: [Waiter] = []

        mutating func append(_ waiter: Waiter) {
            if first == nil { first = waiter } else { others.append(waiter) }
        }

        /// Takes every waiter of `waiters`.
        mutating func take(_ waiters: inout Deque<Waiter>) {
            while let waiter = waiters.popFirst() { append(waiter) }
        }

        func resume() {
            first?.continuation.resume()
            for waiter in others { waiter.continuation.resume() }
        }
    }

    struct Closing {
        var waiters: [Waiter]
        var listeners: [Listener]
        var linger: Linger
        /// Connections whose earlier writes linger must wait for.
        var flushes: [(any PipeEngine, Pipe)]
    }

    var pattern: any SocketPattern
    var options = SocketOptions()
    var pipes: [Pipe] = []
    var listeners: [Listener] = []
    var connecters: [Connecter] = []
    var engines: [ObjectIdentifier: any PipeEngine] = [:]
    var receiveWaiters = Deque<Waiter>()
    var sendWaiters = Deque<Waiter>()
    var peerWaiters = Deque<Waiter>()
    var nextWaiterID: UInt64 = 0
    var nextPipeID = 0
    var closed = false
    /// True between `close()` and the end of linger: connections may still form and drain.
    var lingering = false
    var lingerWaiter: CheckedContinuation<Void, Never>?

    init(pattern: any SocketPattern) {
        self.pattern = pattern
    }

    mutating func addWaiter(_ waiter: Waiter, _ kind: ZMQSocket.WaitKind) {
        switch kind {
        case .send: sendWaiters.append(waiter)
        case .receive: receiveWaiters.append(waiter)
        case .peers: peerWaiters.append(waiter)
        }
    }

    mutating func removeWaiter(_ id: UInt64, _ kind: ZMQSocket.WaitKind) -> Waiter? {
        func take(_ waiters: inout Deque<Waiter>) -> Waiter? {
            guard let index = waiters.firstIndex(where: { $0.id == id }) else { return nil }
            return waiters.remove(at: index)
        }
        switch kind {
        case .send: return take(&sendWaiters)
        case .receive: return take(&receiveWaiters)
        case .peers: return take(&peerWaiters)
        }
    }

    var connectedPeers: Int { pipes.reduce(0) { $0 + ($1.engine == nil ? 0 : 1) } }

    func isReady(_ kind: ZMQSocket.WaitKind) -> Bool {
        switch kind {
        case .send: return pattern.canSend(among: pipes, hwm: options.sendHighWaterMark)
        case .receive: return pipes.contains { !$0.inbound.isEmpty }
        case .peers(let count): return connectedPeers >= count
        }
    }

    mutating func makePipe(connectSide: Bool) -> Pipe {
        nextPipeID += 1
        return Pipe(id: nextPipeID, isConnectSide: connectSide)
    }

    mutating func remove(_ pipe: Pipe) {
        pipes.removeAll { $0 === pipe }
    }

    /// After messages left inbound queues other than through `receive`: resumes reading where
    /// that made room, and forgets accepted pipes whose connection has gone and that are empty.
    mutating func inboundShrank() -> [any PipeEngine] {
        pipes.compactMap { inboundShrank($0) }
    }

    /// The same for one pipe: the engine to resume, if reading paused and there is room again.
    mutating func inboundShrank(_ pipe: Pipe) -> (any PipeEngine)? {
        var resume: (any PipeEngine)?
        if pipe.readingPaused, pipe.inbound.count <= options.receiveHighWaterMark / 2 {
            pipe.readingPaused = false
            resume = pipe.engine
        }
        if pipe.isDetached, pipe.inbound.isEmpty { remove(pipe) }
        return resume
    }

    mutating func beginClosing() -> Closing {
        closed = true
        lingering = options.linger != .zero
        var waiters = Array(receiveWaiters)
        waiters.append(contentsOf: sendWaiters)
        waiters.append(contentsOf: peerWaiters)
        receiveWaiters.removeAll()
        sendWaiters.removeAll()
        peerWaiters.removeAll()
        var flushes: [(any PipeEngine, Pipe)] = []
        if lingering {
            for pipe in pipes {
                guard let engine = pipe.engine else { continue }
                pipe.batchesInFlight += 1
                flushes.append((engine, pipe))
            }
        }
        defer { listeners.removeAll() }
        return Closing(waiters: waiters, listeners: listeners, linger: options.linger, flushes: flushes)
    }

    /// Nothing left to write: every pipe's queue is empty and every engine has flushed.
    var isSettled: Bool {
        pipes.allSatisfy { $0.outbound.isEmpty && $0.batchesInFlight == 0 }
    }

    mutating func takeLingerWaiterIfSettled() -> CheckedContinuation<Void, Never>? {
        guard lingerWaiter != nil, isSettled else { return nil }
        return lingerWaiter.take()
    }
}

/// The messages of a socket as an `AsyncSequence`; iteration ends when the socket closes.
public struct Messages: AsyncSequence, Sendable {
    public typealias Element = Message
    let socket: ZMQSocket

    public struct AsyncIterator: AsyncIteratorProtocol {
        let socket: ZMQSocket
        public mutating func next() async throws -> Message? {
            do {
                return try await socket.receive()
            } catch ZMQError.socketClosed {
                return nil
            }
        }
    }

    public func makeAsyncIterator() -> AsyncIterator { AsyncIterator(socket: socket) }
}
