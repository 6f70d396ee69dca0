/// Takes incoming messages from the pipes in turn (libzmq's `fq_t`), so no peer can starve
/// another: used by PULL, and later DEALER, ROUTER and SUB.
struct FairQueue: Sendable {
    private var next = 0

    /// The next pipe, starting after the last one read, that holds a message.
    mutating func select(from pipes: [Pipe]) -> Pipe? {
        guard !pipes.isEmpty else { return nil }
        for offset in 0..<pipes.count {
            let index = (next + offset) % pipes.count
            if !pipes[index].inbound.isEmpty {
                next = (index + 1) % pipes.count
                return pipes[index]
            }
        }
        return nil
    }
}
