import ZMTP

/// PUB (29/PUBSUB): sends each message to every subscriber with a matching subscription, filtered
/// here at the publisher. A subscriber whose queue is full misses the message; sending never
/// waits. Subscriptions are kept per peer and forgotten when it disconnects; anything else a
/// peer sends is discarded.
struct PubPattern: SocketPattern {
    private var publisher = Publisher()

    mutating func configure(_ options: SocketOptions) { publisher.configure(options) }

    mutating func send(_ message: Message, among pipes: [Pipe], outbox: inout Outbox) throws(ZMQError) -> Bool {
        publisher.send(message, among: pipes, outbox: &outbox)
    }

    mutating func pipeForReceiving(among pipes: [Pipe]) throws(ZMQError) -> Pipe? {
        throw .notSupported("a PUB socket cannot receive")
    }

    /// Sending never waits (unless `xpubNoDrop`): a subscriber without room misses the message.
    func hasOut(among pipes: [Pipe], hwm: Int) -> Bool { publisher.hasOut(among: pipes, hwm: hwm) }

    mutating func attached(_ pipe: Pipe) -> Pipe? {
        publisher.attached(pipe)
        return nil
    }
    func hasIn(among pipes: [Pipe]) -> Bool { false }

    mutating func received(_ batch: inout MessageQueue, from pipe: Pipe) -> DropTally {
        for message in batch {
            if let subscription = Subscription(message) {
                _ = publisher.apply(subscription, to: pipe)
            }
        }
        batch.removeAll(keepingCapacity: true)
        return .none
    }

    mutating func detached(_ pipe: Pipe) {
        publisher.forget(pipe)
    }
}
