import ZMTP

/// PAIR (31/EXPAIR): one peer at most. A second connection is refused, as libzmq does; sending
/// waits while the peer is missing or its queue is full, and nothing is dropped.
struct PairPattern: SocketPattern {
    mutating func send(_ message: Message, among pipes: [Pipe], outbox: inout Outbox) throws(ZMQError) -> Bool {
        guard let pipe = pipes.first(where: { $0.hasRoom(hwm: outbox.hwm) }) else { return false }
        outbox.queue(message, on: pipe)
        return true
    }

    mutating func pipeForReceiving(among pipes: [Pipe]) throws(ZMQError) -> Pipe? {
        pipes.first { !$0.inbound.isEmpty }
    }

    func admits(_ peer: PeerInfo, among pipes: [Pipe]) -> Bool {
        !pipes.contains { !$0.isDetached }
    }
}
