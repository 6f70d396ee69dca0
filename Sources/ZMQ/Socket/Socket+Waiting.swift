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
    nonisolated(nonsending) func suspend(_ kind: WaitKind, until deadline: NIODeadline?) async throws {
        let id = state.withLock { $0.makeWaiterID() }
        try await withTaskCancellationHandler {
            // Unsafe, not checked: the checked kind allocates per wait. Each waiter is resumed
            // exactly once, by whoever takes it out of the socket's wait queues under the lock.
            try await withUnsafeThrowingContinuation { (continuation: UnsafeContinuation<Void, any Error>) in
                let immediate = state.withLock { state -> Result<Void, any Error>? in
                    if state.closed { return .failure(ZMQError.socketClosed) }
                    if Task.isCancelled { return .failure(CancellationError()) }
                    let received = kind == .receive ? self.received.withLock { $0.count } : 0
                    if state.isReady(kind, received: received) { return .success(()) }
                    state.waiters.add(continuation, id: id, for: kind)
                    return nil
                }
                if let immediate {
                    continuation.resume(with: immediate)
                } else if let deadline {
                    eventLoop.scheduleTask(deadline: deadline) { [self] in
                        self.cancelWaiter(id, kind, with: ZMQError.timedOut)
                    }
                }
            }
        } onCancel: {
            self.cancelWaiter(id, kind, with: CancellationError())
        }
    }

    private func cancelWaiter(_ id: UInt64, _ kind: WaitKind, with error: any Error) {
        let waiter = state.withLock { $0.waiters.remove(id, for: kind) }
        waiter?.resume(throwing: error)
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
