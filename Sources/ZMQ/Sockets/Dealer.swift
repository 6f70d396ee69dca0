import ZMTP

/// DEALER (28/REQREP): load-balances outgoing messages over its peers like PUSH and fair-queues
/// incoming ones like PULL, passing both through unchanged. Talks to REP, ROUTER and DEALER.
struct DealerPattern: LoadBalancing {
    var loadBalancer = LoadBalancer()

    mutating func send(_ message: Message, among pipes: [Pipe], outbox: inout Outbox) throws(ZMQError) -> Bool {
        guard let pipe = loadBalancer.select(hwm: outbox.hwm) else { return false }
        outbox.queue(message, on: pipe)
        return true
    }

    mutating func pipeForReceiving(among pipes: [Pipe]) throws(ZMQError) -> Pipe? {
        FairQueue.next(in: pipes)
    }
}
