import NIOCore
import Synchronization
import ZMTP

/// Drives one ZMTP connection: the thin I/O shell around `ZMTP.Connection`.
///
/// All of its state lives on its channel's event loop. Outgoing messages are taken from the pipe
/// in whole batches and encoded into one buffer per batch, with one flush; incoming frames are
/// parsed in place and handed to the socket once per read.
final class ZMTPEngine: ChannelDuplexHandler, ChannelEngine, Drainable, @unchecked Sendable {
    typealias InboundIn = ByteBuffer
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    /// Frames at least this large go to the channel as their own buffer (gathered by `writev`)
    /// instead of being copied into the batch.
    static let zeroCopyThreshold = 16 * 1024

    private let socket: ZMQSocket
    private let connecter: Connecter?
    /// The endpoint as bound (for an accepted connection) or as given to `connect`.
    let endpoint: String
    /// The far side's address, once the channel is active.
    private(set) var peerAddress: String?
    let eventLoop: any EventLoop
    /// Where a sender's wake-up goes: drained with the thread's other waiting connections.
    private let drains: DrainQueue<ZMTPEngine>
    // Touched per read and per message, only on this engine's event loop: the runtime exclusivity
    // check would find nothing and costs a thread-local lookup each time.
    @exclusivity(unchecked) private var machine: Connection
    private let handshakeInterval: TimeAmount?
    private let heartbeats: Bool
    private var context: ChannelHandlerContext?
    var channelContext: ChannelHandlerContext? { context }
    private var pipe: Pipe?
    @exclusivity(unchecked) private var incoming = MessageQueue()
    @exclusivity(unchecked) private var outgoing = MessageQueue()
    var readGate = ReadGate()
    private var handshakeTimer: Scheduled<Void>?
    private var heartbeatTimer: Scheduled<Void>?
    private var closeReason: String?
    private var closeError: ZMTPError?
    /// The peer turned us away (an ERROR or a mechanism it does not share): retry slowly.
    private var refusedByPeer = false
    /// Set once the channel has gone: no timer may be scheduled after that.
    private var inactive = false
    /// Set once the connection is being closed for a reason: the machine is not run again.
    private var failed = false
    private var refused = false
    /// The socket type's rules for subscriptions on the wire.
    private let wireRules: WireRules
    /// Where the octets read and written are counted, for the metrics.
    private let octets: OctetCounters
    /// Set once the handshake shows the peer takes subscriptions as commands.
    private var subscriptionsAsCommands = false
    private var spareBuffer: ByteBuffer?
    /// Where the next read goes: a large frame being received is read into its own buffer.
    private let readTarget = FrameReadTarget()
    /// A frame of at least this size is read into place (`FrameReadTarget`): the most one
    /// ordinary read takes, so smaller frames often arrive whole in one.
    static let readInPlaceMinimum = 256 * 1024
    private let zapDomain: String

    init(socket: ZMQSocket, connecter: Connecter?, endpoint: String, eventLoop: any EventLoop, options: SocketOptions) {
        self.socket = socket
        self.connecter = connecter
        self.endpoint = endpoint
        self.eventLoop = eventLoop
        self.drains = socket.context.ioExecutor(for: eventLoop).drains
        self.handshakeInterval = options.handshakeInterval.map(TimeAmount.init)
        let heartbeat = Heartbeat.Configuration(
            interval: options.heartbeatInterval.map(TimeAmount.init),
            timeout: options.heartbeatTimeout.map(TimeAmount.init),
            ttl: options.heartbeatTTL.map(TimeAmount.init)
        )
        self.heartbeats = heartbeat.interval != nil
        self.zapDomain = options.zapDomain
        self.wireRules = WireRules(socket.type)
        self.octets = socket.octets
        Self.liveCount.add(1, ordering: .relaxed)
        self.machine = Connection(configuration: .init(
            socketType: socket.type,
            identity: options.routingID ?? [],
            maxMessageSize: options.maxMessageSize,
            heartbeat: heartbeat,
            security: options.security,
            authenticatesNullPeers: !options.zapDomain.isEmpty,
            connectSide: connecter != nil
        ))
    }

    /// Engines alive in this process: every connection's engine is freed when its channel goes.
    static let liveCount = Atomic<Int>(0)

    deinit {
        Self.liveCount.subtract(1, ordering: .relaxed)
    }

    /// Engine timers scheduled and neither run nor cancelled yet, in this process: none may
    /// outlive its connection.
    static let pendingTimers = Atomic<Int>(0)

    /// Schedules `task`, counted in `pendingTimers` until it runs or is cancelled.
    private func scheduleTimer(at deadline: NIODeadline, _ task: @escaping @Sendable () -> Void) -> Scheduled<Void> {
        Self.pendingTimers.add(1, ordering: .relaxed)
        let scheduled = eventLoop.scheduleTask(deadline: deadline, task)
        scheduled.futureResult.whenComplete { _ in Self.pendingTimers.subtract(1, ordering: .relaxed) }
        return scheduled
    }

    /// A peer's address in endpoint form, e.g. tcp://127.0.0.1:53122; nil for an unnamed ipc client.
    static func describe(_ address: SocketAddress) -> String? {
        switch address {
        case .v4, .v6:
            return Endpoint.tcp(host: address.ipAddress ?? "?", port: address.port ?? 0).description
        case .unixDomainSocket:
            guard let path = address.pathname, !path.isEmpty else { return nil }
            return "ipc://\(path)"
        }
    }

    // MARK: Channel events

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        if let reads = try? context.channel.syncOptions?.getOption(.maxMessagesPerRead) {
            readTarget.nioKeeps = Int(reads)
        }
        try? context.channel.syncOptions?.setOption(.recvAllocator, value: ReadInPlaceAllocator(target: readTarget))
        if !socket.register(self) {
            context.close(promise: nil)
        }
    }

    func channelActive(context: ChannelHandlerContext) {
        peerAddress = context.channel.remoteAddress.flatMap(Self.describe)
        socket.connectionLog.record(SocketEvent(connecter == nil ? .accepted : .connected, endpoint: endpoint, peerAddress: peerAddress))
        // The timer first: a peer that has already reset fails the write below, and the channel
        // goes inactive inside it, which must find the timer to cancel.
        if let handshakeInterval {
            handshakeTimer = scheduleTimer(at: .now() + handshakeInterval) { [weak self] in
                guard let self, !self.machine.isOpen else { return }
                self.fail(.handshakeTimeout, farewell: nil)
            }
        }
        context.writeAndFlush(wrapOutboundOut(machine.start()), promise: nil)
        context.fireChannelActive()
    }

    /// The channel is gone: let go of everything, so nothing outlives the connection. The
    /// context holds this handler, so keeping it would keep the whole connection alive.
    func handlerRemoved(context: ChannelHandlerContext) {
        cancelTimers()
        self.context = nil
        machine.release()
        incoming = MessageQueue()
        outgoing = MessageQueue()
        spareBuffer = nil
        readTarget.lent = nil
    }

    private func cancelTimers() {
        handshakeTimer?.cancel()
        handshakeTimer = nil
        heartbeatTimer?.cancel()
        heartbeatTimer = nil
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var buffer = unwrapInboundIn(data)
        var read = buffer.readableBytes
        if machine.hasLentFrame {
            if let unused = readTarget.lent {
                // The read went into another buffer: the frame's own comes back first.
                readTarget.lent = nil
                machine.restoreLentFrame(unused)
            } else if readTarget.isLentBuffer(buffer) {
                // Only what the read added is new.
                read -= readTarget.lentCount
                octets.receivedInPlace.add(read, ordering: .relaxed)
            } else {
                fail(.lentFrameLost, farewell: nil)
                return
            }
        }
        octets.received.add(read, ordering: .relaxed)
        if heartbeats { machine.trafficReceived(at: .now()) }
        process(&buffer, context: context)
    }

    /// The end of a read: a large frame still arriving lends its buffer to the next read.
    func channelReadComplete(context: ChannelHandlerContext) {
        readTarget.readEventEnded(partialFrame: machine.hasPartialFrame)
        if !failed, readTarget.lent == nil, let lent = machine.lendPartialFrame(minimum: Self.readInPlaceMinimum) {
            if readTarget.mayLend {
                readTarget.lend(lent)
            } else {
                machine.restoreLentFrame(lent)
                readTarget.fillingPool = true
            }
        }
        context.fireChannelReadComplete()
    }

    /// Runs the state machine over `buffer` (empty when an authentication reply came back) and
    /// carries out its actions.
    private func process(_ buffer: inout ByteBuffer, context: ChannelHandlerContext) {
        guard !failed else { return }
        var wrote = false
        // After the handshake every write the machine asks for is a PONG. As libzmq keeps one
        // pending PONG, only the last PING of a read is answered, and none while the channel is
        // unwritable: a peer that floods PINGs without reading cannot make our queue grow (each
        // small write costs NIO far more memory than the octets its high-water mark counts).
        var pong: ByteBuffer?
        // Locals, not properties, in the per-message path: no dynamic exclusivity checks.
        var batch = MessageQueue()
        swap(&batch, &incoming)
        defer { swap(&batch, &incoming) }
        reading: while true {
            switch machine.receive(&buffer, into: &batch) {
            case .needMoreData:
                break reading
            case .message(let message):
                batch.append(message)
            case .write(let bytes):
                // The handshake's writes come before `.handshakeComplete` attaches the pipe.
                if pipe != nil {
                    pong = bytes
                    continue
                }
                context.write(wrapOutboundOut(bytes), promise: nil)
                wrote = true
            case .authenticate(let request):
                authenticate(request, context: context)
                if failed { return }
            case .handshakeComplete(let peer):
                guard attach(peer) else { return }
            case .command(let command):
                if let message = wireRules.message(for: command) { batch.append(message) }
            case .close(let error, let farewell):
                if wrote { context.flush() }
                fail(error, farewell: farewell)
                return
            }
        }
        if let pong, context.channel.isWritable {
            context.write(wrapOutboundOut(pong), promise: nil)
            wrote = true
        }
        if wrote { context.flush() }
        if !batch.isEmpty, let pipe {
            if socket.deliver(&batch, from: pipe) { readGate.pause() }
        }
    }

    /// Asks the context's authenticator about the peer (27/ZAP); the handshake waits for the reply.
    private func authenticate(_ request: AuthenticationRequest, context: ChannelHandlerContext) {
        guard let authenticator = socket.context.authenticator else {
            // libzmq: PLAIN without a ZAP handler refuses everyone; CURVE admits any key
            // (encryption only) and NULL lets everyone in.
            if request.mechanism == "PLAIN" {
                fail(.noAuthenticator(mechanism: request.mechanism), farewell: nil)
            } else {
                machine.authenticated(AuthenticationReply(statusCode: "200", statusText: "no authenticator installed"))
            }
            return
        }
        let zap = ZAPRequest(
            domain: zapDomain, address: context.channel.remoteAddress?.ipAddress ?? "",
            identity: socket.options.routingID ?? [], mechanism: request.mechanism, credentials: request.credentials
        )
        let eventLoop = self.eventLoop
        weak let engine = self
        Task {
            let reply = Self.sanitised(await authenticator.authenticate(zap))
            eventLoop.execute {
                guard let self = engine, let context = self.context, !self.inactive else { return }
                self.machine.authenticated(reply)
                var nothing = ByteBuffer()
                self.process(&nothing, context: context)
            }
        }
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable { drain() }
        context.fireChannelWritabilityChanged()
    }

    func channelInactive(context: ChannelHandlerContext) {
        inactive = true
        cancelTimers()
        let wasAttached = pipe != nil
        if let pipe {
            socket.detach(self, from: pipe)
            self.pipe = nil
        }
        socket.unregister(self)
        if wasAttached {
            socket.connectionLog.record(SocketEvent(.disconnected, endpoint: endpoint, peerAddress: peerAddress,
                                                    failure: closeError.map(HandshakeFailure.init), reason: closeReason))
        } else if !refused {
            let failure = closeError.map(HandshakeFailure.init) ?? HandshakeFailure(closed: closeReason ?? "connection closed by peer")
            socket.connectionLog.record(SocketEvent(.handshakeFailed, endpoint: endpoint, peerAddress: peerAddress, failure: failure))
        }
        // Any handshake that failed backs off: a refusal says so, but a CURVE server that cannot
        // open our HELLO (a wrong server key) just closes, as libzmq's does.
        connecter?.connectionLost(afterHandshake: wasAttached, backOff: refusedByPeer || !wasAttached)
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        // Reported once, with the close (a reset from a hostile peer is not worth a log line each).
        if closeReason == nil { closeReason = "\(error)" }
        context.close(promise: nil)
    }

    /// Reading pauses at the receive high-water mark by holding back NIO's read requests.
    func read(context: ChannelHandlerContext) {
        readGate.read(context)
    }

    /// 27/ZAP allows only 200, 300, 400 and 500; anything else an authenticator answers is a 500,
    /// so nothing it says is echoed to the peer.
    static func sanitised(_ reply: AuthenticationReply) -> AuthenticationReply {
        guard !AuthenticationReply.statusCodes.contains(reply.statusCode) else { return reply }
        var fixed = reply
        fixed.statusCode = "500"
        return fixed
    }

    // MARK: Handshake and heartbeats

    private func attach(_ peer: PeerInfo) -> Bool {
        handshakeTimer?.cancel()
        let authentication = peer.authentication
        let metadata = MessageMetadata(
            peerAddress: context?.channel.remoteAddress?.ipAddress, userID: authentication?.userID,
            authenticatorProperties: authentication?.metadata ?? Metadata(), peerProperties: peer.metadata)
        guard let pipe = socket.attach(self, peer: peer, metadata: metadata, connectPipe: connecter?.pipe) else {
            refused = true
            socket.connectionLog.record(SocketEvent(.peerRefused, endpoint: endpoint, peerAddress: peerAddress))
            context?.close(promise: nil)
            return false
        }
        self.pipe = pipe
        subscriptionsAsCommands = wireRules.subscriptionsAsCommands(peerMinorVersion: peer.minorVersion)
        connecter?.handshakeCompleted()
        socket.connectionLog.record(SocketEvent(.handshakeSucceeded, endpoint: endpoint, peerAddress: peerAddress))
        if heartbeats {
            machine.startHeartbeat(now: .now())
            scheduleHeartbeat()
        }
        return true
    }

    private func scheduleHeartbeat() {
        guard !inactive, let deadline = machine.nextHeartbeatDeadline else { return }
        heartbeatTimer = scheduleTimer(at: deadline) { [weak self] in
            guard let self else { return }
            switch self.machine.heartbeatTick(now: .now()) {
            case .write(let ping):
                self.context?.writeAndFlush(self.wrapOutboundOut(ping), promise: nil)
            case .close(let error, let farewell):
                self.fail(error, farewell: farewell)
                return
            default:
                break
            }
            self.scheduleHeartbeat()
        }
    }

    private func fail(_ error: ZMTPError, farewell: ByteBuffer?) {
        guard let context, !failed else { return }
        failed = true
        closeReason = error.description
        closeError = error
        switch error {
        case .messageTooLarge, .tooManyFrames:
            if let pipe { socket.countDrop(.tooLarge, at: pipe) }
        default:
            break
        }
        refusedByPeer = error.isRefusal
        if let farewell {
            let channel = context.channel
            context.writeAndFlush(wrapOutboundOut(farewell)).whenComplete { _ in channel.close(promise: nil) }
        } else {
            context.close(promise: nil)
        }
    }

    // MARK: Sending

    /// Takes everything queued for this peer, encodes it into one buffer and flushes once, until
    /// the queue is empty or the channel stops being writable (the pipe keeps the rest). Runs on
    /// the engine's event loop: from `drains` after a sender's wake-up, or when writable again.
    func drain() {
        guard let context, let pipe, context.channel.isActive else { return }
        var rounds = 0
        while context.channel.isWritable {
            guard let taken = socket.takeOutbound(from: pipe, into: &outgoing) else { return }
            writeBatch(context: context, pipe: pipe, reportWhenWritten: taken.reportWhenWritten)
            rounds += 1
            if rounds == 16 {
                // Let reads and other channels on this loop run; come back for the rest.
                eventLoop.execute { self.drain() }
                return
            }
        }
    }

    private func writeBatch(context: ChannelHandlerContext, pipe: Pipe, reportWhenWritten: Bool) {
        // Locals, not properties, in the per-message path.
        var batch = MessageQueue()
        swap(&batch, &outgoing)
        defer {
            batch.removeAll(keepingCapacity: true)
            swap(&batch, &outgoing)
        }
        let allocator = context.channel.allocator
        let buffer: ByteBuffer
        if machine.encryptsTraffic {
            var sealed = spareBuffer.take() ?? allocator.buffer(capacity: 0)
            sealed.clear()
            if subscriptionsAsCommands {
                for message in batch { machine.seal(message, commandFor: wireRules.command(for:), into: &sealed) }
            } else {
                machine.seal(batch, subscriptionsAsCommands: false, into: &sealed)
            }
            buffer = sealed
            if buffer.capacity <= Self.spareBufferLimit { spareBuffer = buffer }
        } else if subscriptionsAsCommands {
            buffer = Self.encodeWithCommands(batch, rules: wireRules, allocator: allocator)
        } else {
            // The last batch's buffer, reused once the channel has let go of it (a write that
            // completes at once, the usual case): no allocation per batch.
            var reused = spareBuffer.take() ?? allocator.buffer(capacity: 0)
            reused.clear()
            Self.encode(&batch, into: &reused, allocator: allocator) { [self] octets, frame in
                self.octets.sent.add(octets.readableBytes + frame.buffer.readableBytes, ordering: .relaxed)
                context.write(wrapOutboundOut(octets), promise: nil)
                context.write(wrapOutboundOut(frame.buffer), promise: nil)
            }
            buffer = reused
            if buffer.capacity <= Self.spareBufferLimit { spareBuffer = buffer }
        }
        self.octets.sent.add(buffer.readableBytes, ordering: .relaxed)
        guard reportWhenWritten else {
            context.writeAndFlush(wrapOutboundOut(buffer), promise: nil)
            return
        }
        let written = eventLoop.makePromise(of: Void.self)
        context.writeAndFlush(wrapOutboundOut(buffer), promise: written)
        let socket = self.socket
        written.futureResult.whenComplete { _ in socket.batchWritten(from: pipe) }
    }

    /// The largest encode buffer kept for reuse, so an idle connection holds little memory.
    static let spareBufferLimit = 64 * 1024

    /// Encodes the batch into `buffer`, moving each message out of `batch` as it is written:
    /// each costs one release and no retain. (Its payload's reference count is shared with the
    /// sending thread, so every extra touch of it is a cache line crossing cores.) Frames of
    /// `zeroCopyThreshold` octets or more are not copied: `writeLarge` receives the octets
    /// encoded so far and the frame to send after them, gathered by `writev`.
    static func encode(
        _ batch: inout MessageQueue, into buffer: inout ByteBuffer, allocator: ByteBufferAllocator,
        writeLarge: (ByteBuffer, Frame) -> Void
    ) {
        // Messages in one batch are usually alike: size the buffer for that, let it grow if not.
        let estimate = min(batch.count &* (batch.first?.wireLayout.size ?? 0), 1 << 20)
        buffer.reserveCapacity(minimumWritableBytes: estimate)
        // A message taken from the batch that did not fit, or that holds a large frame.
        var held: Message?
        while true {
            // The fast path: one raw-pointer pass over as many messages as fit.
            buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: 0) { free in
                var offset = 0
                // Whether to look for a run of small one-frame messages (written in place): until
                // the first message that is not one, so that a stream of others (larger, multipart,
                // or tagged with metadata, as a proxy forwards them) pays for one look a batch.
                var smallMayFollow = true
                while true {
                    if smallMayFollow, held == nil {
                        offset &+= batch.writeSmallMessages(into: UnsafeMutableRawBufferPointer(rebasing: free[offset...]))
                    }
                    guard let message = held.take() ?? batch.popFirst() else { break }
                    let layout = message.wireLayout
                    guard layout.largestFrame < zeroCopyThreshold, layout.size <= free.count &- offset else {
                        held = message
                        break
                    }
                    smallMayFollow = false
                    offset &+= message.writeWire(to: free.baseAddress! + offset)
                }
                return offset
            }
            guard let message = held.take() else { return }
            let layout = message.wireLayout
            guard layout.largestFrame >= zeroCopyThreshold else {
                buffer.reserveCapacity(minimumWritableBytes: max(layout.size, buffer.capacity))
                held = message
                continue
            }
            let last = message.count - 1
            for index in 0...last {
                let frame = message[index]
                FrameEncoder.writeHeader(more: index < last, size: frame.count, into: &buffer)
                if frame.count >= zeroCopyThreshold {
                    writeLarge(buffer, frame)
                    buffer = allocator.buffer(capacity: min(estimate, 64 * 1024))
                } else {
                    frame.write(into: &buffer)
                }
            }
        }
    }

    /// SUB and XSUB to a ZMTP 3.1 peer, and DISH: membership messages become SUBSCRIBE and
    /// CANCEL, or JOIN and LEAVE, commands (37/ZMTP); anything else an XSUB sends goes as it is.
    /// Rare traffic, so plainly.
    static func encodeWithCommands(_ batch: MessageQueue, rules: WireRules, allocator: ByteBufferAllocator) -> ByteBuffer {
        var buffer = allocator.buffer(capacity: 256)
        for message in batch {
            if let command = rules.command(for: message) {
                command.encode(into: &buffer)
            } else {
                FrameEncoder.encode(message, into: &buffer)
            }
        }
        return buffer
    }

    // MARK: PipeEngine

    func scheduleDrain() {
        drains.schedule(self)
    }
}
