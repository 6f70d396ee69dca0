/// Where a socket binds or connects: `tcp://host:port`, `ipc://path`, `inproc://name` or
/// `udp://[interface;]host:port`.
/// A struct rather than an enum, so that transports can be added without breaking a `switch`.
public struct Endpoint: Sendable, Hashable, CustomStringConvertible {
    enum Address: Sendable, Hashable {
        /// `host` is an IPv4 or IPv6 address, a host name, an interface name, or `*` (every
        /// interface, bind only). `port` 0 asks the system for a free port (`*`, bind only).
        case tcp(host: String, port: Int)
        /// A Unix domain socket at `path`.
        case ipc(path: String)
        /// A pipe between sockets of one context.
        case inproc(name: String)
        /// Datagrams to or from `host:port` (a multicast group joined on `interface`, if given).
        case udp(interface: String?, host: String, port: Int)
    }

    let address: Address

    public static func tcp(host: String, port: Int) -> Endpoint { Endpoint(address: .tcp(host: host, port: port)) }
    public static func ipc(path: String) -> Endpoint { Endpoint(address: .ipc(path: path)) }
    public static func inproc(name: String) -> Endpoint { Endpoint(address: .inproc(name: name)) }

    init(address: Address) { self.address = address }

    /// The transport: `tcp`, `ipc` or `inproc`.
    public var transport: String {
        switch address {
        case .tcp: return "tcp"
        case .ipc: return "ipc"
        case .inproc: return "inproc"
        case .udp: return "udp"
        }
    }

    /// The tcp host (without brackets for IPv6), the ipc path or the inproc name.
    public var host: String {
        switch address {
        case .tcp(let host, _): return host
        case .ipc(let path): return path
        case .inproc(let name): return name
        case .udp(_, let host, _): return host
        }
    }

    /// The tcp or udp port (0 for `*`); nil for the other transports.
    public var port: Int? {
        switch address {
        case .tcp(_, let port), .udp(_, _, let port): return port
        default: return nil
        }
    }

    /// Parses `transport://address`; throws `ZMQError` (`invalidEndpoint`) saying what is wrong.
    public init(_ string: String) throws {
        try self.init(parsing: string)
    }

    init(parsing string: String) throws(ZMQError) {
        guard let schemeEnd = string.range(of: "://") else {
            throw .invalidEndpoint(string, reason: "expected transport://address, e.g. tcp://127.0.0.1:5555")
        }
        let scheme = string[..<schemeEnd.lowerBound]
        guard let transport = Transports.named(scheme) else {
            throw .invalidEndpoint(string, reason: "unknown transport '\(scheme)' (\(Transports.names) are supported)")
        }
        self.init(address: try transport.parse(String(string[schemeEnd.upperBound...]), endpoint: string))
    }

    /// The transport that carries this endpoint's connections.
    var carrier: any EndpointTransport { Transports.named(transport)! }

    public var description: String {
        switch address {
        case .tcp(let host, let port):
            let shown = host.contains(":") ? "[\(host)]" : host
            return "tcp://\(shown):\(port == 0 ? "*" : String(port))"
        case .ipc(let path): return "ipc://\(path)"
        case .inproc(let name): return "inproc://\(name)"
        case .udp(let interface, let host, let port):
            let shown = host.contains(":") ? "[\(host)]" : host
            return "udp://" + (interface.map { $0 + ";" } ?? "") + "\(shown):\(port == 0 ? "*" : String(port))"
        }
    }
}
