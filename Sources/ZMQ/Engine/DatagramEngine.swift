import NIOCore
import Synchronization
import ZMTP

/// Drives one udp channel: RADIO's (sending to its endpoint), DISH's and DGRAM's (bound). There
/// is no connection and no handshake: the channel is the peer, attached as soon as it is up.
///
/// - RADIO and DISH: a datagram is `group length (1 octet), group, body`, as libzmq sends it.
///   A message in the socket is `[group, body]`, as it is over ZMTP.
/// - DGRAM: a message is `[address, body]`, the address `ip:port` (`[ip]:port` for IPv6); a
///   datagram received carries its sender's address, and one sent goes to the address given.
///
/// A datagram that is empty, or whose group length runs past its end, is dropped and counted
/// (`malformed`), never delivered in part.
final class DatagramEngine: ChannelDuplexHandler, ChannelEngine, @unchecked Sendable {
    typealias InboundIn = AddressedEnvelope<ByteBuffer>
    typealias OutboundIn = AddressedEnvelope<ByteBuffer>
    typealias OutboundOut = AddressedEnvelope<ByteBuffer>

    private let socket: ZMQSocket
    private let connecter: Connecter?
    let endpoint: String
    /// Where a RADIO's datagrams go.
    private let destination: SocketAddress?
    /// DGRAM's `[address, body]` rather than RADIO and DISH's groups.
    private let addressed: Bool
    /// A DISH only listens: its joins stay local over udp.
    private let listensOnly: Bool
    private var context: ChannelHandlerContext?
    var channelContext: ChannelHandlerContext? { context }
    private var pipe: Pipe?
    private var incoming = MessageQueue()
    private var outgoing = MessageQueue()
    var readGate = ReadGate()
    /// The socket's loop, which both udp bootstraps run the channel on.
    let eventLoop: any EventLoop

    var peerAddress: String? { destination.flatMap(Self.text) }
    var datagramLimit: Int? { UDPTransport.datagramLimit }

    init(socket: ZMQSocket, connecter: Connecter?, endpoint: String, destination: SocketAddress?) {
        self.socket = socket
        self.connecter = connecter
        self.endpoint = endpoint
        self.destination = destination
        self.addressed = socket.type == .dgram
        self.listensOnly = socket.type == .dish
        self.eventLoop = socket.eventLoop
        Self.liveCount.add(1, ordering: .relaxed)
    }

    /// Engines alive in this process: each is freed when its channel goes.
    static let liveCount = Atomic<Int>(0)

    deinit {
        Self.liveCount.subtract(1, ordering: .relaxed)
    }

    /// `ip:port`, or `[ip]:port` for IPv6: how DGRAM names a datagram's sender.
    static func text(_ address: SocketAddress) -> String? {
        guard let ip = address.ipAddress, let port = address.port else { return nil }
        return address.protocol == .inet6 ? "[\(ip)]:\(port)" : "\(ip):\(port)"
    }

    /// The address a DGRAM message names: `ip:port` or `[ip]:port`; libzmq's trailing NUL is
    /// accepted too.
    static func address(_ frame: Frame) -> SocketAddress? {
        guard var text = frame.string else { return nil }
        if text.hasSuffix("\0") { text.removeLast() }
        guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]), (0...65535).contains(port) else { return nil }
        var host = text[..<colon]
        if host.hasPrefix("["), host.hasSuffix("]") { host = host.dropFirst().dropLast() }
        return try? SocketAddress(ipAddress: String(host), port: port)
    }

    // MARK: Channel events

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        if !socket.register(self) { context.close(promise: nil) }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
        incoming = MessageQueue()
        outgoing = MessageQueue()
    }

    func channelActive(context: ChannelHandlerContext) {
        let peer = PeerInfo(socketType: socket.type, identity: nil, metadata: Metadata(), minorVersion: 1, mechanism: "NULL")
        guard let pipe = socket.attach(self, peer: peer, connectPipe: connecter?.pipe) else {
            context.close(promise: nil)
            return
        }
        self.pipe = pipe
        connecter?.handshakeCompleted()
        socket.connectionLog.record(SocketEvent(connecter == nil ? .accepted : .connected, endpoint: endpoint, peerAddress: peerAddress))
        context.fireChannelActive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let envelope = unwrapInboundIn(data)
        guard let pipe else { return }
        var datagram = envelope.data
        socket.octets.received.add(datagram.readableBytes, ordering: .relaxed)
        guard datagram.readableBytes <= UDPTransport.datagramLimit else {
            socket.countDrop(.tooLarge, at: pipe)
            return
        }
        if addressed {
            let sender = Self.text(envelope.remoteAddress) ?? ""
            incoming.append(Message([Frame(sender), Frame(buffer: datagram)]))
        } else {
            guard let length = datagram.readInteger(as: UInt8.self), let group = datagram.readSlice(length: Int(length)) else {
                socket.countDrop(.malformed, at: pipe)
                return
            }
            incoming.append(Message([Frame(buffer: group), Frame(buffer: datagram)]))
        }
        if socket.deliver(&incoming, from: pipe) { readGate.pause() }
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable { drain() }
        context.fireChannelWritabilityChanged()
    }

    func channelInactive(context: ChannelHandlerContext) {
        if let pipe {
            socket.detach(self, from: pipe)
            self.pipe = nil
        }
        socket.unregister(self)
        connecter?.connectionLost(afterHandshake: true)
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        // A datagram refused on the way (ICMP port unreachable) is not the channel's end.
        socket.logger.debug("udp error", metadata: ["endpoint": "\(endpoint)", "error": "\(error)"])
    }

    func read(context: ChannelHandlerContext) {
        readGate.read(context)
    }

    // MARK: Sending

    private func drain() {
        guard let context, let pipe, context.channel.isActive else { return }
        while context.channel.isWritable {
            guard let taken = socket.takeOutbound(from: pipe, into: &outgoing) else { return }
            var octets = 0
            while let message = outgoing.popFirst() {
                guard !listensOnly, message.count == 2 else { continue }
                let datagram: ByteBuffer
                let target: SocketAddress
                if addressed {
                    guard let address = Self.address(message[0]) else { continue }
                    target = address
                    datagram = message[1].buffer
                } else {
                    guard let destination else { continue }
                    target = destination
                    var buffer = context.channel.allocator.buffer(capacity: 1 + message[0].count + message[1].count)
                    buffer.writeInteger(UInt8(truncatingIfNeeded: message[0].count))
                    message[0].write(into: &buffer)
                    message[1].write(into: &buffer)
                    datagram = buffer
                }
                octets += datagram.readableBytes
                context.write(wrapOutboundOut(AddressedEnvelope(remoteAddress: target, data: datagram)), promise: nil)
            }
            socket.octets.sent.add(octets, ordering: .relaxed)
            // A datagram is handed to the kernel whole or not at all: nothing to wait for.
            context.flush()
            if taken.reportWhenWritten { socket.batchWritten(from: pipe) }
        }
    }

    // MARK: PipeEngine

    func scheduleDrain() {
        eventLoop.execute { self.drain() }
    }

    /// A datagram is handed to the kernel whole or not at all: nothing is ever half written.
    func whenFlushed(_ done: @escaping @Sendable () -> Void) {
        eventLoop.execute { done() }
    }
}
