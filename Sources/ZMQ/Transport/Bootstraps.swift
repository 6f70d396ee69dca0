#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix

/// The NIO plumbing for tcp and ipc: what every stream connection gets, whichever side opened it.
enum StreamBootstraps {
    /// NIO queues up to this much before a channel turns unwritable (and the engine stops taking
    /// messages from the pipe). NIO's default of 64 KiB lets the kernel's send buffer run dry
    /// between large messages; 1 MiB keeps it full while still bounding memory per connection.
    static let writeBufferWaterMark = ChannelOptions.Types.WriteBufferWaterMark(low: 256 * 1024, high: 1024 * 1024)

    /// Reads grow with the traffic up to 256 KiB (NIO's default stops at 64 KiB): large frames
    /// then arrive in a few reads rather than dozens.
    static let receiveAllocator = AdaptiveRecvByteBufferAllocator(minimum: 64, initial: 2048, maximum: 256 * 1024)

    /// Adds the engine the socket's connections need to a new channel: ZMTP, or raw octets for
    /// STREAM (and ROUTER with `routerRaw`).
    static func initialize(_ channel: any Channel, socket: ZMQSocket, connecter: Connecter?, endpoint: String, tcp: Bool) -> EventLoopFuture<Void> {
        let options = socket.options
        return channel.eventLoop.makeCompletedFuture {
            if tcp { try tuneKeepalive(channel, options: options) }
            try setBufferSizes(channel, options: options, tcp: tcp)
            switch socket.framing(options) {
            case .zmtp:
                let engine = ZMTPEngine(socket: socket, connecter: connecter, endpoint: endpoint, eventLoop: channel.eventLoop, options: options)
                try channel.pipeline.syncOperations.addHandler(engine)
            case .raw:
                let engine = RawEngine(socket: socket, connecter: connecter, endpoint: endpoint, eventLoop: channel.eventLoop)
                try channel.pipeline.syncOperations.addHandler(engine)
            case .datagram:
                preconditionFailure("datagram sockets use udp, which refuses them before any stream connects")
            }
        }
    }

    /// TCP keepalive as libzmq's `tune_tcp_keepalives` sets it: nothing unless `tcpKeepalive` is
    /// set, then the count, idle time and interval that are set.
    static func tuneKeepalive(_ channel: any Channel, options: SocketOptions) throws {
        guard let keepalive = options.tcpKeepalive, let sync = channel.syncOptions else { return }
        try sync.setOption(.socketOption(.so_keepalive), value: keepalive ? 1 : 0)
        if let count = options.tcpKeepaliveCount {
            try sync.setOption(.tcpOption(NIOBSDSocket.Option(rawValue: CInt(TCP_KEEPCNT))), value: count)
        }
        if let idle = options.tcpKeepaliveIdle {
            #if canImport(Darwin)
            let idleOption = TCP_KEEPALIVE  // Darwin's name for the idle time
            #else
            let idleOption = TCP_KEEPIDLE
            #endif
            try sync.setOption(.tcpOption(NIOBSDSocket.Option(rawValue: CInt(idleOption))), value: Int(idle.components.seconds))
        }
        if let interval = options.tcpKeepaliveInterval {
            try sync.setOption(.tcpOption(NIOBSDSocket.Option(rawValue: CInt(TCP_KEEPINTVL))), value: Int(interval.components.seconds))
        }
    }

    /// The kernel's send and receive buffers the options ask for (`sendBufferSize`,
    /// `receiveBufferSize`), as socket options; none for a size left to the system.
    static func bufferSizeOptions(_ options: SocketOptions, tcp: Bool) -> [(ChannelOptions.Types.SocketOption, SocketOptionValue)] {
        let sizes = options.kernelBufferSizes(tcp: tcp)
        return [(NIOBSDSocket.Option.so_sndbuf, sizes.send), (.so_rcvbuf, sizes.receive)].compactMap { name, size in
            guard let size, size > 0 else { return nil }
            return (ChannelOptions.socketOption(name), SocketOptionValue(size))
        }
    }

    static func setBufferSizes(_ channel: any Channel, options: SocketOptions, tcp: Bool) throws {
        guard let sync = channel.syncOptions else { return }
        for (option, value) in bufferSizeOptions(options, tcp: tcp) { try sync.setOption(option, value: value) }
    }

    /// A client bootstrap for `connecter`'s tcp or ipc endpoint, set up for its socket.
    static func clientBootstrap(for connecter: Connecter, tcp: Bool) -> ClientBootstrap {
        let socket = connecter.socket
        let name = connecter.endpoint.description
        return ClientBootstrap(group: socket.eventLoop)
            .connectTimeout(TimeAmount(socket.options.connectTimeout ?? .seconds(30)))
            .channelOption(.writeBufferWaterMark, value: writeBufferWaterMark)
            .channelOption(.recvAllocator, value: receiveAllocator)
            .channelInitializer { channel in
                initialize(channel, socket: socket, connecter: connecter, endpoint: name, tcp: tcp)
            }
    }

    static func serverBootstrap(on eventLoop: any EventLoop, socket: ZMQSocket, tcp: Bool, accepted: AcceptedChannels) -> ServerBootstrap {
        var bootstrap = ServerBootstrap(group: eventLoop)
            .serverChannelOption(.backlog, value: 256)
            .serverChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(AcceptFailureReporter(socket: socket, accepted: accepted))
                }
            }
            .childChannelOption(.writeBufferWaterMark, value: writeBufferWaterMark)
            .childChannelOption(.recvAllocator, value: receiveAllocator)
            .childChannelInitializer { channel in
                accepted.add(channel)
                // An accept can come before `bind` has returned and filled in the endpoint.
                var endpoint = accepted.boundEndpoint
                if endpoint.isEmpty { endpoint = channel.localAddress.flatMap(ZMTPEngine.describe) ?? "" }
                return initialize(channel, socket: socket, connecter: nil, endpoint: endpoint, tcp: tcp)
            }
        if tcp {
            bootstrap = bootstrap
                .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
                .childChannelOption(.tcpOption(.tcp_nodelay), value: 1)
            // An accepted tcp socket starts with its listener's buffers, which size the window
            // its SYN-ACK offers; `initialize` sets the accepted socket's too, as for ipc.
            for (option, value) in bufferSizeOptions(socket.options, tcp: true) {
                bootstrap = bootstrap.serverChannelOption(option, value: value)
            }
        }
        return bootstrap
    }
}

/// The connections a listener accepted and that are still open, so that `unbind` can close
/// them, as libzmq's does.
final class AcceptedChannels: Sendable {
    private let channels = NIOLockedValueBox<[ObjectIdentifier: any Channel]>([:])
    private let bound = NIOLockedValueBox("")

    /// The endpoint `bind` returned, which the monitor events of these connections name; set
    /// once the listener is bound, before the first connection is accepted.
    var boundEndpoint: String {
        get { bound.withLockedValue { $0 } }
        set { bound.withLockedValue { $0 = newValue } }
    }

    func add(_ channel: any Channel) {
        let id = ObjectIdentifier(channel)
        channels.withLockedValue { $0[id] = channel }
        channel.closeFuture.whenComplete { _ in self.channels.withLockedValue { $0[id] = nil } }
    }

    func closeAll() async {
        for channel in channels.withLockedValue({ Array($0.values) }) {
            try? await channel.close()
        }
    }
}

/// Reports what the listening channel could not accept (NIO passes accept errors, such as
/// running out of file descriptors, down the server channel's pipeline).
final class AcceptFailureReporter: ChannelInboundHandler, Sendable {
    typealias InboundIn = any Channel
    private let socket: ZMQSocket
    private let accepted: AcceptedChannels

    init(socket: ZMQSocket, accepted: AcceptedChannels) {
        self.socket = socket
        self.accepted = accepted
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        let endpoint = accepted.boundEndpoint
        let failure = ZMQError.transport(error, endpoint: endpoint, doing: "accept")
        socket.connectionLog.record(SocketEvent(.acceptFailed, endpoint: endpoint, error: failure))
        context.fireErrorCaught(error)
    }
}
