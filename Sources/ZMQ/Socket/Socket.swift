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
        self.ioExecutor = context.ioExecutor(for: eventLoop)
        self.connectionLog = ConnectionLog(logger: context.logger)
        self.state = Mutex(SocketState(pattern: try type.makePattern()))
        if SocketMetrics.records(context.metricsFactory) {
            metricsBox.withLock { $0 = SocketMetrics(type: type, name: nil, factory: context.metricsFactory) }
            metricsTimer.withLock {
                $0 = eventLoop.scheduleRepeatedTask(initialDelay: SocketMetrics.interval, delay: SocketMetrics.interval) { [weak self] _ in
                    self?.publishMetrics()
                }
            }
        }
    }

    /// Octets read from and written to the wire by this socket's connections (tcp and ipc).
    let octets = OctetCounters()
    /// The swift-metrics counters, when the context's factory records anything.
    private let metricsBox = Mutex<SocketMetrics?>(nil)
    let metricsTimer = Mutex<RepeatedTask?>(nil)

    /// Brings the swift-metrics counters up to date (once a second, and when the socket closes).
    func publishMetrics() {
        guard let metrics = metricsBox.withLock({ $0 }) else { return }
        metrics.publish(traffic)
    }

    /// Everything counted so far.
    var traffic: Traffic {
        var traffic = state.withLock { state in
            Traffic(messagesReceived: state.messagesReceived, drops: state.drops)
        }
        traffic.messagesSent = octets.messagesSent.load(ordering: .relaxed)
        traffic.octetsReceived = octets.received.load(ordering: .relaxed)
        traffic.octetsReadInPlace = octets.receivedInPlace.load(ordering: .relaxed)
        traffic.octetsSent = octets.sent.load(ordering: .relaxed)
        return traffic
    }

    /// Runs tasks on this socket's I/O thread, for the lowest latency; see `IOExecutor`. Every
    /// socket on the same I/O thread hands out the same executor, so a task that prefers it and
    /// waits on several of them never hops.
    public let ioExecutor: IOExecutor

    /// A snapshot of the current option values.
    public var options: SocketOptions { state.withLock { $0.options } }

    /// Sets one option; an invalid value, or an option that means nothing for this socket type
    /// (`routerMandatory` on a PULL), throws `ZMQError.invalidOption` and changes nothing.
    /// Options that shape connections (heartbeats, limits) apply to connections made afterwards.
    public func set(_ option: SocketOption) throws {
        if let types = option.socketTypes, !types.contains(type) {
            let names = types.map { $0.rawValue }.sorted().joined(separator: " and ")
            throw ZMQError.invalidOption(name: option.name, reason: "applies to \(names) sockets only, not \(type.rawValue)")
        }
        let wakeups = try state.withLock { (state: inout SocketState) throws(ZMQError) in
            try state.apply(option)
        }
        wakeups.resume()
        if case .metricsName(let name) = option.setting, SocketMetrics.records(context.metricsFactory) {
            // Counted from now on under the new name: what came before goes to the old one.
            let snapshot = traffic
            metricsBox.withLock { metrics in
                metrics?.publish(snapshot)
                metrics = SocketMetrics(type: type, name: name, factory: context.metricsFactory, baseline: snapshot)
            }
        }
    }

    /// Every message this socket's type dropped by its rules so far, by reason: PUB and XPUB at a
    /// subscriber's full queue, ROUTER to an unknown peer, REQ's stray replies, conflation,
    /// messages over the size limit. Also exported as the `zmq_messages_dropped` counter.
    public var drops: DropCounts { state.withLock { $0.drops } }

    /// The same for each peer connected now, with its endpoint and address.
    public var peerDrops: [PeerDrops] { state.withLock { $0.peerDrops } }

    /// Counts a message the connection of `pipe` dropped (one over the size limit).
    func countDrop(_ reason: DropReason, at pipe: Pipe) {
        state.withLock { $0.countDrops(1, reason, at: pipe) }
    }

    /// A stream of connection events: handshakes, disconnects, retries. It ends, after
    /// `monitorStopped`, when the socket closes; a stream taken after that holds only
    /// `monitorStopped`. It keeps up to 1,000 events its reader has not taken, dropping the
    /// oldest beyond that, so a monitor nobody reads costs bounded memory.
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
        let parsed = try Endpoint(parsing: endpoint)
        try checkOpen()
        try checkCarries(parsed, binding: true)
        let listener: any Binding
        do {
            listener = try await parsed.carrier.bind(parsed, socket: self)
        } catch {
            events.emit(SocketEvent(.bindFailed, endpoint: endpoint, error: error))
            throw error
        }
        let accepted = state.withLock { state -> Bool in
            guard !state.closed else { return false }
            state.listeners.append(listener)
            return true
        }
        guard accepted else {
            await listener.close()
            throw ZMQError.socketClosed
        }
        events.emit(SocketEvent(.listening, endpoint: listener.boundEndpoint))
        return listener.boundEndpoint
    }

    /// Connects to `endpoint` in the background and keeps the connection up: a peer that is not
    /// there yet, or goes away, is retried with backoff. Messages sent meanwhile wait in this
    /// connection's queue.
    public func connect(_ endpoint: String) async throws {
        _ = try await connectPipe(endpoint)
    }

    /// PEER: connects to `endpoint` as `connect` does and returns the routing id of the peer
    /// there, for `message.routingID`. Messages for it queue until the connection is up.
    public func connectPeer(_ endpoint: String) async throws -> UInt32 {
        guard type == .peer else { throw ZMQError.notSupported("only PEER sockets connect to a peer by id; use connect(_:)") }
        let pipe = try await connectPipe(endpoint)
        return state.withLock { _ in RoutingTable.number(pipe.routingID) }
    }

    private func connectPipe(_ endpoint: String) async throws -> Pipe {
        let parsed = try Endpoint(parsing: endpoint)
        try parsed.carrier.checkConnect(parsed.address, endpoint: endpoint)
        try checkCarries(parsed, binding: false)
        let (connecter, wakeups) = try state.withLock { (state: inout SocketState) throws(ZMQError) in
            guard !state.closed else { throw .socketClosed }
            let pipe = state.makePipe(connectSide: true)
            // Known before it connects: a RADIO sends a udp endpoint every group from the start.
            pipe.datagramLimit = parsed.carrier.datagramLimit
            // ROUTER's connectRoutingID names this connection's peer, and only this one.
            if let id = state.options.connectRoutingID {
                pipe.routingID = id
                pipe.routingIDChosen = true
                state.options.connectRoutingID = nil
            }
            state.pipes.append(pipe)
            state.pattern.connecting(pipe)
            let connecter = Connecter(endpoint: parsed, socket: self, pipe: pipe, options: state.options)
            state.connecters.append(connecter)
            // Messages may queue on the new pipe before it connects.
            return (connecter, state.waiters.roomMade())
        }
        wakeups.resume()
        parsed.carrier.connect(connecter)
        return connecter.pipe
    }

    /// What this socket's connections carry: ZMTP, or raw octets for STREAM and a ROUTER with
    /// `routerRaw`.
    func framing(_ options: SocketOptions) -> SocketType.Framing {
        options.routerRaw ? .raw : type.traits.framing
    }

    /// Refuses a transport that cannot carry this socket's connections.
    private func checkCarries(_ endpoint: Endpoint, binding: Bool) throws(ZMQError) {
        if let refusal = endpoint.carrier.refusal(for: type, framing: framing(options), binding: binding) {
            throw .invalidEndpoint(endpoint.description, reason: refusal)
        }
    }

    /// Stops connecting to `endpoint`, given as it was to `connect`: its connection closes and
    /// the messages still queued for it are dropped, as libzmq's `zmq_disconnect` does. Throws
    /// `invalidEndpoint` when the socket is not connected to it.
    public func disconnect(_ endpoint: String) async throws {
        let parsed = try Endpoint(parsing: endpoint)
        let removed = try state.withLock { (state: inout SocketState) throws(ZMQError) -> [(Connecter, (any PipeEngine)?)] in
            guard !state.closed else { throw .socketClosed }
            let matching = state.connecters.filter { $0.endpoint == parsed }
            guard !matching.isEmpty else {
                throw .invalidEndpoint(endpoint, reason: "this socket is not connected to it")
            }
            state.connecters.removeAll { $0.endpoint == parsed }
            for connecter in matching {
                state.countDrops(connecter.pipe.dropOutbound(), .peerGone, at: connecter.pipe)
                state.remove(connecter.pipe)
            }
            return matching.map { ($0, $0.pipe.engine) }
        }
        for (connecter, engine) in removed {
            await connecter.stop()
            parsed.carrier.forget(connecter)
            await engine?.close()
        }
    }

    /// `reconnectStop`: gives up `connecter`'s endpoint as `disconnect` would, dropping its queue.
    func abandon(_ connecter: Connecter) {
        let abandoned = state.withLock { state -> (SocketState.Wakeups, CheckedContinuation<Void, Never>?)? in
            // Disconnected or closed meanwhile: that took care of it.
            guard state.connecters.contains(where: { $0 === connecter }) else { return nil }
            state.connecters.removeAll { $0 === connecter }
            state.countDrops(connecter.pipe.dropOutbound(), .peerGone, at: connecter.pipe)
            state.remove(connecter.pipe)
            // A lingering close may have waited only for this endpoint's queue.
            return (state.waiters.peerDetached(leftMessages: false), state.takeLingerWaiterIfSettled())
        }
        guard let (wakeups, settled) = abandoned else { return }
        wakeups.resume()
        settled?.resume()
        events.emit(SocketEvent(.closed, endpoint: connecter.endpoint.description))
        Task { await connecter.stop() }
    }

    /// Stops accepting connections at `endpoint`, given as `bind` returned it or as it was given
    /// to `bind`, and closes the connections accepted there, as libzmq's `zmq_unbind` does.
    /// Throws `invalidEndpoint` when the socket is not bound to it.
    public func unbind(_ endpoint: String) async throws {
        let listener = try state.withLock { (state: inout SocketState) throws(ZMQError) -> any Binding in
            guard !state.closed else { throw .socketClosed }
            guard let index = state.listeners.firstIndex(where: { $0.matches(endpoint) }) else {
                throw .invalidEndpoint(endpoint, reason: "this socket is not bound to it")
            }
            return state.listeners.remove(at: index)
        }
        await listener.close()
        events.emit(SocketEvent(.closed, endpoint: listener.boundEndpoint))
        await listener.closeAccepted()
    }

    /// Whether `close()` has begun.
    var isClosed: Bool { state.withLock { $0.closed } }

    func checkOpen() throws(ZMQError) {
        if state.withLock({ $0.closed }) { throw .socketClosed }
    }

    // MARK: Sending

    /// Sends a message, waiting while no peer has room (or until the send timeout).
    ///
    /// Inlined into the caller, so that a send that finds room (the usual case) costs no async
    /// call frame of its own; only a send that must wait makes the call that suspends.
    @inlinable
    nonisolated(nonsending) public func send(_ message: Message) async throws {
        if try enqueue(message) { return }
        try await waitAndSend(message)
    }

    /// Waits for room, then sends; called once a try found none.
    @usableFromInline
    nonisolated(nonsending) func waitAndSend(_ message: Message) async throws {
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
    @usableFromInline
    func enqueue(_ message: Message) throws(ZMQError) -> Bool {
        guard !message.isEmpty else { throw .invalidMessage("a message has at least one frame") }
        var outbox = Outbox()
        let queued = try state.withLock { (state: inout SocketState) throws(ZMQError) in try state.enqueue(message, outbox: &outbox) }
        outbox.wake()
        return queued
    }

    // MARK: Subscribing

    /// Subscribes a SUB or XSUB socket to the messages whose first frame starts with `prefix`;
    /// the empty prefix subscribes to everything. Subscriptions are counted: subscribing twice
    /// needs two `unsubscribe` calls. Other socket types throw `notSupported`.
    public func subscribe(_ prefix: [UInt8]) throws {
        try changeSubscription(Subscription(subscribe: true, topic: prefix))
    }

    public func subscribe(_ prefix: String = "") throws {
        try subscribe(Array(prefix.utf8))
    }

    /// Cancels one `subscribe(prefix)`; cancelling a prefix never subscribed does nothing.
    public func unsubscribe(_ prefix: [UInt8]) throws {
        try changeSubscription(Subscription(subscribe: false, topic: prefix))
    }

    public func unsubscribe(_ prefix: String) throws {
        try unsubscribe(Array(prefix.utf8))
    }

    /// DISH: receives the messages RADIOs send to `group` (at most 255 octets, 48/RADIO-DISH),
    /// from now on. Joining a group twice throws `invalidState`; other types throw `notSupported`.
    public func join(_ group: String) throws {
        try changeMembership(group, joining: true)
    }

    /// DISH: stops receiving `group`; what is already queued for it is dropped. Leaving a group
    /// not joined throws `invalidState`.
    public func leave(_ group: String) throws {
        try changeMembership(group, joining: false)
    }

    private func changeMembership(_ group: String, joining: Bool) throws(ZMQError) {
        guard type.traits.sendsGroups else { throw .notSupported("only DISH sockets join groups") }
        let octets = Array(group.utf8)
        try Groups.check(octets)
        try changeSubscription(Subscription(subscribe: joining, topic: octets), checked: true)
    }

    private func changeSubscription(_ subscription: Subscription, checked: Bool = false) throws(ZMQError) {
        if !checked, type.traits.sendsGroups { throw .notSupported("a DISH joins groups: use join(_:) and leave(_:)") }
        var outbox = Outbox()
        try state.withLock { (state: inout SocketState) throws(ZMQError) in
            // Nothing already queued for a cancelled topic is handed out afterwards.
            try received.withLock { (received: inout ReceivedBatch) throws(ZMQError) in
                try state.changeSubscription(subscription, received: &received, outbox: &outbox)
            }
        }
        outbox.wake()
    }

    // MARK: Receiving

    /// Receives the next message, waiting until one arrives (or until the receive timeout).
    ///
    /// Inlined, as `send` is: a message already queued is taken without an async call frame.
    @inlinable
    nonisolated(nonsending) public func receive() async throws -> Message {
        if let message = try dequeue() { return message }
        return try await waitAndReceive()
    }

    /// Waits for a message until the receive timeout; called once a look found nothing.
    @usableFromInline
    nonisolated(nonsending) func waitAndReceive() async throws(ZMQError) -> Message {
        // Nothing queued: only now is the timeout worth reading.
        let deadline = options.receiveTimeout.map { NIODeadline.now() + TimeAmount($0) }
        return try await waitAndReceive(until: deadline)
    }

    nonisolated(nonsending) func receive(until deadline: NIODeadline?) async throws(ZMQError) -> Message {
        if let message = try dequeue() { return message }
        return try await waitAndReceive(until: deadline)
    }

    /// Waits, then receives; called once a look found nothing, so it does not look again first.
    nonisolated(nonsending) private func waitAndReceive(until deadline: NIODeadline?) async throws(ZMQError) -> Message {
        while true {
            try await suspend(.receive, until: deadline)
            if let message = try dequeue() { return message }
        }
    }

    /// The next message for `messages`: nil once the socket is closed or the task cancelled.
    nonisolated(nonsending) func nextMessage() async throws(ZMQError) -> Message? {
        do {
            return try await receive(until: nil)
        } catch ZMQError.socketClosed, ZMQError.cancelled {
            return nil
        }
    }

    /// Receives without waiting: throws `ZMQError.wouldBlock` when no message is queued.
    public func tryReceive() throws -> Message {
        guard let message = try dequeue() else { throw ZMQError.wouldBlock }
        return message
    }

    /// Messages as they arrive. The loop waits as long as it takes for the next message: the
    /// receive timeout applies to `receive()` only, so a quiet spell never ends the loop. It ends
    /// when the socket closes or the task is cancelled; a loop that must notice silence uses
    /// `receive()` with `.receiveTimeout`, or a `ZMQPoller` with a timeout.
    ///
    ///     for try await message in socket.messages { … }
    public var messages: Messages { Messages(socket: self) }

    /// Messages already taken from a pipe, oldest first, for the next receives. Filled a batch at
    /// a time under the socket lock and emptied under this lock alone, so receiving a message
    /// does not contend with the I/O threads for the socket lock. Lock order: `state`, then this.
    let received = Mutex(ReceivedBatch())

    /// At most this many messages move from one pipe to `received` at a time: fair-queueing
    /// between peers works in batches of this size.
    static let receiveBatch = 256

    @usableFromInline
    func dequeue() throws(ZMQError) -> Message? {
        if let message = received.withLock({ $0.popFirst() }) { return message }
        var after = SocketState.AfterReceive()
        let message = try state.withLock { (state: inout SocketState) throws(ZMQError) -> Message? in
            guard let (message, more) = try state.dequeue(after: &after) else { return nil }
            if let more {
                received.withLock { state.moveBatch(from: more, limit: Self.receiveBatch - 1, into: &$0, after: &after) }
            }
            return message
        }
        after.wakeups.resume()
        after.resume?.resumeReading()
        return message
    }
}

/// The messages of a socket as an `AsyncSequence`: it ends when the socket closes or the task is
/// cancelled, and throws only what `receive()` would for the socket's state (a REP that has not
/// replied, a PUSH that cannot receive).
public struct Messages: AsyncSequence, Sendable {
    public typealias Element = Message
    let socket: ZMQSocket

    public struct AsyncIterator: AsyncIteratorProtocol {
        let socket: ZMQSocket

        public mutating func next() async throws -> Message? {
            try await socket.nextMessage()
        }
    }

    public func makeAsyncIterator() -> AsyncIterator { AsyncIterator(socket: socket) }
}

/// Sockets compare by identity, so they can key dictionaries and be found among poll results.
extension ZMQSocket: Hashable {
    public static func == (lhs: ZMQSocket, rhs: ZMQSocket) -> Bool { lhs === rhs }
    public func hash(into hasher: inout Hasher) { hasher.combine(ObjectIdentifier(self)) }
}

/// Messages moved out of one pipe for the next receives (`ZMQSocket.received`).
struct ReceivedBatch {
    var messages = MessageQueue()
    /// ROUTER and STREAM: the routing id of the pipe the messages came from, put before each as
    /// it is handed out. One at a time, on the receiving thread: the envelope's allocation is
    /// freed there too, and reused, where a batch of envelopes made at once (or on the I/O
    /// thread) would miss the allocator's per-thread cache.
    var envelope: Frame?

    var count: Int { messages.count }

    @inline(__always)
    mutating func popFirst() -> Message? {
        // Most sockets have no envelope: a look at the tag, not a copy of the frame.
        guard envelope != nil else { return messages.popFirst() }
        guard var message = messages.popFirst() else { return nil }
        message.prepend(envelope!)
        return message
    }

    mutating func removeAll() {
        messages.removeAll()
        envelope = nil
    }
}
