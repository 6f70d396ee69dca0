import ZMTP

/// PUSH (30/PIPELINE): load-balances outgoing messages round-robin over the peers with room,
/// waits when none has any, never drops, and never receives.
struct PushPattern: LoadBalancing {
    var loadBalancer = LoadBalancer()

    mutating func send(_ message: Message, among pipes: [Pipe], outbox: inout Outbox) throws(ZMQError) -> Bool {
        guard let pipe = loadBalancer.select(hwm: outbox.hwm) else { return false }
        outbox.queue(message, on: pipe)
        return true
    }

    mutating func pipeForReceiving(among pipes: [Pipe]) throws(ZMQError) -> Pipe? {
        throw .notSupported("a PUSH socket cannot receive")
    }

    func hasIn(among pipes: [Pipe]) -> Bool { false }
}
