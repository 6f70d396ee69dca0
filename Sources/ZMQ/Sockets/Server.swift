import ZMTP

/// SERVER (47/CLIENTSERVER): answers CLIENTs. Each received message carries its client's
/// routing id (`message.routingID`, a nonzero 32-bit number the SERVER makes up); a message
/// sent goes to the client its `routingID` names. One frame per message.
struct ServerPattern: RoutingByNumber {
    var peers = NumberedPeers(typeName: "SERVER")
}
