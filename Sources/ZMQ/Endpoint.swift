/// Where a socket binds or connects: `tcp://host:port`, `ipc://path` or `inproc://name`.
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
    }

    let address: Address

    public static func tcp(host: String, port: Int) -> Endpoint { Endpoint(address: .tcp(host: host, port: port)) }
    public static func ipc(path: String) -> Endpoint { Endpoint(address: .ipc(path: path)) }
    public static func inproc(name: String) -> Endpoint { Endpoint(address: .inproc(name: name)) }

    private init(address: Address) { self.address = address }

    /// The transport: `tcp`, `ipc` or `inproc`.
    public var transport: String {
        switch address {
        case .tcp: return "tcp"
        case .ipc: return "ipc"
        case .inproc: return "inproc"
        }
    }

    /// The tcp host (without brackets for IPv6), the ipc path or the inproc name.
    public var host: String {
        switch address {
        case .tcp(let host, _): return host
        case .ipc(let path): return path
        case .inproc(let name): return name
        }
    }

    /// The tcp port (0 for `*`); nil for the other transports.
    public var port: Int? {
        if case .tcp(_, let port) = address { return port }
        return nil
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
        let address = String(string[schemeEnd.upperBound...])
        switch scheme {
        case "tcp":
            self = try Self.parseTCP(address, endpoint: string)
        case "ipc":
            guard !address.isEmpty else { throw .invalidEndpoint(string, reason: "ipc needs a path") }
            // 108 octets is sun_path's size on Linux, including the terminating NUL.
            guard address.utf8.count < 108 else {
                throw .invalidEndpoint(string, reason: "ipc path is longer than 107 octets")
            }
            self = .ipc(path: address)
        case "inproc":
            guard !address.isEmpty else { throw .invalidEndpoint(string, reason: "inproc needs a name") }
            self = .inproc(name: address)
        default:
            throw .invalidEndpoint(string, reason: "unknown transport '\(scheme)' (tcp, ipc and inproc are supported)")
        }
    }

    private static func parseTCP(_ address: String, endpoint: String) throws(ZMQError) -> Endpoint {
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

    public var description: String {
        switch address {
        case .tcp(let host, let port):
            let shown = host.contains(":") ? "[\(host)]" : host
            return "tcp://\(shown):\(port == 0 ? "*" : String(port))"
        case .ipc(let path): return "ipc://\(path)"
        case .inproc(let name): return "inproc://\(name)"
        }
    }
}
