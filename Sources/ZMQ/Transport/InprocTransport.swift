/// `inproc://name`: a pipe between sockets of one context, linked by the context's
/// `InprocRegistry`; bind and connect work in either order. Messages pass as they are, so only
/// ZMTP-style sockets use it (STREAM's raw octets have no meaning here).
struct InprocTransport: EndpointTransport {
    let scheme = "inproc"

    func parse(_ address: String, endpoint: String) throws(ZMQError) -> Endpoint.Address {
        guard !address.isEmpty else { throw .invalidEndpoint(endpoint, reason: "inproc needs a name") }
        return .inproc(name: address)
    }

    func refusal(for type: SocketType, framing: SocketType.Framing, binding: Bool) -> String? {
        switch framing {
        case .zmtp: nil
        case .raw: "inproc cannot carry raw octets (STREAM, routerRaw); use tcp or ipc"
        case .datagram: "inproc cannot carry \(type)'s datagrams; use udp"
        }
    }

    func bind(_ endpoint: Endpoint, socket: ZMQSocket) async throws(ZMQError) -> any Binding {
        guard case .inproc(let name) = endpoint.address else { preconditionFailure("not an inproc endpoint") }
        try socket.context.inproc.bind(name, socket: socket)
        return InprocBinding(name: name, requested: endpoint, socket: socket)
    }

    func connect(_ connecter: Connecter) {
        connecter.socket.context.inproc.connect(connecter)
    }

    func forget(_ connecter: Connecter) {
        connecter.socket.context.inproc.forget(connecter)
    }
}

/// A name bound in the context's inproc registry.
final class InprocBinding: Binding {
    let name: String
    let requestedEndpoint: Endpoint
    unowned let socket: ZMQSocket
    var boundEndpoint: String { requestedEndpoint.description }

    init(name: String, requested: Endpoint, socket: ZMQSocket) {
        self.name = name
        self.requestedEndpoint = requested
        self.socket = socket
    }

    func close() async {
        socket.context.inproc.unbind(name)
    }

    /// Unlinks the peers that connected to this name.
    func closeAccepted() async {
        let links = socket.state.withLock { state in
            state.engines.values.compactMap { $0 as? InprocEngine }.filter { $0.acceptedAt == name }
        }
        for link in links { await link.close() }
    }
}
