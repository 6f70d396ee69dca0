import ZMTP

/// The subscribing half that SUB and XSUB share: the socket's own subscriptions, counted (two
/// subscribes to one topic need two cancels), sent to every publisher, resent in full to each
/// new connection, and used to filter what arrives.
struct Subscriber: Sendable {
    private(set) var subscriptions = Subscriptions()
    /// `invertMatching`: a message is wanted when no subscription matches it.
    var invert = false

    /// Records the change and forwards it to every connected publisher. A cancel is forwarded
    /// only when it removes the topic's last count, as libzmq does; one for a topic never
    /// subscribed is dropped. Subscriptions bypass the high-water mark: losing one would change
    /// what the socket receives for the life of the connection.
    mutating func change(_ subscription: Subscription, among pipes: [Pipe], outbox: inout Outbox) {
        if subscription.isSubscribe {
            subscriptions.add(subscription.topic)
        } else if !subscriptions.remove(subscription.topic) {
            return
        }
        let message = subscription.message
        for pipe in pipes where pipe.engine != nil {
            outbox.queue(message, on: pipe)
        }
    }

    /// A new connection starts with the whole subscription set, ahead of anything else queued.
    func attached(_ pipe: Pipe) {
        let messages = subscriptions.topics.map { Subscription(subscribe: true, topic: $0).message }
        pipe.withOutbound { $0.prepend(contentsOf: messages) }
    }

    /// Requests still queued for a lost connection are dropped: the next one gets the whole set.
    func detached(_ pipe: Pipe) {
        pipe.withOutbound { $0.removeAll { Subscription($0) != nil } }
    }

    /// Publishers filter already; this catches what was in flight before a cancel reached them.
    func filter(_ batch: inout MessageQueue) {
        guard invert || !subscriptions.matchesEverything else { return }
        batch.removeAll { !accepts($0) }
    }

    func accepts(_ message: Message) -> Bool {
        subscriptions.matches(message) != invert
    }

    mutating func pipeForReceiving(among pipes: [Pipe]) -> Pipe? {
        FairQueue.next(in: pipes)
    }
}
