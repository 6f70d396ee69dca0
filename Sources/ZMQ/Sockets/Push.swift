import ZMTP

/// PUSH (30/PIPELINE): load-balances outgoing messages round-robin over the peers with room,
/// waits when none has any, never drops, and never receives.
struct PushPattern: SocketPattern {
    private var loadBalancer = LoadBalancer()

    mutating func pipeForSending(_ message: Message, among pipes: [Pipe], hwm: Int) throws(ZMQError) -> Pipe? {
        loadBalancer.select(from: pipes, hwm: hwm)
    }

    mutating func pipeForReceiving(among pipes: [Pipe]) throws(ZMQError) -> Pipe? {
        throw .notSupported("a PUSH socket cannot receive")
    }
}
