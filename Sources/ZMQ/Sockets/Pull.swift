import ZMTP

/// PULL (30/PIPELINE): fair-queues incoming messages from all peers and never sends.
struct PullPattern: SocketPattern {
    private var fairQueue = FairQueue()

    mutating func pipeForSending(_ message: Message, among pipes: [Pipe], hwm: Int) throws(ZMQError) -> Pipe? {
        throw .notSupported("a PULL socket cannot send")
    }

    mutating func pipeForReceiving(among pipes: [Pipe]) throws(ZMQError) -> Pipe? {
        fairQueue.select(from: pipes)
    }
}
