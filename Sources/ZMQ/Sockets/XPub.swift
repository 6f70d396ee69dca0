import DequeModule
import ZMTP

/// XPUB (29/PUBSUB): a PUB that also receives. Subscriptions reach the application as messages,
/// `0x01` + topic and `0x00` + topic: a subscribe only when it is the first for its topic among
/// all peers, a cancel only when it removes the last, and a cancel for each topic a disconnected
/// peer alone held. Other messages from peers are delivered as they are, fair-queued.
/// `xpubVerbose` passes on every subscribe; `xpubVerboser` also every cancel.
struct XPubPattern: SocketPattern {
    private var fairQueue = FairQueue()
    /// For each topic, how many peers subscribe to it.
    private var everyone = Subscriptions()
    private var verbose = false
    private var verboser = false

    /// libzmq's XPUB reads its peers without limit too: a subscriber's requests are small and
    /// must all be applied, or it would stop getting what it asked for.
    var pausesReading: Bool { false }

    mutating func configure(_ options: SocketOptions) {
        verbose = options.xpubVerbose
        verboser = options.xpubVerboser
    }

    mutating func send(_ message: Message, among pipes: [Pipe], outbox: inout Outbox) throws(ZMQError) -> Bool {
        Distributor.send(message, to: pipes, outbox: &outbox) { $0.subscriptions.matches(message) }
        return true
    }

    mutating func pipeForReceiving(among pipes: [Pipe]) throws(ZMQError) -> Pipe? {
        fairQueue.select(from: pipes)
    }

    mutating func received(_ batch: inout Deque<Message>, from pipe: Pipe) {
        batch.removeAll { message in
            guard let subscription = Subscription(message) else { return false }
            guard pipe.subscriptions.applyOnce(subscription) else {
                // A repeat from the same peer changes nothing; verbose passes it on regardless.
                return !(subscription.isSubscribe && verbose)
            }
            let news = subscription.isSubscribe
                ? everyone.add(subscription.topic)
                : everyone.remove(subscription.topic)
            return !(news || (subscription.isSubscribe ? verbose : verboser))
        }
    }

    mutating func detached(_ pipe: Pipe) {
        for topic in pipe.subscriptions.topics where everyone.remove(topic) || verboser {
            pipe.inbound.append(Subscription(subscribe: false, topic: topic).message)
        }
        pipe.subscriptions.removeAll()
    }
}
