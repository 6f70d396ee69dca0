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
    /// Whether a socket of `type` whose connections carry `framing` can use this transport, and
    /// if not, why.
    func refusal(for type: SocketType, framing: SocketType.Framing, binding: Bool) -> String?
    /// Starts accepting connections at `endpoint` for `socket`.
    func bind(_ endpoint: Endpoint, socket: ZMQSocket) async throws(ZMQError) -> any Binding
    /// Starts keeping `connecter`'s endpoint connected.
    func connect(_ connecter: Connecter)
    /// `connecter` was disconnected: forget anything kept for it.
    func forget(_ connecter: Connecter)
    /// The most octets one message may take here (udp's datagrams); nil for no limit.
    var datagramLimit: Int? { get }
}

extension EndpointTransport {
    func checkConnect(_ address: Endpoint.Address, endpoint: String) throws(ZMQError) {}
    func refusal(for type: SocketType, framing: SocketType.Framing, binding: Bool) -> String? {
        framing == .datagram ? "\(scheme) cannot carry \(type)'s datagrams; use udp" : nil
    }
    func connect(_ connecter: Connecter) { connecter.start() }
    func forget(_ connecter: Connecter) {}
    var datagramLimit: Int? { nil }
}

/// A transport whose connections are NIO channels, dialled by a `Connecter` with retries.
protocol ChannelTransport: EndpointTransport {
    /// Opens one connection to `connecter`'s endpoint (for udp, the channel it sends from).
    func dial(_ connecter: Connecter) -> EventLoopFuture<any Channel>
}

/// Every transport this library has, by scheme.
enum Transports {
    static let all: [any EndpointTransport] = [TCPTransport(), IPCTransport(), InprocTransport(), UDPTransport()]

    static func named(_ scheme: some StringProtocol) -> (any EndpointTransport)? {
        all.first { $0.scheme == scheme }
    }

    /// "tcp, ipc, inproc and udp", for error messages.
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
