import ZMTP

/// GATHER (49/SCATTERGATHER): PULL's rules for one-frame messages. Fair-queued from its
/// SCATTERs; a multipart message is dropped; never sends.
struct GatherPattern: SocketPattern {

    mutating func send(_ message: Message, among pipes: [Pipe], outbox: inout Outbox) throws(ZMQError) -> Bool {
        throw .notSupported("a GATHER socket cannot send")
    }

    func hasOut(among pipes: [Pipe], hwm: Int) -> Bool { false }

    mutating func pipeForReceiving(among pipes: [Pipe]) throws(ZMQError) -> Pipe? {
        FairQueue.next(in: pipes)
    }

    mutating func received(_ batch: inout MessageQueue, from pipe: Pipe) -> DropTally {
        SingleFrame.dropMultipart(&batch)
    }
}
