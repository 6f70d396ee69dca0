import ZMTP

/// DISH (48/RADIO-DISH): receives, fair-queued, the messages of the groups it joined
/// (`join(_:)`), each with its group (`message.group`). It tells every RADIO of its joins and
/// leaves (JOIN and LEAVE over ZMTP), again in full to each new connection, and filters what
/// arrives too, as libzmq does. Never sends.
struct DishPattern: SocketPattern {
    /// The groups joined; each at most once, as libzmq's.
    private var groups = Subscriptions()

    mutating func send(_ message: Message, among pipes: [Pipe], outbox: inout Outbox) throws(ZMQError) -> Bool {
        throw .notSupported("a DISH socket cannot send; use join(_:) and leave(_:)")
    }

    func hasOut(among pipes: [Pipe], hwm: Int) -> Bool { false }

    mutating func pipeForReceiving(among pipes: [Pipe]) throws(ZMQError) -> Pipe? {
        FairQueue.next(in: pipes)
    }

    /// A join or leave, forwarded to every connected RADIO. Joining a group twice, or leaving
    /// one not joined, is refused, as libzmq refuses it.
    mutating func changeSubscription(_ membership: Subscription, among pipes: [Pipe], outbox: inout Outbox) throws(ZMQError) {
        let name = String(decoding: membership.topic, as: UTF8.self)
        if membership.isSubscribe {
            guard !groups.contains(membership.topic) else { throw .invalidState("already joined group '\(name)'") }
            groups.add(membership.topic)
        } else {
            guard groups.remove(membership.topic) else { throw .invalidState("not a member of group '\(name)'") }
        }
        let message = membership.message
        for pipe in pipes where pipe.engine != nil {
            outbox.queue(message, on: pipe)
        }
    }

    /// A new connection starts with every group joined.
    mutating func attached(_ pipe: Pipe) -> Pipe? {
        let joins = groups.topics.map { Subscription(subscribe: true, topic: $0).message }
        pipe.withOutbound { $0.prepend(contentsOf: joins) }
        return nil
    }

    /// Joins still queued for a lost connection are dropped: the next one gets them all.
    mutating func detached(_ pipe: Pipe) {
        pipe.withOutbound { $0.removeAll { Subscription($0) != nil } }
    }

    /// Each message arrives as `[group, body]`: it becomes the body with its group. Anything
    /// else is malformed and dropped; a group not joined (in flight before a leave) is ignored.
    mutating func received(_ batch: inout MessageQueue, from pipe: Pipe) -> DropTally {
        var malformed = 0
        var kept = MessageQueue()
        for message in batch {
            guard message.count == 2, message[0].count <= Groups.maxLength else {
                malformed += 1
                continue
            }
            let group = message[0].bytes
            guard groups.contains(group) else { continue }
            var body = Message([message[1]], metadata: message.metadata)
            body.group = String(decoding: group, as: UTF8.self)
            kept.append(body)
        }
        batch = kept
        return DropTally(count: malformed, reason: .malformed)
    }

    func accepts(_ message: Message) -> Bool {
        groups.contains(Array((message.group ?? "").utf8))
    }
}
