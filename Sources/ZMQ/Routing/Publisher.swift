import ZMTP

/// The publishing half that PUB and XPUB share: each message goes to every peer whose
/// subscriptions match it (or, with `invertMatching`, match nothing), dropped for a peer whose
/// queue is full unless `xpubNoDrop` makes the send wait; each new peer first gets the welcome
/// message, if one is set.
///
/// Every peer's subscriptions are also kept in one `TopicTree`, so a send visits only the peers
/// subscribed to a prefix of the message (with `invertMatching`, every peer is still tested).
/// Peers' subscriptions change only through `apply(_:to:)` and `forget(_:)`, which keep both.
struct Publisher: Sendable {
    private var tree = TopicTree()
    /// The peers subscribed to everything, and how many subscriptions to anything longer there
    /// are: while there are none, a send goes to `everything` without touching the tree.
    /// Unretained, as `matching` is: the tree's root holds each of them.
    private var everything: [Unmanaged<Pipe>] = []
    private var topicSubscriptions = 0
    /// The peers a send goes to, kept between sends so that a send allocates nothing; unretained,
    /// as `TopicTree.collect` explains (every pipe in it is also in `pipes`, which holds it).
    private var matching: [Unmanaged<Pipe>] = []
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

    /// Applies a peer's subscribe or cancel; true when its set changed.
    mutating func apply(_ subscription: Subscription, to pipe: Pipe) -> Bool {
        guard pipe.subscriptions.applyOnce(subscription) else { return false }
        if subscription.isSubscribe {
            tree.add(subscription.topic, pipe)
        } else {
            tree.remove(subscription.topic, pipe)
        }
        counted(subscription.topic, pipe, subscribed: subscription.isSubscribe)
        return true
    }

    /// A peer went away: its subscriptions go with it.
    mutating func forget(_ pipe: Pipe) {
        for topic in pipe.subscriptions.topics {
            tree.remove(topic, pipe)
            counted(topic, pipe, subscribed: false)
        }
        pipe.subscriptions.removeAll()
    }

    private mutating func counted(_ topic: [UInt8], _ pipe: Pipe, subscribed: Bool) {
        if !topic.isEmpty {
            topicSubscriptions += subscribed ? 1 : -1
        } else if subscribed {
            everything.append(.passUnretained(pipe))
        } else {
            everything.removeAll { $0.toOpaque() == Unmanaged.passUnretained(pipe).toOpaque() }
        }
    }

    mutating func send(_ message: Message, among pipes: [Pipe], outbox: inout Outbox) -> Bool {
        guard !invert else { return sendInverted(message, among: pipes, outbox: &outbox) }
        // The common case, every subscriber taking everything: no walk, no list.
        // Static, with the lists passed as they are: a mutating method handed its own property
        // would copy (retain) it on every send.
        guard topicSubscriptions > 0 else {
            return Self.send(message, to: everything, noDrop: noDrop, blockers: &blockers, outbox: &outbox)
        }
        tree.collect(message, into: &matching)
        defer { TopicTree.empty(&matching) }
        return Self.send(message, to: matching, noDrop: noDrop, blockers: &blockers, outbox: &outbox)
    }

    /// Sends to each of `wanting`, unless with `noDrop` one of them is full (then nothing goes,
    /// and `blockers` says which).
    private static func send(_ message: Message, to wanting: [Unmanaged<Pipe>], noDrop: Bool, blockers: inout [Pipe], outbox: inout Outbox) -> Bool {
        if noDrop {
            blockers.removeAll(keepingCapacity: true)
            for pipe in wanting where Distributor.isFull(pipe.takeUnretainedValue(), hwm: outbox.hwm) {
                blockers.append(pipe.takeUnretainedValue())
            }
            if !blockers.isEmpty { return false }
        }
        for pipe in wanting {
            pipe._withUnsafeGuaranteedRef { Distributor.send(message, to: $0, outbox: &outbox) }
        }
        return true
    }

    /// `invertMatching`: to every peer none of whose subscriptions matches, so every peer is tested.
    private mutating func sendInverted(_ message: Message, among pipes: [Pipe], outbox: inout Outbox) -> Bool {
        TopicTree.empty(&matching)
        for pipe in pipes where !pipe.subscriptions.matches(message) { matching.append(.passUnretained(pipe)) }
        defer { TopicTree.empty(&matching) }
        return Self.send(message, to: matching, noDrop: noDrop, blockers: &blockers, outbox: &outbox)
    }

    func hasOut(among pipes: [Pipe], hwm: Int) -> Bool {
        blockers.allSatisfy { blocker in
            !Distributor.isFull(blocker, hwm: hwm) || !pipes.contains { $0 === blocker }
        }
    }

    func attached(_ pipe: Pipe) {
        // First, ahead of anything queued for a connect endpoint before it connected.
        if let welcome { pipe.withOutbound { $0.prepend(Message(welcome)) } }
    }
}
