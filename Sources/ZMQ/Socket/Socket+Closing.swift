import NIOCore
import ZMTP

extension ZMQSocket {
    /// Closes the socket and returns at once, as libzmq's `zmq_close` does: sending and
    /// receiving throw `socketClosed` from now on, while in the background the messages still
    /// queued are delivered for as long as the linger option allows, then every connection and
    /// listener is closed and its descriptor released. `context.shutdown()` waits for that, as
    /// does `waitUntilClosed()`.
    public func close() {
        let closing = state.withLock { state -> (SocketState.Closing)? in
            guard !state.closed else { return nil }
            return state.beginClosing()
        }
        guard let closing else { return }
        received.withLock { $0.removeAll() }
        closing.wakeups.fail(with: .socketClosed)
        for engine in closing.engines { engine.socketClosing() }
        // Batches written before closing began carry no completion: linger waits for each
        // connection to flush them, then for every batch taken from now on.
        for (engine, pipe) in closing.flushes {
            engine.whenFlushed { [self] in self.batchWritten(from: pipe) }
        }
        let unbinding = Task { await closeListeners(closing.listeners) }
        let task = Task {
            await unbinding.value
            await finishClosing(closing)
        }
        state.withLock { state in
            state.unbindingTask = unbinding
            state.closingTask = task
        }
    }

    /// Waits until a closed socket has let go of its endpoints, so that another socket can bind
    /// them; what it still queues may yet be on its way (linger). Returns at once if the socket
    /// has not been closed.
    ///
    ///     old.close()
    ///     await old.waitUntilUnbound()
    ///     try await replacement.bind("tcp://*:5555")
    public func waitUntilUnbound() async {
        await state.withLock({ $0.unbindingTask })?.value
    }

    private func closeListeners(_ listeners: [any Binding]) async {
        for listener in listeners {
            await listener.close()
            events.emit(SocketEvent(.closed, endpoint: listener.boundEndpoint))
        }
    }

    /// Waits until the work of `close()` is done: the linger over and every connection closed.
    /// Cancelling the wait cuts the linger short and drops what is still queued. Returns at
    /// once if the socket has not been closed.
    public func waitUntilClosed() async {
        guard let task = state.withLock({ $0.closingTask }) else { return }
        await withTaskCancellationHandler {
            await task.value
        } onCancel: {
            task.cancel()
        }
    }

    /// Once the listeners are closed: lingers, then closes every connecter and connection.
    private func finishClosing(_ closing: SocketState.Closing) async {
        if closing.linger != .zero {
            await waitForLinger(closing.linger)
        }

        let (connecters, engines) = state.withLock { state in
            state.lingering = false
            defer { state.connecters.removeAll(); state.pipes.removeAll(); state.readable = FairQueue() }
            return (state.connecters, Array(state.engines.values))
        }
        for connecter in connecters { await connecter.stop() }
        for engine in engines { await engine.close() }
        context.inproc.unbind(socket: self)
        context.forget(self)
        metricsTimer.withLock { $0?.cancel() }
        publishMetrics()
        events.finish()
    }

    /// Waits until everything queued is written, or the linger time passes, or the closing task
    /// is cancelled (then lingering stops and what is left is dropped).
    private func waitForLinger(_ linger: Linger) async {
        let endLinger: @Sendable () -> Void = { [self] in
            let waiter = self.state.withLock { state in state.lingerWaiter.take() }
            waiter?.resume()
        }
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let settledNow = state.withLock { state -> Bool in
                    if state.isSettled || Task.isCancelled { return true }
                    state.lingerWaiter = continuation
                    return false
                }
                if settledNow {
                    continuation.resume()
                } else if case .after(let duration) = linger {
                    eventLoop.scheduleTask(in: TimeAmount(duration), endLinger)
                }
            }
        } onCancel: {
            endLinger()
        }
    }
}
