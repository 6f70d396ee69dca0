/// Round-robin over the pipes that can take a message (libzmq's `lb_t`), for PUSH, DEALER, REQ,
/// CLIENT and SCATTER. It keeps every pipe with an active region at the front: a pipe found
/// without room (full, its peer gone, or waiting for its connection) is swapped out of the
/// region, so later sends do not look at it again until it is activated (room was made, or it
/// connected). Each pipe remembers its slot, so every move is O(1).
struct LoadBalancer: Sendable {
    private var pipes: [Pipe] = []
    /// `pipes[0..<active]` may take a message.
    private var active = 0
    /// The next pipe to try, within the active region.
    private var current = 0

    /// A pipe of the socket's: it joins the active region (connect-side pipes queue before they
    /// connect, as in libzmq).
    mutating func add(_ pipe: Pipe) {
        if pipe.balancerSlot < 0 {
            pipe.balancerSlot = pipes.count
            pipes.append(pipe)
        }
        activate(pipe)
    }

    /// `pipe` may have room again.
    mutating func activate(_ pipe: Pipe) {
        let slot = pipe.balancerSlot
        guard slot >= active, slot < pipes.count, pipes[slot] === pipe else { return }
        swapAt(slot, active)
        active += 1
    }

    /// Every pipe may have room again (the high-water mark changed).
    mutating func activateAll() {
        active = pipes.count
    }

    /// `pipe` left the socket.
    mutating func remove(_ pipe: Pipe) {
        var slot = pipe.balancerSlot
        guard slot >= 0, slot < pipes.count, pipes[slot] === pipe else { return }
        if slot < active {
            // Out of the active region first, keeping `current` on the pipe it named.
            active -= 1
            swapAt(slot, active)
            if current == active { current = 0 }
            slot = active
        }
        swapAt(slot, pipes.count - 1)
        pipes.removeLast()
        pipe.balancerSlot = -1
    }

    /// The next pipe after the last one used that can take a message, or nil if none can.
    /// Unretained: the balancer holds it, and the caller queues to it with the socket's lock
    /// held (a retain and a release per message were a tenth of a sending thread's time).
    mutating func select(hwm: Int) -> Unmanaged<Pipe>? {
        while active > 0 {
            if current >= active { current = 0 }
            // Read through a buffer pointer: through the subscript, the compiler made the array
            // unique on entry (for the swaps below), a call per message, and retained the pipe.
            assert(current < active && active <= pipes.count)
            let pipe = pipes.withUnsafeBufferPointer { [current] in Unmanaged.passUnretained($0[current]) }
            if pipe._withUnsafeGuaranteedRef({ $0.hasRoom(hwm: hwm) }) {
                current = current + 1 == active ? 0 : current + 1
                return pipe
            }
            // Deactivated until it has room again; the pipe swapped in is tried next.
            active -= 1
            swapAt(current, active)
        }
        return nil
    }

    /// Whether some pipe can take a message.
    func hasOut(hwm: Int) -> Bool {
        pipes[0..<active].contains { $0.hasRoom(hwm: hwm) }
    }

    private mutating func swapAt(_ a: Int, _ b: Int) {
        guard a != b else { return }
        pipes.swapAt(a, b)
        pipes[a].balancerSlot = a
        pipes[b].balancerSlot = b
    }
}

/// A pattern that sends round-robin through a `LoadBalancer` of all its pipes: the balancer
/// follows the socket's pipes through these hooks.
protocol LoadBalancing: SocketPattern {
    var loadBalancer: LoadBalancer { get set }
}

extension LoadBalancing {
    mutating func connecting(_ pipe: Pipe) { loadBalancer.add(pipe) }
    mutating func attached(_ pipe: Pipe) -> Pipe? {
        loadBalancer.add(pipe)
        return nil
    }
    mutating func pipeWritable(_ pipe: Pipe) { loadBalancer.activate(pipe) }
    mutating func allPipesWritable() { loadBalancer.activateAll() }
    mutating func removed(_ pipe: Pipe) { loadBalancer.remove(pipe) }
    func hasOut(among pipes: [Pipe], hwm: Int) -> Bool { loadBalancer.hasOut(hwm: hwm) }
}
