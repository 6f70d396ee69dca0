import Foundation
import NIOCore
import NIOPosix

/// `ipc://path`: a Unix domain socket. A socket file left behind by a process that died is
/// replaced on bind; one a live process still accepts on is an address in use.
struct IPCTransport: ChannelTransport {
    let scheme = "ipc"

    func parse(_ address: String, endpoint: String) throws(ZMQError) -> Endpoint.Address {
        guard !address.isEmpty else { throw .invalidEndpoint(endpoint, reason: "ipc needs a path") }
        // 108 octets is sun_path's size on Linux, including the terminating NUL.
        guard address.utf8.count < 108 else {
            throw .invalidEndpoint(endpoint, reason: "ipc path is longer than 107 octets")
        }
        return .ipc(path: address)
    }

    func bind(_ endpoint: Endpoint, socket: ZMQSocket) async throws(ZMQError) -> any Binding {
        guard case .ipc(let path) = endpoint.address else { preconditionFailure("not an ipc endpoint") }
        try await Self.removeStaleSocketFile(path, endpoint: endpoint, eventLoop: socket.eventLoop)
        let accepted = AcceptedChannels()
        let bootstrap = StreamBootstraps.serverBootstrap(on: socket.eventLoop, socket: socket, tcp: false, accepted: accepted)
        do {
            accepted.boundEndpoint = endpoint.description
            let channel = try await bootstrap.bind(unixDomainSocketPath: path).get()
            return ChannelListener(boundEndpoint: endpoint.description, requested: endpoint, channel: channel,
                                   accepted: accepted, removesOnClose: path)
        } catch {
            throw .transport(error, endpoint: endpoint.description, doing: "bind")
        }
    }

    func dial(_ connecter: Connecter) -> EventLoopFuture<any Channel> {
        guard case .ipc(let path) = connecter.endpoint.address else { preconditionFailure("not an ipc endpoint") }
        return StreamBootstraps.clientBootstrap(for: connecter, tcp: false).connect(unixDomainSocketPath: path)
    }

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
}
