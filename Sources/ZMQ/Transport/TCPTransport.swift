import NIOCore
import NIOPosix

/// `tcp://host:port`: `host` is an IPv4 or IPv6 address (IPv6 in brackets), a host name, an
/// interface name, or `*` (every interface, bind only); port `*` or 0 asks the system for a free
/// port (bind only).
struct TCPTransport: ChannelTransport {
    let scheme = "tcp"

    func parse(_ address: String, endpoint: String) throws(ZMQError) -> Endpoint.Address {
        guard let colon = address.lastIndex(of: ":") else {
            throw .invalidEndpoint(endpoint, reason: "tcp needs host:port")
        }
        var host = String(address[..<colon])
        let portText = address[address.index(after: colon)...]
        if host.hasPrefix("[") {
            guard host.hasSuffix("]"), host.count > 2 else {
                throw .invalidEndpoint(endpoint, reason: "unbalanced brackets around the IPv6 address")
            }
            host = String(host.dropFirst().dropLast())
        } else if host.contains(":") {
            throw .invalidEndpoint(endpoint, reason: "write an IPv6 address in brackets, e.g. tcp://[::1]:5555")
        }
        guard !host.isEmpty else { throw .invalidEndpoint(endpoint, reason: "missing host") }
        let port: Int
        if portText == "*" {
            port = 0
        } else if let number = Int(portText), (0...65535).contains(number) {
            port = number
        } else {
            throw .invalidEndpoint(endpoint, reason: "port '\(portText)' is not a number from 0 to 65535 or *")
        }
        return .tcp(host: host, port: port)
    }

    func checkConnect(_ address: Endpoint.Address, endpoint: String) throws(ZMQError) {
        guard case .tcp(let host, let port) = address else { return }
        // libzmq says EINVAL: a wildcard names no peer to dial.
        if host == "*" { throw .invalidEndpoint(endpoint, reason: "connect needs a host, not * (which only bind accepts)") }
        if port == 0 { throw .invalidEndpoint(endpoint, reason: "connect needs a port, not * or 0 (which only bind accepts)") }
    }

    func bind(_ endpoint: Endpoint, socket: ZMQSocket) async throws(ZMQError) -> any Binding {
        guard case .tcp(let host, let port) = endpoint.address else { preconditionFailure("not a tcp endpoint") }
        let bindHost = try Self.interfaceAddress(host, endpoint: endpoint)
        let accepted = AcceptedChannels()
        let bootstrap = StreamBootstraps.serverBootstrap(on: socket.eventLoop, socket: socket, tcp: true, accepted: accepted)
        let channel: any Channel
        do {
            channel = try await bootstrap.bind(host: bindHost, port: port).get()
        } catch {
            throw .transport(error, endpoint: endpoint.description, doing: "bind")
        }
        let actualPort = channel.localAddress?.port ?? port
        let bound = Endpoint.tcp(host: bindHost, port: actualPort).description
        accepted.boundEndpoint = bound
        return ChannelListener(boundEndpoint: bound, requested: endpoint, channel: channel, accepted: accepted)
    }

    func dial(_ connecter: Connecter) -> EventLoopFuture<any Channel> {
        guard case .tcp(let host, let port) = connecter.endpoint.address else { preconditionFailure("not a tcp endpoint") }
        return StreamBootstraps.clientBootstrap(for: connecter, tcp: true)
            .channelOption(.tcpOption(.tcp_nodelay), value: 1)
            .connect(host: host, port: port)
    }

    /// The address to bind for `host`: `*` is every IPv4 interface, an interface name (`lo`,
    /// `eth0`) its first IPv4 address (else its first IPv6 one), as libzmq binds them; anything
    /// else is taken as an address.
    static func interfaceAddress(_ host: String, endpoint: Endpoint) throws(ZMQError) -> String {
        if host == "*" { return "0.0.0.0" }
        if host.contains(":") || host.first.map({ $0.isNumber }) == true { return host }
        let devices = (try? System.enumerateDevices()) ?? []
        let named = devices.filter { $0.name == host }.compactMap(\.address)
        guard !named.isEmpty else { return host }
        let address = named.first { $0.protocol == .inet } ?? named[0]
        guard let ip = address.ipAddress else {
            throw .invalidEndpoint(endpoint.description, reason: "interface \(host) has no IP address")
        }
        return ip
    }
}
