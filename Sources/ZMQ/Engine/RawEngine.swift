import NIOCore
import Synchronization
import ZMTP

/// Drives one connection of a STREAM socket (or a ROUTER with `routerRaw`): no handshake and no
/// framing. The peer is attached as soon as the channel is up; each read becomes one message,
/// and each message sent is written as it is. An empty message closes the connection once what
/// was queued before it is written.
final class RawEngine: ChannelDuplexHandler, ChannelEngine, @unchecked Sendable {
    typealias InboundIn = ByteBuffer
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private let socket: ZMQSocket
    private let connecter: Connecter?
    let endpoint: String
    private(set) var peerAddress: String?
    let eventLoop: any EventLoop
    private var context: ChannelHandlerContext?
    var channelContext: ChannelHandlerContext? { context }
    private var pipe: Pipe?
    private var incoming = MessageQueue()
    private var outgoing = MessageQueue()
    var readGate = ReadGate()
    /// Set once an empty message asked for the connection to be closed.
    private var closing = false

    init(socket: ZMQSocket, connecter: Connecter?, endpoint: String, eventLoop: any EventLoop) {
        self.socket = socket
        self.connecter = connecter
        self.endpoint = endpoint
        self.eventLoop = eventLoop
        Self.liveCount.add(1, ordering: .relaxed)
    }

    /// Engines alive in this process: each is freed when its channel goes.
    static let liveCount = Atomic<Int>(0)

    deinit {
        Self.liveCount.subtract(1, ordering: .relaxed)
    }

    // MARK: Channel events

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        // Reads of at most 8 KiB, as libzmq's raw engine makes them: the receive high-water
        // mark counts reads, so this bounds what one peer can have queued.
        try? context.channel.syncOptions?.setOption(.recvAllocator, value: Self.receiveAllocator)
        if !socket.register(self) { context.close(promise: nil) }
    }

    static let receiveAllocator = AdaptiveRecvByteBufferAllocator(minimum: 64, initial: 2048, maximum: 8192)

    func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
        incoming = MessageQueue()
        outgoing = MessageQueue()
    }

    func channelActive(context: ChannelHandlerContext) {
        let remote = context.channel.remoteAddress
        peerAddress = remote.flatMap(ZMTPEngine.describe)
        socket.connectionLog.record(SocketEvent(connecter == nil ? .accepted : .connected, endpoint: endpoint, peerAddress: peerAddress))
        // Nothing to agree on: the connection is the peer.
        let peer = PeerInfo(socketType: socket.type, identity: nil, metadata: Metadata(), minorVersion: 1, mechanism: "NULL")
        let metadata = MessageMetadata(peerAddress: remote?.ipAddress, userID: nil, peerProperties: Metadata())
        guard let pipe = socket.attach(self, peer: peer, metadata: metadata, connectPipe: connecter?.pipe) else {
            socket.connectionLog.record(SocketEvent(.peerRefused, endpoint: endpoint, peerAddress: peerAddress))
            context.close(promise: nil)
            return
        }
        self.pipe = pipe
        connecter?.handshakeCompleted()
        socket.connectionLog.record(SocketEvent(.handshakeSucceeded, endpoint: endpoint, peerAddress: peerAddress))
        context.fireChannelActive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let buffer = unwrapInboundIn(data)
        guard let pipe, !closing, buffer.readableBytes > 0 else { return }
        socket.octets.received.add(buffer.readableBytes, ordering: .relaxed)
        incoming.append(Message(Frame(buffer: buffer)))
        if socket.deliver(&incoming, from: pipe) { readGate.pause() }
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable { drain() }
        context.fireChannelWritabilityChanged()
    }

    func channelInactive(context: ChannelHandlerContext) {
        let wasAttached = pipe != nil
        if let pipe {
            socket.detach(self, from: pipe)
            self.pipe = nil
        }
        socket.unregister(self)
        if wasAttached {
            socket.connectionLog.record(SocketEvent(.disconnected, endpoint: endpoint, peerAddress: peerAddress))
        }
        if closing, let connecter {
            // Closed by the application: the endpoint is done, as libzmq ends its session.
            socket.abandon(connecter)
        } else {
            connecter?.connectionLost(afterHandshake: wasAttached)
        }
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }

    /// Reading pauses at the receive high-water mark by holding back NIO's read requests.
    func read(context: ChannelHandlerContext) {
        readGate.read(context)
    }

    // MARK: Sending

    /// Writes everything queued for this peer, until the queue is empty, the channel stops
    /// being writable, or an empty message closes the connection.
    private func drain() {
        guard let context, let pipe, context.channel.isActive, !closing else { return }
        while context.channel.isWritable {
            guard let taken = socket.takeOutbound(from: pipe, into: &outgoing) else { return }
            var octets = 0
            while let message = outgoing.popFirst() {
                let data = message[0]
                if data.isEmpty {
                    closing = true
                    outgoing.removeAll()
                    break
                }
                octets += data.count
                context.write(wrapOutboundOut(data.buffer), promise: nil)
            }
            socket.octets.sent.add(octets, ordering: .relaxed)
            // An empty write completes after every write before it.
            let written = eventLoop.makePromise(of: Void.self)
            context.writeAndFlush(wrapOutboundOut(ByteBuffer()), promise: written)
            let (socket, channel, closing) = (self.socket, context.channel, self.closing)
            written.futureResult.whenComplete { _ in
                if taken.reportWhenWritten { socket.batchWritten(from: pipe) }
                if closing { channel.close(promise: nil) }
            }
            if closing { return }
        }
    }

    // MARK: PipeEngine

    func scheduleDrain() {
        eventLoop.execute { self.drain() }
    }
}
