import ZMTP

/// XPUB (29/PUBSUB): a PUB that also receives. Subscriptions reach the application as messages,
/// `0x01` + topic and `0x00` + topic: a subscribe only when it is the first for its topic among
/// all peers, a cancel only when it removes the last, and a cancel for each topic a disconnected
/// peer alone held. Other messages from peers are delivered as they are, fair-queued.
/// `xpubVerbose` passes on every subscribe; `xpubVerboser` also every cancel.
///
/// An XPUB never stops reading its peers, so every subscription is applied even when the
/// application does not receive; what would be queued for it beyond the receive high-water
/// mark is dropped instead, so a peer cannot grow that queue without bound.
struct XPubPattern: SocketPattern {
    /// For each topic, how many peers subscribe to it.
    private var everyone = Subscriptions()
    private var verbose = false
    private var verboser = false
    private var receiveHighWaterMark = SocketOptions().receiveHighWaterMark
    private var publisher = Publisher()
    /// `xpubManual`: the application applies subscriptions, to the peer whose subscription it
    /// received last (`lastSubscriber`); receiving then goes message by message to know it.
    private var manual = false
    private var lastSubscriber: Pipe?

    var batchesReceives: Bool { !manual }

    var pausesReading: Bool { false }

    mutating func configure(_ options: SocketOptions) {
        verbose = options.xpubVerbose
        verboser = options.xpubVerboser
        receiveHighWaterMark = options.receiveHighWaterMark
        publisher.configure(options)
        manual = options.xpubManual
    }

    mutating func handOut(_ message: Message, from pipe: Pipe) -> Message {
        if Subscription(message) != nil { lastSubscriber = pipe }
        return message
    }

    /// Manual mode: the application's subscribe and unsubscribe apply to the last subscriber.
    mutating func changeSubscription(_ subscription: Subscription, among pipes: [Pipe], outbox: inout Outbox) throws(ZMQError) {
        guard manual else { throw .notSupported("an XPUB subscribes its peers itself only with xpubManual") }
        guard let pipe = lastSubscriber, !pipe.isDetached else { return }
        _ = publisher.apply(subscription, to: pipe)
    }

    mutating func send(_ message: Message, among pipes: [Pipe], outbox: inout Outbox) throws(ZMQError) -> Bool {
        publisher.send(message, among: pipes, outbox: &outbox)
    }

    /// Sending never waits (unless `xpubNoDrop`): a subscriber without room misses the message.
    func hasOut(among pipes: [Pipe], hwm: Int) -> Bool { publisher.hasOut(among: pipes, hwm: hwm) }

    mutating func attached(_ pipe: Pipe) -> Pipe? {
        publisher.attached(pipe)
        return nil
    }

    mutating func pipeForReceiving(among pipes: [Pipe]) throws(ZMQError) -> Pipe? {
        FairQueue.next(in: pipes)
    }

    mutating func received(_ batch: inout MessageQueue, from pipe: Pipe) -> DropTally {
        var room = receiveHighWaterMark == 0 ? Int.max : max(0, receiveHighWaterMark - pipe.inbound.count)
        var overflow = 0
        batch.removeAll { message in
            guard passesOn(message, from: pipe) else { return true }
            guard room > 0 else {
                overflow += 1
                return true
            }
            room -= 1
            return false
        }
        return DropTally(count: overflow, reason: .highWaterMark)
    }

    /// Applies a subscription from `pipe`; whether `message` goes on to the application.
    private mutating func passesOn(_ message: Message, from pipe: Pipe) -> Bool {
        guard let subscription = Subscription(message) else { return true }
        if manual { return true }
        guard publisher.apply(subscription, to: pipe) else {
            // A repeat from the same peer changes nothing; verbose passes it on regardless.
            return subscription.isSubscribe && verbose
        }
        let news = subscription.isSubscribe
            ? everyone.add(subscription.topic)
            : everyone.remove(subscription.topic)
        return news || (subscription.isSubscribe ? verbose : verboser)
    }

    mutating func detached(_ pipe: Pipe) {
        if lastSubscriber === pipe { lastSubscriber = nil }
        if manual {
            // The application applied these: it hears of each one the peer took away with it.
            for topic in pipe.subscriptions.topics {
                pipe.inbound.append(Subscription(subscribe: false, topic: topic).message)
            }
            publisher.forget(pipe)
            return
        }
        for topic in pipe.subscriptions.topics where everyone.remove(topic) || verboser {
            pipe.inbound.append(Subscription(subscribe: false, topic: topic).message)
        }
        publisher.forget(pipe)
    }
}
