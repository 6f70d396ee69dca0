import NIOCore
import NIOPosix

/// `udp://host:port`: one datagram per message, for RADIO (which connects), DISH (which binds)
/// and DGRAM (either). `host` may be a multicast group, joined on bind; `udp://IFACE;group:port`
/// names the interface (by name or address) to join it on, or to send from. `*` binds every
/// interface. A datagram carries at most 8,192 octets, as in libzmq.
struct UDPTransport: ChannelTransport {
    let scheme = "udp"

    /// The largest datagram libzmq sends or takes (its `MAX_UDP_MSG`).
    static let datagramLimit = 8192
    var datagramLimit: Int? { Self.datagramLimit }

    /// One octet more than the limit: a datagram that fills it was longer than any libzmq sends,
    /// and is dropped rather than taken cut short. (NIO's default reads 2,048 octets.)
    static let receiveAllocator = FixedSizeRecvByteBufferAllocator(capacity: datagramLimit + 1)

    func parse(_ address: String, endpoint: String) throws(ZMQError) -> Endpoint.Address {
        var rest = Substring(address)
        var interface: String?
        if let semicolon = rest.firstIndex(of: ";") {
            interface = String(rest[..<semicolon])
            rest = rest[rest.index(after: semicolon)...]
            guard !interface!.isEmpty else { throw .invalidEndpoint(endpoint, reason: "empty interface before ';'") }
        }
        // The host and port follow tcp's rules.
        guard case .tcp(let host, let port) = try TCPTransport().parse(String(rest), endpoint: endpoint) else {
            preconditionFailure("tcp parses to a tcp address")
        }
        return .udp(interface: interface, host: host, port: port)
    }

    func checkConnect(_ address: Endpoint.Address, endpoint: String) throws(ZMQError) {
        guard case .udp(_, let host, let port) = address else { return }
        if host == "*" { throw .invalidEndpoint(endpoint, reason: "connect needs a host, not * (which only bind accepts)") }
        if port == 0 { throw .invalidEndpoint(endpoint, reason: "connect needs a port, not * or 0 (which only bind accepts)") }
        if case .udp(let interface, _, _) = address { _ = try Self.device(interface, endpoint: Endpoint(address: address)) }
    }

    func refusal(for type: SocketType, framing: SocketType.Framing, binding: Bool) -> String? {
        switch type {
        case .dgram: return nil
        case .dish: return binding ? nil : "over udp a DISH binds; its RADIO connects"
        case .radio: return binding ? "over udp a RADIO connects; its DISH binds" : nil
        default: return "udp carries RADIO, DISH and DGRAM only, not \(type)"
        }
    }

    func bind(_ endpoint: Endpoint, socket: ZMQSocket) async throws(ZMQError) -> any Binding {
        guard case .udp(let interface, let host, let port) = endpoint.address else { preconditionFailure("not a udp endpoint") }
        let group = try Self.multicastGroup(host, port: port, endpoint: endpoint)
        let bindHost = group == nil ? try TCPTransport.interfaceAddress(host, endpoint: endpoint) : (host.contains(":") ? "::" : "0.0.0.0")
        let bootstrap = DatagramBootstrap(group: socket.eventLoop)
            .channelOption(.socketOption(.so_reuseaddr), value: 1)
            .channelOption(.recvAllocator, value: Self.receiveAllocator)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let engine = DatagramEngine(socket: socket, connecter: nil, endpoint: endpoint.description, destination: nil)
                    try channel.pipeline.syncOperations.addHandler(engine)
                }
            }
        let device = try Self.device(interface, endpoint: endpoint)
        let channel: any Channel
        do {
            channel = try await bootstrap.bind(host: bindHost, port: port).get()
        } catch {
            throw .transport(error, endpoint: endpoint.description, doing: "bind")
        }
        if let group {
            do {
                guard let multicast = channel as? any MulticastChannel else {
                    throw ZMQError.transportFailure(endpoint: endpoint.description, reason: "this channel cannot join multicast groups")
                }
                try await multicast.joinGroup(group, device: device).get()
            } catch {
                // Nothing may keep listening on an endpoint whose bind failed.
                try? await channel.close()
                throw (error as? ZMQError) ?? .transport(error, endpoint: endpoint.description, doing: "join the multicast group of")
            }
        }
        let bound = Endpoint(udp: interface, host: group == nil ? bindHost : host, port: channel.localAddress?.port ?? port)
        return DatagramBinding(boundEndpoint: bound.description, requested: endpoint, channel: channel)
    }

    /// The channel a RADIO (or a connecting DGRAM) sends from; the messages go to the endpoint.
    func dial(_ connecter: Connecter) -> EventLoopFuture<any Channel> {
        let socket = connecter.socket
        let eventLoop = socket.eventLoop
        guard case .udp(let interface, let host, let port) = connecter.endpoint.address else { preconditionFailure("not a udp endpoint") }
        let group: SocketAddress?
        let device: NIONetworkDevice?
        do {
            group = try Self.multicastGroup(host, port: port, endpoint: connecter.endpoint)
            device = try Self.device(interface, endpoint: connecter.endpoint)
        } catch {
            return eventLoop.makeFailedFuture(error)
        }
        // A host name is looked up off the event loop: getaddrinfo blocks.
        let resolved: EventLoopFuture<SocketAddress>
        if let address = try? SocketAddress(ipAddress: host, port: port) {
            resolved = eventLoop.makeSucceededFuture(address)
        } else {
            resolved = NIOThreadPool.singleton.runIfActive(eventLoop: eventLoop) {
                try SocketAddress.makeAddressResolvingHost(host, port: port)
            }
        }
        return resolved.flatMap { destination in
            Self.open(connecter, to: destination, group: group, device: device)
        }
    }

    /// The channel a RADIO sends from, to `destination`.
    private static func open(_ connecter: Connecter, to destination: SocketAddress, group: SocketAddress?, device: NIONetworkDevice?) -> EventLoopFuture<any Channel> {
        let socket = connecter.socket
        let eventLoop = socket.eventLoop
        let name = connecter.endpoint.description
        let bootstrap = DatagramBootstrap(group: eventLoop)
            .channelOption(.recvAllocator, value: receiveAllocator)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let engine = DatagramEngine(socket: socket, connecter: connecter, endpoint: name, destination: destination)
                    try channel.pipeline.syncOperations.addHandler(engine)
                }
            }
        let sender = destination.protocol == .inet6 ? "::" : "0.0.0.0"
        return bootstrap.bind(host: sender, port: 0).flatMap { channel in
            guard group != nil, let options = channel as? any SocketOptionProvider else {
                return eventLoop.makeSucceededFuture(channel)
            }
            // libzmq's defaults: one hop, and this host hears the group too; sent from the
            // interface named, if one is.
            var settings = [options.setIPMulticastTTL(1), options.setIPMulticastLoop(1)]
            if let address = device?.address.flatMap(inAddr) { settings.append(options.setIPMulticastIF(address)) }
            return EventLoopFuture.andAllSucceed(settings, on: eventLoop).map { channel }.flatMapError { error in
                channel.close(promise: nil)
                return eventLoop.makeFailedFuture(error)
            }
        }
    }

    /// The group address when `host` is an IPv4 multicast address (224.0.0.0/4) or IPv6 (ff00::/8).
    static func multicastGroup(_ host: String, port: Int, endpoint: Endpoint) throws(ZMQError) -> SocketAddress? {
        guard let address = try? SocketAddress(ipAddress: host, port: port) else { return nil }
        switch address {
        case .v4(let v4):
            let first = UInt32(bigEndian: v4.address.sin_addr.s_addr) >> 28
            return first == 0xE ? address : nil
        case .v6:
            return host.lowercased().hasPrefix("ff") ? address : nil
        default:
            return nil
        }
    }

    /// The interface named (or addressed) before ';', as NIO knows it.
    static func device(_ interface: String?, endpoint: Endpoint) throws(ZMQError) -> NIONetworkDevice? {
        guard let interface else { return nil }
        let devices = (try? System.enumerateDevices()) ?? []
        let found = devices.first { $0.name == interface && $0.address?.protocol == .inet }
            ?? devices.first { $0.address?.ipAddress == interface }
            ?? devices.first { $0.name == interface }
        guard let found else { throw .invalidEndpoint(endpoint.description, reason: "no interface named or addressed \(interface)") }
        return found
    }

    private static func inAddr(_ address: SocketAddress) -> in_addr? {
        if case .v4(let v4) = address { return v4.address.sin_addr }
        return nil
    }
}

extension Endpoint {
    init(udp interface: String?, host: String, port: Int) {
        self.init(address: .udp(interface: interface, host: host, port: port))
    }
}

/// A bound udp endpoint: one channel that every datagram arrives on.
final class DatagramBinding: Binding {
    let boundEndpoint: String
    let requestedEndpoint: Endpoint
    private let channel: any Channel

    init(boundEndpoint: String, requested: Endpoint, channel: any Channel) {
        self.boundEndpoint = boundEndpoint
        self.requestedEndpoint = requested
        self.channel = channel
    }

    func close() async {
        try? await channel.close()
    }

    func closeAccepted() async {}
}
