import ZMTP

/// SUB (29/PUBSUB): receives, fair-queued, the messages of its publishers that match one of its
/// subscriptions (`subscribe(_:)`); it sends nothing else.
struct SubPattern: SocketPattern {
    private var subscriber = Subscriber()

    mutating func send(_ message: Message, among pipes: [Pipe], outbox: inout Outbox) throws(ZMQError) -> Bool {
        throw .notSupported("a SUB socket cannot send; use subscribe(_:) and unsubscribe(_:)")
    }

    mutating func pipeForReceiving(among pipes: [Pipe]) throws(ZMQError) -> Pipe? {
        subscriber.pipeForReceiving(among: pipes)
    }

    func hasOut(among pipes: [Pipe], hwm: Int) -> Bool { false }

    mutating func changeSubscription(_ subscription: Subscription, among pipes: [Pipe], outbox: inout Outbox) throws(ZMQError) {
        subscriber.change(subscription, among: pipes, outbox: &outbox)
    }

    mutating func received(_ batch: inout MessageQueue, from pipe: Pipe) -> DropTally {
        subscriber.filter(&batch)
        return .none
    }
    func accepts(_ message: Message) -> Bool { subscriber.accepts(message) }
    mutating func attached(_ pipe: Pipe) -> Pipe? {
        subscriber.attached(pipe)
        return nil
    }
    mutating func configure(_ options: SocketOptions) { subscriber.invert = options.invertMatching }
    mutating func detached(_ pipe: Pipe) { subscriber.detached(pipe) }
}
