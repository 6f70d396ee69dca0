import ZMTP

/// PEER (51/P2P): talks to other PEERs, each named by a nonzero 32-bit routing id carried on
/// the message (`message.routingID`), both ways. `connectPeer` returns the id of the peer it
/// connects to at once, and messages for it queue until the connection is up. One frame per
/// message.
struct PeerPattern: RoutingByNumber {
    var peers = NumberedPeers(typeName: "PEER")

    mutating func connecting(_ pipe: Pipe) { peers.reserve(pipe) }
}
