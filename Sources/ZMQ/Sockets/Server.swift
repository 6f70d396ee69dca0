import DequeModule
import ZMTP

/// SERVER (47/CLIENTSERVER): answers CLIENTs. Each received message carries its client's
/// routing id (`message.routingID`, a nonzero 32-bit number the SERVER makes up); a message
/// sent goes to the client its `routingID` names. One frame per message.
struct ServerPattern: SocketPattern {
    private var peers = NumberedPeers(typeName: "SERVER")

    mutating func send(_ message: Message, among pipes: [Pipe], outbox: inout Outbox) throws(ZMQError) -> Bool {
        try peers.send(message, outbox: &outbox)
    }

    func hasOut(among pipes: [Pipe], hwm: Int) -> Bool { peers.hasOut(hwm: hwm) }

    mutating func pipeForReceiving(among pipes: [Pipe]) throws(ZMQError) -> Pipe? {
        peers.pipeForReceiving(among: pipes)
    }

    mutating func received(_ batch: inout Deque<Message>, from pipe: Pipe) -> DropTally {
        peers.received(&batch, from: pipe)
    }

    mutating func attached(_ pipe: Pipe) -> Pipe? {
        peers.attached(pipe)
        return nil
    }

    mutating func detached(_ pipe: Pipe) { peers.detached(pipe) }
}
