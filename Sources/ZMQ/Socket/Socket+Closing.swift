import NIOCore
import ZMTP

extension ZMQSocket {
    /// Closes the socket. Messages still queued are delivered first, for as long as the linger
    /// option allows (or until the calling task is cancelled); then every connection and
    /// listener is closed and its descriptor released.
    public func close() async {
        let closing = state.withLock { state -> (SocketState.Closing)? in
            guard !state.closed else { return nil }
            return state.beginClosing()
        }
        guard let closing else { return }
        received.withLock { $0.removeAll() }
        closing.wakeups.fail(with: ZMQError.socketClosed)
        // Batches written before closing began carry no completion: linger waits for each
        // connection to flush them, then for every batch taken from now on.
        for (engine, pipe) in closing.flushes {
            engine.whenFlushed { [self] in self.batchWritten(from: pipe) }
        }
        for listener in closing.listeners { await listener.close() }

        if closing.linger != .zero {
            await waitForLinger(closing.linger)
        }

        let (connecters, engines) = state.withLock { state in
            state.lingering = false
            defer { state.connecters.removeAll(); state.pipes.removeAll() }
            return (state.connecters, Array(state.engines.values))
        }
        for connecter in connecters { await connecter.stop() }
        for engine in engines { await engine.close() }
        context.inproc.unbind(socket: self)
        context.forget(self)
        events.finish()
    }

    /// Waits until everything queued is written, or the linger time passes, or the closing task
    /// is cancelled (a cancelled close stops lingering and drops what is left).
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
