import NIOCore
import NIOPosix

/// One way of carrying a socket's connections: tcp, ipc or inproc. Each lives in a file of its
/// own and is found by its scheme, so the socket, the endpoint parser and the bootstraps never
/// switch on transport names.
protocol EndpointTransport: Sendable {
    /// The scheme before `://`.
    var scheme: String { get }
    /// Parses what follows `scheme://` in `endpoint`; throws `invalidEndpoint` saying what is wrong.
    func parse(_ address: String, endpoint: String) throws(ZMQError) -> Endpoint.Address
    /// Refuses an address that names no peer to dial (tcp's `*`).
    func checkConnect(_ address: Endpoint.Address, endpoint: String) throws(ZMQError)
    /// Whether connections of `framing` can travel here (inproc carries only ZMTP-style messages).
    func carries(_ framing: SocketType.Framing) -> Bool
    /// Starts accepting connections at `endpoint` for `socket`.
    func bind(_ endpoint: Endpoint, socket: ZMQSocket) async throws(ZMQError) -> any Binding
    /// Starts keeping `connecter`'s endpoint connected.
    func connect(_ connecter: Connecter)
    /// `connecter` was disconnected: forget anything kept for it.
    func forget(_ connecter: Connecter)
}

extension EndpointTransport {
    func checkConnect(_ address: Endpoint.Address, endpoint: String) throws(ZMQError) {}
    func carries(_ framing: SocketType.Framing) -> Bool { true }
    func connect(_ connecter: Connecter) { connecter.start() }
    func forget(_ connecter: Connecter) {}
}

/// A transport whose connections are NIO channels, dialled by a `Connecter` with retries.
protocol ChannelTransport: EndpointTransport {
    /// Opens one connection to `address` with `bootstrap`, already set up for the socket.
    func dial(_ address: Endpoint.Address, with bootstrap: ClientBootstrap) -> EventLoopFuture<any Channel>
    /// Whether connections are tcp (tcp options such as keepalive and nodelay apply).
    var isTCP: Bool { get }
}

/// Every transport this library has, by scheme.
enum Transports {
    static let all: [any EndpointTransport] = [TCPTransport(), IPCTransport(), InprocTransport()]

    static func named(_ scheme: some StringProtocol) -> (any EndpointTransport)? {
        all.first { $0.scheme == scheme }
    }

    /// "tcp, ipc and inproc", for error messages.
    static var names: String {
        let schemes = all.map(\.scheme)
        return schemes.dropLast().joined(separator: ", ") + " and " + schemes.last!
    }
}

/// A bound endpoint accepting connections for one socket.
protocol Binding: Sendable {
    /// The endpoint as bound, with an ephemeral port filled in.
    var boundEndpoint: String { get }
    /// The endpoint as `bind` was given it (with `*` for an ephemeral port).
    var requestedEndpoint: Endpoint { get }
    /// Stops accepting.
    func close() async
    /// Closes the connections accepted here, as libzmq's `zmq_unbind` does.
    func closeAccepted() async
}

extension Binding {
    /// Whether `endpoint`, as given to `unbind`, names this binding: the endpoint it reported
    /// from `bind`, or the one `bind` was given.
    func matches(_ endpoint: String) -> Bool {
        endpoint == boundEndpoint || (try? Endpoint(parsing: endpoint)) == requestedEndpoint
    }
}
