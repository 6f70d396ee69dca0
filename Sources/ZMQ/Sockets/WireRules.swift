import ZMTP

/// What a socket type does differently on a ZMTP connection, in one place: the engines ask
/// here instead of testing socket types themselves. (Inproc links carry messages as they are,
/// so none of these apply there.)
///
/// Subscriptions (SUB, XSUB to PUB, XPUB) and group memberships (DISH to RADIO) travel inside
/// the library in one message form, `0x01`/`0x00` + topic or group; on the wire they are
/// SUBSCRIBE/CANCEL and JOIN/LEAVE commands.
struct WireRules: Sendable {
    /// PUB and XPUB take SUBSCRIBE and CANCEL commands from their peers, as subscription
    /// messages (23/ZMTP 3.1); other types ignore them, as libzmq does.
    let takesSubscriptionCommands: Bool
    /// SUB and XSUB send their subscription messages as commands to a ZMTP 3.1 peer (a 3.0 peer
    /// gets them as messages).
    let sendsSubscriptionCommands: Bool
    /// RADIO takes JOIN and LEAVE commands, as membership messages.
    let takesGroupCommands: Bool
    /// DISH sends its membership messages as JOIN and LEAVE, to any peer (as libzmq does).
    let sendsGroupCommands: Bool

    init(_ type: SocketType) {
        takesSubscriptionCommands = type.traits.takesSubscriptions
        sendsSubscriptionCommands = type.traits.sendsSubscriptions
        takesGroupCommands = type.traits.takesGroups
        sendsGroupCommands = type.traits.sendsGroups
    }

    /// Whether membership messages go as commands to a peer of this ZMTP minor version.
    func subscriptionsAsCommands(peerMinorVersion: UInt8) -> Bool {
        (sendsSubscriptionCommands && peerMinorVersion >= 1) || sendsGroupCommands
    }

    /// The message a command from the peer stands for, if this type takes it.
    func message(for command: Command) -> Message? {
        if takesSubscriptionCommands, let subscription = Subscription(command) { return subscription.message }
        if takesGroupCommands, let membership = Subscription(membership: command) { return membership.message }
        return nil
    }

    /// The command an outgoing membership message goes as.
    func command(for message: Message) -> Command? {
        guard let subscription = Subscription(message) else { return nil }
        return sendsGroupCommands ? subscription.membershipCommand : subscription.command
    }
}
