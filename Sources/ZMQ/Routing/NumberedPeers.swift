import ZMTP

/// The routing SERVER and PEER share (47/CLIENTSERVER, 51/P2P): every peer is named by a
/// nonzero 32-bit routing id, which a received message carries as `routingID` and a message
/// sent must carry to name its peer. An unknown id throws `unroutable`; a peer whose queue is
/// full makes the send wait, as libzmq's does.
struct NumberedPeers: Sendable {
    private var table = RoutingTable()
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

    /// An accepted peer's id goes with its connection; a connect endpoint keeps its id while it
    /// reconnects, and messages for it queue meanwhile, as libzmq's do.
    mutating func detached(_ pipe: Pipe) {
        if !pipe.isConnectSide { _ = table.remove(pipe) }
    }

    /// `pipe` left the socket (disconnected, or given up): its id is no longer routable.
    mutating func removed(_ pipe: Pipe) {
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
            throw ZMQError(code: .unroutable, message: "no peer with routing id \(number)", routingID: key)
        }
        guard pipe.hasRoom(hwm: outbox.hwm) else {
            waitingFor = pipe
            return false
        }
        waitingFor = nil
        var bare = message
        bare.routingID = nil
        outbox.queue(moving: bare, on: pipe)
        return true
    }

    func hasOut(hwm: Int) -> Bool { table.mayGoOn(waitingFor, hwm: hwm) }

    mutating func pipeForReceiving(among pipes: [Pipe]) -> Pipe? {
        FairQueue.next(in: pipes)
    }

    /// Multipart messages are dropped; the others get their peer's routing id.
    func received(_ batch: inout MessageQueue, from pipe: Pipe) -> DropTally {
        let dropped = SingleFrame.dropMultipart(&batch)
        let number = RoutingTable.number(pipe.routingID)
        for index in batch.indices { batch[index].routingID = number }
        return dropped
    }
}

/// A pattern that routes by number through `NumberedPeers` (SERVER, PEER): every hook goes to it.
protocol RoutingByNumber: SocketPattern {
    var peers: NumberedPeers { get set }
}

extension RoutingByNumber {
    mutating func send(_ message: Message, among pipes: [Pipe], outbox: inout Outbox) throws(ZMQError) -> Bool {
        try peers.send(message, outbox: &outbox)
    }

    func hasOut(among pipes: [Pipe], hwm: Int) -> Bool { peers.hasOut(hwm: hwm) }

    mutating func pipeForReceiving(among pipes: [Pipe]) throws(ZMQError) -> Pipe? {
        peers.pipeForReceiving(among: pipes)
    }

    mutating func received(_ batch: inout MessageQueue, from pipe: Pipe) -> DropTally {
        peers.received(&batch, from: pipe)
    }

    mutating func attached(_ pipe: Pipe) -> Pipe? {
        peers.attached(pipe)
        return nil
    }

    mutating func detached(_ pipe: Pipe) { peers.detached(pipe) }
    mutating func removed(_ pipe: Pipe) { peers.removed(pipe) }
}
