import ZMTP

/// PULL (30/PIPELINE): fair-queues incoming messages from all peers and never sends.
struct PullPattern: SocketPattern {

    mutating func send(_ message: Message, among pipes: [Pipe], outbox: inout Outbox) throws(ZMQError) -> Bool {
        throw .notSupported("a PULL socket cannot send")
    }

    func hasOut(among pipes: [Pipe], hwm: Int) -> Bool { false }

    mutating func pipeForReceiving(among pipes: [Pipe]) throws(ZMQError) -> Pipe? {
        FairQueue.next(in: pipes)
    }
}
