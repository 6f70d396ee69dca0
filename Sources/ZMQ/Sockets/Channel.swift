import ZMTP

/// CHANNEL (52/CHANNEL): PAIR's rules for one-frame messages. One peer at most (a second is
/// refused); sending waits while the peer is missing or its queue is full.
struct ChannelPattern: SocketPattern {
    private var pair = PairPattern()

    mutating func send(_ message: Message, among pipes: [Pipe], outbox: inout Outbox) throws(ZMQError) -> Bool {
        try SingleFrame.check(message, for: "CHANNEL")
        return try pair.send(message, among: pipes, outbox: &outbox)
    }

    mutating func pipeForReceiving(among pipes: [Pipe]) throws(ZMQError) -> Pipe? {
        try pair.pipeForReceiving(among: pipes)
    }

    func admits(_ peer: PeerInfo, among pipes: [Pipe]) -> Bool {
        pair.admits(peer, among: pipes)
    }

    mutating func received(_ batch: inout MessageQueue, from pipe: Pipe) -> DropTally {
        SingleFrame.dropMultipart(&batch)
    }
}
