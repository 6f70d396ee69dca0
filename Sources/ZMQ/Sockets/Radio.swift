import DequeModule
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
    mutating func send(_ message: Message, among pipes: [Pipe], outbox: inout Outbox) throws(ZMQError) -> Bool {
        try SingleFrame.check(message, for: "RADIO")
        let group = Array((message.group ?? "").utf8)
        try Groups.check(group)
        let datagramSize = 1 + group.count + message[0].count
        for pipe in pipes {
            if let limit = pipe.datagramLimit, datagramSize > limit {
                throw .invalidMessage("udp carries at most \(limit) octets per datagram; this one needs \(datagramSize)")
            }
        }
        var wire: Message?
        for pipe in pipes where pipe.datagramLimit != nil || pipe.subscriptions.contains(group) {
            if pipe.hasRoom(hwm: outbox.hwm) {
                if wire == nil { wire = Message([Frame(group), message[0]]) }
                outbox.queue(wire!, on: pipe)
            } else if Distributor.isFull(pipe, hwm: outbox.hwm) {
                outbox.drop(.highWaterMark, at: pipe)
            }
        }
        return true
    }

    mutating func pipeForReceiving(among pipes: [Pipe]) throws(ZMQError) -> Pipe? {
        throw .notSupported("a RADIO socket cannot receive")
    }

    func hasIn(among pipes: [Pipe]) -> Bool { false }

    /// Joins and leaves are applied to the DISH's pipe; anything else a DISH sends is discarded.
    mutating func received(_ batch: inout Deque<Message>, from pipe: Pipe) -> DropTally {
        for message in batch {
            if let membership = Subscription(message) { _ = pipe.subscriptions.applyOnce(membership) }
        }
        batch.removeAll(keepingCapacity: true)
        return .none
    }

    mutating func detached(_ pipe: Pipe) {
        pipe.subscriptions.removeAll()
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
