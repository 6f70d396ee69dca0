import NIOCore
import ZMTP

extension ZMQSocket {
    /// Waits until at least `count` peers have completed their handshake with this socket.
    /// Useful before a burst that should be spread over several peers from the start.
    public func waitForPeers(_ count: Int) async throws {
        while !state.withLock({ $0.connectedPeers >= count }) {
            try await suspend(.peers(count), until: nil)
        }
    }

    /// The number of peers connected right now (handshake complete).
    public var connectedPeerCount: Int { state.withLock { $0.connectedPeers } }

    /// Suspends until the socket may be able to do `kind` again; callers retry after it returns.
    /// Throws `timedOut` at the deadline, `cancelled` when the task is cancelled.
    nonisolated(nonsending) func suspend(_ kind: WaitKind, until deadline: NIODeadline?) async throws(ZMQError) {
        let id = state.withLock { $0.makeWaiterID() }
        let outcome = await withTaskCancellationHandler {
            // Unsafe, not checked: the checked kind allocates per wait. Each waiter is resumed
            // exactly once, by whoever takes it out of the socket's wait queues under the lock.
            await withUnsafeContinuation { (continuation: SocketState.Waiter) in
                let immediate = state.withLock { state -> WaitOutcome? in
                    if state.closed { return .socketClosed }
                    if Task.isCancelled { return .cancelled }
                    let received = kind == .receive ? self.received.withLock { $0.count } : 0
                    if state.isReady(kind, received: received) { return .lookAgain }
                    state.waiters.add(continuation, id: id, for: kind)
                    return nil
                }
                if let immediate {
                    continuation.resume(returning: immediate)
                } else if let deadline {
                    eventLoop.scheduleTask(deadline: deadline) { [self] in
                        self.cancelWaiter(id, kind, with: .timedOut)
                    }
                }
            }
        } onCancel: {
            self.cancelWaiter(id, kind, with: .cancelled)
        }
        if let error = outcome.error { throw error }
    }

    private func cancelWaiter(_ id: UInt64, _ kind: WaitKind, with outcome: WaitOutcome) {
        let waiter = state.withLock { $0.waiters.remove(id, for: kind) }
        waiter?.resume(returning: outcome)
    }

    // MARK: Polling

    /// Which of `events` the socket is ready for now; throws `socketClosed` once it is closed.
    func readiness(_ events: PollEvents) throws(ZMQError) -> PollEvents {
        try state.withLock { (state: inout SocketState) throws(ZMQError) -> PollEvents in
            guard !state.closed else { throw .socketClosed }
            return state.readiness(events, received: received.withLock { $0.count })
        }
    }

    /// `signal` fires at every change that may make the socket ready for `events`, until
    /// `unwatch` with the id returned.
    func watch(_ signal: PollSignal, for events: PollEvents) throws(ZMQError) -> UInt64 {
        try state.withLock { (state: inout SocketState) throws(ZMQError) -> UInt64 in
            guard !state.closed else { throw .socketClosed }
            let id = state.makeWaiterID()
            state.waiters.watch(signal, id: id, for: events)
            return id
        }
    }

    func unwatch(_ id: UInt64) {
        state.withLock { $0.waiters.unwatch(id) }
    }
}
