import DequeModule
import ZMTP

/// The publishing half that PUB and XPUB share: each message goes to every peer whose
/// subscriptions match it (or, with `invertMatching`, match nothing), dropped for a peer whose
/// queue is full unless `xpubNoDrop` makes the send wait; each new peer first gets the welcome
/// message, if one is set.
struct Publisher: Sendable {
    private var noDrop = false
    private var invert = false
    private var welcome: Frame?
    /// With `noDrop`, the peers whose full queues made the last send wait: sending may go on
    /// once each has room again (or has gone). Only these, so that a stalled subscriber the
    /// message was not for never holds it up.
    private var blockers: [Pipe] = []

    mutating func configure(_ options: SocketOptions) {
        noDrop = options.xpubNoDrop
        invert = options.invertMatching
        welcome = options.xpubWelcomeMessage
    }

    mutating func send(_ message: Message, among pipes: [Pipe], outbox: inout Outbox) -> Bool {
        let invert = self.invert
        if noDrop {
            // Kept, not rebuilt, so that a send allocates nothing.
            blockers.removeAll(keepingCapacity: true)
            for pipe in pipes where Distributor.isFull(pipe, hwm: outbox.hwm) && pipe.subscriptions.matches(message) != invert {
                blockers.append(pipe)
            }
            if !blockers.isEmpty { return false }
        }
        Distributor.send(message, toSubscribersOf: pipes, invert: invert, outbox: &outbox)
        return true
    }

    func hasOut(among pipes: [Pipe], hwm: Int) -> Bool {
        blockers.allSatisfy { blocker in
            !Distributor.isFull(blocker, hwm: hwm) || !pipes.contains { $0 === blocker }
        }
    }

    func attached(_ pipe: Pipe) {
        // First, ahead of anything queued for a connect endpoint before it connected.
        if let welcome { pipe.outbound.prepend(Message(welcome)) }
    }
}
