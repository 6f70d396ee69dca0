import ZMTP

/// The publishing half that PUB and XPUB share: each message goes to every peer whose
/// subscriptions match it (or, with `invertMatching`, match nothing), dropped for a peer whose
/// queue is full unless `xpubNoDrop` makes the send wait; each new peer first gets the welcome
/// message, if one is set.
struct Publisher: Sendable {
    private var noDrop = false
    private var invert = false
    private var welcome: Frame?

    mutating func configure(_ options: SocketOptions) {
        noDrop = options.xpubNoDrop
        invert = options.invertMatching
        welcome = options.xpubWelcomeMessage
    }

    func send(_ message: Message, among pipes: [Pipe], outbox: inout Outbox) -> Bool {
        let invert = self.invert
        return Distributor.send(message, to: pipes, outbox: &outbox, noDrop: noDrop) {
            $0.subscriptions.matches(message) != invert
        }
    }

    func hasOut(among pipes: [Pipe], hwm: Int) -> Bool {
        Distributor.hasOut(among: pipes, hwm: hwm, noDrop: noDrop)
    }

    func attached(_ pipe: Pipe) {
        if let welcome { pipe.outbound.append(Message(welcome)) }
    }
}
