import ZMTP

/// CLIENT (47/CLIENTSERVER): DEALER's rules for one-frame messages. Sends round-robin to the
/// SERVERs with room, waiting when none has any; receives fair-queued.
struct ClientPattern: LoadBalancing {
    var loadBalancer = LoadBalancer()

    mutating func send(_ message: Message, among pipes: [Pipe], outbox: inout Outbox) throws(ZMQError) -> Bool {
        try SingleFrame.check(message, for: "CLIENT")
        guard let pipe = loadBalancer.select(hwm: outbox.hwm) else { return false }
        outbox.queue(message, on: pipe)
        return true
    }

    mutating func pipeForReceiving(among pipes: [Pipe]) throws(ZMQError) -> Pipe? {
        FairQueue.next(in: pipes)
    }

    mutating func received(_ batch: inout MessageQueue, from pipe: Pipe) -> DropTally {
        SingleFrame.dropMultipart(&batch)
    }
}
