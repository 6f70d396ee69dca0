import Foundation
import NIOCore

/// A tcp or ipc endpoint accepting connections for one socket.
final class ChannelListener: Binding {
    let boundEndpoint: String
    let requestedEndpoint: Endpoint
    private let channel: any Channel
    private let accepted: AcceptedChannels
    /// The ipc socket file, removed when the listener closes.
    private let removesOnClose: String?

    init(boundEndpoint: String, requested: Endpoint, channel: any Channel, accepted: AcceptedChannels, removesOnClose: String? = nil) {
        self.boundEndpoint = boundEndpoint
        self.requestedEndpoint = requested
        self.channel = channel
        self.accepted = accepted
        self.removesOnClose = removesOnClose
    }

    func closeAccepted() async {
        await accepted.closeAll()
    }

    func close() async {
        try? await channel.close()
        if let removesOnClose { unlink(removesOnClose) }
    }
}
