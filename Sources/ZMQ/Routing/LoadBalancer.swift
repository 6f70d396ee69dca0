/// Round-robin over the pipes that have room (libzmq's `lb_t`): used by PUSH, and later DEALER and REQ.
struct LoadBalancer: Sendable {
    private var next = 0

    /// The next pipe after the last one used that can take a message, or nil if none can.
    mutating func select(from pipes: [Pipe], hwm: Int) -> Pipe? {
        guard !pipes.isEmpty else { return nil }
        for offset in 0..<pipes.count {
            let index = (next + offset) % pipes.count
            if pipes[index].hasRoom(hwm: hwm) {
                next = (index + 1) % pipes.count
                return pipes[index]
            }
        }
        return nil
    }
}
