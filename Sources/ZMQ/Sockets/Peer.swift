import DequeModule
import ZMTP

/// PEER (51/P2P): talks to other PEERs, each named by a nonzero 32-bit routing id carried on
/// the message (`message.routingID`), both ways. `connectPeer` returns the id of the peer it
/// connects to at once, and messages for it queue until the connection is up. One frame per
/// message.
struct PeerPattern: SocketPattern {
    private var peers = NumberedPeers(typeName: "PEER")

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

    mutating func connecting(_ pipe: Pipe) { peers.reserve(pipe) }

    mutating func attached(_ pipe: Pipe) -> Pipe? {
        peers.attached(pipe)
        return nil
    }

    mutating func detached(_ pipe: Pipe) { peers.detached(pipe) }
}
