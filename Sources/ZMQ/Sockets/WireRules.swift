import ZMTP

/// What a socket type does differently on a ZMTP connection, in one place: the engines ask
/// here instead of testing socket types themselves. (Inproc links carry messages as they are,
/// so none of these apply there.)
struct WireRules: Sendable {
    /// PUB and XPUB take SUBSCRIBE and CANCEL commands from their peers, as subscription
    /// messages (23/ZMTP 3.1); other types ignore them, as libzmq does.
    let takesSubscriptionCommands: Bool
    /// SUB and XSUB send their subscription messages as commands to a ZMTP 3.1 peer (a 3.0 peer
    /// gets them as messages).
    let sendsSubscriptionCommands: Bool

    init(_ type: SocketType) {
        takesSubscriptionCommands = type.traits.takesSubscriptions
        sendsSubscriptionCommands = type.traits.sendsSubscriptions
    }

    /// Whether subscription messages go as commands to a peer of this ZMTP minor version.
    func subscriptionsAsCommands(peerMinorVersion: UInt8) -> Bool {
        sendsSubscriptionCommands && peerMinorVersion >= 1
    }
}
