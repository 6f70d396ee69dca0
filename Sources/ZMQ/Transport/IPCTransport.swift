import Foundation
import NIOCore
import NIOPosix

/// `ipc://path`: a Unix domain socket. A socket file left behind by a process that died is
/// replaced on bind; one a live process still accepts on is an address in use. Closing removes
/// the file this socket made, and never one another socket has bound at the path since.
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
        let descriptor = try Self.boundSocket(at: path, endpoint: endpoint)
        let file = SocketFile(at: path)
        do {
            accepted.boundEndpoint = endpoint.description
            // NIO takes the descriptor and listens on it; bound by NIO, the path's file would be
            // removed after the close, even one another socket had bound there meanwhile.
            let channel = try await bootstrap.withBoundSocket(descriptor).get()
            return ChannelListener(boundEndpoint: endpoint.description, requested: endpoint, channel: channel,
                                   accepted: accepted, socketFile: file)
        } catch {
            file?.remove()
            throw .transport(error, endpoint: endpoint.description, doing: "bind")
        }
    }

    /// A Unix stream socket bound at `path`, not yet listening.
    private static func boundSocket(at path: String, endpoint: Endpoint) throws(ZMQError) -> CInt {
        let descriptor = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard descriptor >= 0 else { throw .fromErrno(errno, endpoint: endpoint.description, doing: "bind") }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        // The parser has checked that the path fits, with its NUL.
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            path.utf8CString.withUnsafeBytes { raw.copyMemory(from: $0) }
        }
        let result = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.bind(descriptor, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard result == 0 else {
            let code = errno
            Glibc.close(descriptor)
            throw .fromErrno(code, endpoint: endpoint.description, doing: "bind")
        }
        return descriptor
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
