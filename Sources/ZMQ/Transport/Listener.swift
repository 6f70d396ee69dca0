import Foundation
import NIOCore
import NIOPosix

/// A bound endpoint accepting connections for one socket.
final class Listener: Sendable {
    let boundEndpoint: String
    private let channel: (any Channel)?
    private let inprocName: String?
    private let ipcPath: String?
    private let context: ZMQContext?
    /// The endpoint as `bind` was given it (with `*` for an ephemeral port).
    let requestedEndpoint: Endpoint
    private let accepted: AcceptedChannels

    private init(boundEndpoint: String, requested: Endpoint, channel: (any Channel)?, accepted: AcceptedChannels = AcceptedChannels(),
                 inprocName: String? = nil, ipcPath: String? = nil, context: ZMQContext? = nil) {
        self.boundEndpoint = boundEndpoint
        self.requestedEndpoint = requested
        self.accepted = accepted
        self.channel = channel
        self.inprocName = inprocName
        self.ipcPath = ipcPath
        self.context = context
    }

    static func bind(_ endpoint: Endpoint, socket: ZMQSocket) async throws(ZMQError) -> Listener {
        let eventLoop = socket.eventLoop
        switch endpoint.address {
        case .tcp(let host, let port):
            let bindHost = try interfaceAddress(host, endpoint: endpoint)
            let accepted = AcceptedChannels()
            let bootstrap = StreamBootstraps.serverBootstrap(on: eventLoop, socket: socket, tcp: true, accepted: accepted)
            let channel: any Channel
            do {
                channel = try await bootstrap.bind(host: bindHost, port: port).get()
            } catch {
                throw .transport(error, endpoint: endpoint.description, doing: "bind")
            }
            let actualPort = channel.localAddress?.port ?? port
            let bound = Endpoint.tcp(host: bindHost, port: actualPort).description
            accepted.boundEndpoint = bound
            return Listener(boundEndpoint: bound, requested: endpoint, channel: channel, accepted: accepted)
        case .ipc(let path):
            try await removeStaleSocketFile(path, endpoint: endpoint, eventLoop: eventLoop)
            let accepted = AcceptedChannels()
            let bootstrap = StreamBootstraps.serverBootstrap(on: eventLoop, socket: socket, tcp: false, accepted: accepted)
            do {
                accepted.boundEndpoint = endpoint.description
                let channel = try await bootstrap.bind(unixDomainSocketPath: path).get()
                return Listener(boundEndpoint: endpoint.description, requested: endpoint, channel: channel, accepted: accepted, ipcPath: path)
            } catch {
                throw .transport(error, endpoint: endpoint.description, doing: "bind")
            }
        case .inproc(let name):
            try socket.context.inproc.bind(name, socket: socket)
            return Listener(boundEndpoint: endpoint.description, requested: endpoint, channel: nil, inprocName: name, context: socket.context)
        }
    }

    /// The address to bind for `host`: `*` is every IPv4 interface, an interface name (`lo`,
    /// `eth0`) its first IPv4 address (else its first IPv6 one), as libzmq binds them; anything
    /// else is taken as an address.
    private static func interfaceAddress(_ host: String, endpoint: Endpoint) throws(ZMQError) -> String {
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

    /// A socket file left by a process that died is removed; one that a live process still
    /// accepts on is an address in use.
    private static func removeStaleSocketFile(_ path: String, endpoint: Endpoint, eventLoop: any EventLoop) async throws(ZMQError) {
        guard FileManager.default.fileExists(atPath: path) else { return }
        let probe = try? await ClientBootstrap(group: eventLoop)
            .connectTimeout(.seconds(1))
            .connect(unixDomainSocketPath: path).get()
        if let probe {
            try? await probe.close()
            throw .addressInUse(endpoint.description)
        }
        unlink(path)
    }

    /// Whether `endpoint`, as given to `unbind`, names this listener: the endpoint it reported
    /// from `bind`, or the one `bind` was given.
    func matches(_ endpoint: String) -> Bool {
        endpoint == boundEndpoint || (try? Endpoint(parsing: endpoint)) == requestedEndpoint
    }

    /// Closes the connections accepted here (inproc peers are unlinked by the socket).
    func closeAccepted() async {
        await accepted.closeAll()
    }

    func close() async {
        if let channel {
            try? await channel.close()
        }
        if let ipcPath {
            unlink(ipcPath)
        }
        if let inprocName, let context {
            context.inproc.unbind(inprocName)
        }
    }
}
