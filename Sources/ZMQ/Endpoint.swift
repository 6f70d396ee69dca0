/// Where a socket binds or connects: `tcp://host:port`, `ipc://path` or `inproc://name`.
public enum Endpoint: Sendable, Hashable, CustomStringConvertible {
    /// `host` is an IPv4 or IPv6 address, a host name, or `*` (every interface, bind only).
    /// `port` 0 asks the system for a free port (written `*` or `0`, bind only).
    case tcp(host: String, port: Int)
    /// A Unix domain socket at `path`.
    case ipc(path: String)
    /// A pipe between sockets of one context.
    case inproc(name: String)

    public init(_ string: String) throws(ZMQError) {
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
        switch self {
        case .tcp(let host, let port):
            let shown = host.contains(":") ? "[\(host)]" : host
            return "tcp://\(shown):\(port == 0 ? "*" : String(port))"
        case .ipc(let path): return "ipc://\(path)"
        case .inproc(let name): return "inproc://\(name)"
        }
    }
}
