import Synchronization
import ZMQ

/// At most `capacity` requests at a time, the rest in the order asked: callers `take()` a turn
/// and `pass()` it on. The clients' methods are actor-isolated, but an actor lets a second call
/// in while the first awaits its reply; with a capacity of one this keeps them apart, as a REQ
/// socket would. A caller cancelled while waiting leaves the line (and throws) instead of
/// taking a turn it no longer wants.
final class Turns: Sendable {
    let capacity: Int
    private struct State {
        var taken = 0
        var nextTicket = 0
        var waiting: [(ticket: Int, continuation: CheckedContinuation<Void, any Error>)] = []
    }
    private let state = Mutex(State())

    init(capacity: Int = 1) {
        precondition(capacity >= 1, "at least one turn")
        self.capacity = capacity
    }

    func take() async throws {
        let ticket = state.withLock { state in
            state.nextTicket += 1
            return state.nextTicket
        }
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                // Decided under the lock that onCancel takes too, so a cancellation is either
                // seen here or finds this waiter in the line.
                let outcome = state.withLock { state -> Bool? in
                    if state.taken < capacity {
                        state.taken += 1
                        return true
                    }
                    if Task.isCancelled { return false }
                    state.waiting.append((ticket, continuation))
                    return nil
                }
                switch outcome {
                case true?: continuation.resume()
                case false?: continuation.resume(throwing: ZMQError.cancelled)
                case nil: break
                }
            }
        } onCancel: {
            let left = state.withLock { state -> CheckedContinuation<Void, any Error>? in
                guard let index = state.waiting.firstIndex(where: { $0.ticket == ticket }) else { return nil }
                return state.waiting.remove(at: index).continuation
            }
            left?.resume(throwing: ZMQError.cancelled)
        }
    }

    func pass() {
        // A waiter takes the turn over as it is; otherwise it is free again.
        let next = state.withLock { state -> CheckedContinuation<Void, any Error>? in
            if state.waiting.isEmpty {
                state.taken -= 1
                return nil
            }
            return state.waiting.removeFirst().continuation
        }
        next?.resume()
    }
}
