import ZMTP

/// SCATTER (49/SCATTERGATHER): PUSH's rules for one-frame messages. Round-robin to the GATHERs
/// with room, waiting when none has any; never receives.
struct ScatterPattern: LoadBalancing {
    var loadBalancer = LoadBalancer()

    mutating func send(_ message: Message, among pipes: [Pipe], outbox: inout Outbox) throws(ZMQError) -> Bool {
        try SingleFrame.check(message, for: "SCATTER")
        guard let pipe = loadBalancer.select(hwm: outbox.hwm) else { return false }
        outbox.queue(message, on: pipe)
        return true
    }

    mutating func pipeForReceiving(among pipes: [Pipe]) throws(ZMQError) -> Pipe? {
        throw .notSupported("a SCATTER socket cannot receive")
    }

    func hasIn(among pipes: [Pipe]) -> Bool { false }
}
