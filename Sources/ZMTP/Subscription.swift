import NIOCore

/// A subscribe or cancel request from a SUB or XSUB peer, in either of its wire forms
/// (29/PUBSUB, 37/ZMTP "The Publish-Subscribe Pattern"):
///
/// - ZMTP 3.0: a one-frame data message, `0x01` + topic to subscribe, `0x00` + topic to cancel;
/// - ZMTP 3.1: a SUBSCRIBE or CANCEL command whose data is the topic.
///
/// Inside the library a subscription travels as the 3.0-form message, as libzmq's do: that is
/// what XPUB hands the application and what XSUB takes from it. Only the encoder for a 3.1
/// peer turns it into a command.
public struct Subscription: Sendable, Hashable {
    public var isSubscribe: Bool
    /// The prefix the first frame of a message must start with; empty matches every message.
    public var topic: [UInt8]

    public init(subscribe: Bool, topic: [UInt8]) {
        self.isSubscribe = subscribe
        self.topic = topic
    }

    /// Reads the 3.0 form: a one-frame message starting with `0x01` or `0x00`. Any other message
    /// (several frames, empty, another first octet) is not a subscription.
    public init?(_ message: Message) {
        guard case .single(let frame) = message.storage else { return nil }
        let parsed: (Bool, [UInt8])? = frame.withUnsafeBytes { bytes in
            guard let first = bytes.first, first <= 1 else { return nil }
            return (first == 1, Array(bytes.dropFirst()))
        }
        guard let (isSubscribe, topic) = parsed else { return nil }
        self.init(subscribe: isSubscribe, topic: topic)
    }

    /// Reads a SUBSCRIBE or CANCEL command.
    public init?(_ command: Command) {
        switch command {
        case .subscribe(let topic): self.init(subscribe: true, topic: Array(topic.readableBytesView))
        case .cancel(let topic): self.init(subscribe: false, topic: Array(topic.readableBytesView))
        default: return nil
        }
    }

    /// Reads a DISH's JOIN or LEAVE command (37/ZMTP "The Radio-Dish Pattern"). A group
    /// membership travels inside the library as a subscription to the group, in the same
    /// message form; only DISH and RADIO read it as one.
    public init?(membership command: Command) {
        // A group is at most 255 octets (48/RADIO-DISH): a longer one is no membership at all.
        guard case .unknown(let name, let data) = command, name == "JOIN" || name == "LEAVE", data.readableBytes <= 255 else { return nil }
        self.init(subscribe: name == "JOIN", topic: Array(data.readableBytesView))
    }

    /// The JOIN or LEAVE command for this group membership.
    public var membershipCommand: Command {
        .unknown(name: isSubscribe ? "JOIN" : "LEAVE", data: ByteBuffer(bytes: topic))
    }

    /// The 3.0 form, a one-frame message.
    public var message: Message {
        Message(Frame([isSubscribe ? 1 : 0] + topic))
    }

    /// The 3.1 form, a command.
    public var command: Command {
        let data = ByteBuffer(bytes: topic)
        return isSubscribe ? .subscribe(data) : .cancel(data)
    }
}
