import ZMTP

/// RADIO (48/RADIO-DISH): sends each message to the DISHes that joined its group
/// (`message.group`, the empty group when nil), matched exactly, here at the sender as 37/ZMTP
/// asks. Over ZMTP the group travels as a frame of its own before the body. A DISH whose queue is
/// full misses the message; sending never waits. One frame per message; never receives.
///
/// Over udp no DISH can say what it joined: every message goes to every udp endpoint, and the
/// DISH filters. A message that would not fit in one datagram (8,192 octets with its group) is
/// refused with an error.
struct RadioPattern: SocketPattern {
    /// The DISHes that joined each group: a send looks up its group and touches only those
    /// (libzmq's distributor keeps its matching pipes together the same way).
    private var members: [[UInt8]: [Pipe]] = [:]
    /// udp endpoints, which get every group.
    private var everyGroup: [Pipe] = []

    mutating func send(_ message: Message, among pipes: [Pipe], outbox: inout Outbox) throws(ZMQError) -> Bool {
        try SingleFrame.check(message, for: "RADIO")
        let group = Array((message.group ?? "").utf8)
        try Groups.check(group)
        let datagramSize = 1 + group.count + message[0].count
        for pipe in everyGroup {
            if let limit = pipe.datagramLimit, datagramSize > limit {
                throw .invalidMessage("udp carries at most \(limit) octets per datagram; this one needs \(datagramSize)")
            }
        }
        var wire: Message?
        for pipe in members[group] ?? [] { Self.send(message, group: group, to: pipe, wire: &wire, outbox: &outbox) }
        for pipe in everyGroup { Self.send(message, group: group, to: pipe, wire: &wire, outbox: &outbox) }
        return true
    }

    /// Queues `[group, body]` (made once per send) for `pipe`, or drops it if the pipe is full.
    private static func send(_ message: Message, group: [UInt8], to pipe: Pipe, wire: inout Message?, outbox: inout Outbox) {
        // As `Distributor.send`: one look at the queue.
        guard !pipe.isDetached, !pipe.awaitingConnection else { return }
        if pipe.hasRoom(hwm: outbox.hwm, waits: false) {
            if wire == nil { wire = Message([Frame(group), message[0]]) }
            outbox.queue(wire!, on: pipe)
        } else {
            outbox.drop(.highWaterMark, at: pipe)
        }
    }

    mutating func pipeForReceiving(among pipes: [Pipe]) throws(ZMQError) -> Pipe? {
        throw .notSupported("a RADIO socket cannot receive")
    }

    func hasIn(among pipes: [Pipe]) -> Bool { false }

    /// A udp endpoint is known as such from `connect` on.
    mutating func connecting(_ pipe: Pipe) {
        if pipe.datagramLimit != nil { everyGroup.append(pipe) }
    }

    mutating func removed(_ pipe: Pipe) {
        everyGroup.removeAll { $0 === pipe }
    }

    /// Joins and leaves are applied to the DISH's pipe; anything else a DISH sends is discarded.
    mutating func received(_ batch: inout MessageQueue, from pipe: Pipe) -> DropTally {
        for message in batch {
            guard let membership = Subscription(message), pipe.subscriptions.applyOnce(membership) else { continue }
            if membership.isSubscribe {
                members[membership.topic, default: []].append(pipe)
            } else {
                leave(membership.topic, pipe)
            }
        }
        batch.removeAll(keepingCapacity: true)
        return .none
    }

    mutating func detached(_ pipe: Pipe) {
        for group in pipe.subscriptions.topics { leave(group, pipe) }
        pipe.subscriptions.removeAll()
    }

    private mutating func leave(_ group: [UInt8], _ pipe: Pipe) {
        members[group]?.removeAll { $0 === pipe }
        if members[group]?.isEmpty == true { members[group] = nil }
    }
}

/// The rules for a RADIO-DISH group (48/RADIO-DISH): at most 255 octets, none of them 0.
enum Groups {
    static let maxLength = 255

    static func check(_ group: [UInt8]) throws(ZMQError) {
        guard group.count <= maxLength else {
            throw .invalidMessage("a group is at most \(maxLength) octets, not \(group.count)")
        }
        guard !group.contains(0) else { throw .invalidMessage("a group may not contain a zero octet") }
    }
}
