import ZMTP

/// Sends one message to every pipe that wants it (libzmq's `dist_t`): to all for XSUB, to those a
/// publisher's `TopicTree` found for PUB and XPUB.
/// A pipe whose queue is full misses the message and the others still get it: a publisher never
/// waits (29/PUBSUB "SHALL silently drop the message if the queue for a subscriber is full").
enum Distributor {
    /// Queues `message` on every wanted pipe with room; a wanted peer whose queue is full misses
    /// it, counted as a drop.
    static func send(_ message: Message, to pipes: [Pipe], outbox: inout Outbox) {
        for pipe in pipes { send(message, to: pipe, outbox: &outbox) }
    }

    /// Queues `message` on `pipe` if it has room; a wanted peer whose queue is full misses it.
    @inline(__always)
    static func send(_ message: Message, to pipe: Pipe, outbox: inout Outbox) {
        // A peer that has gone, or with `immediate` one not yet connected, misses it uncounted.
        guard !pipe.isDetached, !pipe.awaitingConnection else { return }
        // One look at the queue: its engine takes from it at any moment, so a second look could
        // find room the first did not, and the message would be neither queued nor counted.
        if pipe.hasRoom(hwm: outbox.hwm, waits: false) {
            outbox.queue(message, on: pipe)
        } else {
            outbox.drop(.highWaterMark, at: pipe)
        }
    }

    /// Whether a connected peer's queue is at the high-water mark (a peer that has gone, or
    /// with `immediate` one not yet connected, is not a drop).
    static func isFull(_ pipe: Pipe, hwm: Int) -> Bool {
        !pipe.isDetached && !pipe.awaitingConnection && !pipe.hasRoom(hwm: hwm)
    }

}
