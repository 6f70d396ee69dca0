import ZMTP

/// XSUB (29/PUBSUB): a SUB whose subscriptions are messages. Sending `0x01` + topic subscribes,
/// `0x00` + topic cancels; any other message goes to every publisher, dropped for one whose queue
/// is full. Used by proxies, which pass on what an XPUB receives. Unlike SUB it does not filter
/// what arrives (its publishers do), as in libzmq.
struct XSubPattern: SocketPattern {
    private var subscriber = Subscriber()

    mutating func send(_ message: Message, among pipes: [Pipe], outbox: inout Outbox) throws(ZMQError) -> Bool {
        if let subscription = Subscription(message) {
            subscriber.change(subscription, among: pipes, outbox: &outbox)
        } else {
            Distributor.send(message, to: pipes, outbox: &outbox)
        }
        return true
    }

    mutating func pipeForReceiving(among pipes: [Pipe]) throws(ZMQError) -> Pipe? {
        subscriber.pipeForReceiving(among: pipes)
    }

    mutating func changeSubscription(_ subscription: Subscription, among pipes: [Pipe], outbox: inout Outbox) throws(ZMQError) {
        subscriber.change(subscription, among: pipes, outbox: &outbox)
    }

    mutating func attached(_ pipe: Pipe) -> Pipe? {
        subscriber.attached(pipe)
        return nil
    }
    mutating func configure(_ options: SocketOptions) { subscriber.invert = options.invertMatching }
    mutating func detached(_ pipe: Pipe) { subscriber.detached(pipe) }
}
