import DequeModule
import ZMTP

/// The routing SERVER and PEER share (47/CLIENTSERVER, 51/P2P): every peer is named by a
/// nonzero 32-bit routing id, which a received message carries as `routingID` and a message
/// sent must carry to name its peer. An unknown id throws `unroutable`; a peer whose queue is
/// full makes the send wait, as libzmq's does.
struct NumberedPeers: Sendable {
    private var table = RoutingTable()
    private var fairQueue = FairQueue()
    /// The peer a send is waiting for room at.
    private var waitingFor: Pipe?
    private let typeName: String

    init(typeName: String) {
        self.typeName = typeName
        table.numbered = true
    }

    mutating func attached(_ pipe: Pipe) {
        _ = table.name(pipe, handover: false)
    }

    mutating func detached(_ pipe: Pipe) {
        _ = table.remove(pipe)
    }

    /// Names a connect-side pipe now, so messages for it queue before it connects.
    mutating func reserve(_ pipe: Pipe) {
        _ = table.reserve(pipe)
    }

    mutating func send(_ message: Message, outbox: inout Outbox) throws(ZMQError) -> Bool {
        try SingleFrame.check(message, for: typeName)
        guard let number = message.routingID else {
            throw .invalidMessage("a \(typeName) message needs a routingID naming its peer")
        }
        let key = RoutingTable.key(number)
        guard let pipe = table[key] else {
            waitingFor = nil
            throw .unroutable(routingID: key)
        }
        guard pipe.hasRoom(hwm: outbox.hwm) else {
            waitingFor = pipe
            return false
        }
        waitingFor = nil
        var bare = message
        bare.routingID = nil
        outbox.queue(bare, on: pipe)
        return true
    }

    /// A waiting send is for one peer: it may go on when that peer has room, or has gone.
    func hasOut(hwm: Int) -> Bool {
        guard let waitingFor else { return true }
        return waitingFor.hasRoom(hwm: hwm) || !table.holds(waitingFor)
    }

    mutating func pipeForReceiving(among pipes: [Pipe]) -> Pipe? {
        fairQueue.select(from: pipes)
    }

    /// Multipart messages are dropped; the others get their peer's routing id.
    func received(_ batch: inout Deque<Message>, from pipe: Pipe) -> DropTally {
        let dropped = SingleFrame.dropMultipart(&batch)
        let number = RoutingTable.number(pipe.routingID)
        for index in batch.indices { batch[index].routingID = number }
        return dropped
    }
}
