import ZMTP

/// Sends one message to every pipe that wants it (libzmq's `dist_t`), used by PUB, XPUB and XSUB.
/// A pipe whose queue is full misses the message and the others still get it: a publisher never
/// waits (29/PUBSUB "SHALL silently drop the message if the queue for a subscriber is full").
enum Distributor {
    static func send(_ message: Message, to pipes: [Pipe], outbox: inout Outbox, where wanted: (Pipe) -> Bool) {
        for pipe in pipes where wanted(pipe) {
            if pipe.hasRoom(hwm: outbox.hwm) {
                outbox.queue(message, on: pipe)
            } else if !pipe.isDetached {
                outbox.drop(.highWaterMark, at: pipe)
            }
        }
    }
}
