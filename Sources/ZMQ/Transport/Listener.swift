import Foundation
import NIOCore

/// A tcp or ipc endpoint accepting connections for one socket.
final class ChannelListener: Binding {
    let boundEndpoint: String
    let requestedEndpoint: Endpoint
    private let channel: any Channel
    private let accepted: AcceptedChannels
    /// The ipc socket file, removed when the listener closes.
    private let socketFile: SocketFile?

    init(boundEndpoint: String, requested: Endpoint, channel: any Channel, accepted: AcceptedChannels, socketFile: SocketFile? = nil) {
        self.boundEndpoint = boundEndpoint
        self.requestedEndpoint = requested
        self.channel = channel
        self.accepted = accepted
        self.socketFile = socketFile
    }

    func closeAccepted() async {
        await accepted.closeAll()
    }

    func close() async {
        // The file goes first, while this listener still holds the path: another socket can
        // only bind there after that, so the file it makes is never the one removed.
        socketFile?.remove()
        try? await channel.close()
    }
}

/// The file an ipc listener made, known by its device and inode, so that closing removes that
/// file and never one another socket or process has since put at the same path.
struct SocketFile: Sendable {
    let path: String
    private let identity: Identity

    private struct Identity: Equatable {
        var device: UInt64
        var inode: UInt64
    }

    /// The file now at `path`; nil if there is none.
    init?(at path: String) {
        guard let identity = Self.identity(of: path) else { return nil }
        (self.path, self.identity) = (path, identity)
    }

    /// Removes the file, if it is still the one this listener made.
    func remove() {
        guard Self.identity(of: path) == identity else { return }
        unlink(path)
    }

    private static func identity(of path: String) -> Identity? {
        var status = stat()
        guard lstat(path, &status) == 0 else { return nil }
        return Identity(device: UInt64(status.st_dev), inode: UInt64(status.st_ino))
    }
}
