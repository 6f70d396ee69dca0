import Synchronization

/// At most `capacity` requests at a time, the rest in the order asked: callers `take()` a turn
/// and `pass()` it on. The clients' methods are actor-isolated, but an actor lets a second call
/// in while the first awaits its reply; with a capacity of one this keeps them apart, as a REQ
/// socket would.
final class Turns: Sendable {
    let capacity: Int
    private let state = Mutex<(taken: Int, waiting: [CheckedContinuation<Void, Never>])>((0, []))

    init(capacity: Int = 1) {
        precondition(capacity >= 1, "at least one turn")
        self.capacity = capacity
    }

    func take() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let now = state.withLock { state -> Bool in
                if state.taken == capacity {
                    state.waiting.append(continuation)
                    return false
                }
                state.taken += 1
                return true
            }
            if now { continuation.resume() }
        }
    }

    func pass() {
        // A waiter takes the turn over as it is; otherwise it is free again.
        let next = state.withLock { state -> CheckedContinuation<Void, Never>? in
            if state.waiting.isEmpty {
                state.taken -= 1
                return nil
            }
            return state.waiting.removeFirst()
        }
        next?.resume()
    }
}
