import ZMTP

/// What the engines (tcp/ipc connections, inproc links) call: each takes the socket's lock once,
/// lets `SocketState` decide, and wakes whoever it names after the lock is released.
extension ZMQSocket {
    /// Returns once the socket is closing or closed (used by the proxy to notice either side go).
    func untilClosed() async {
        let events = events.stream()
        if state.withLock({ $0.closed }) { return }
        for await _ in events {}
    }

    /// Registers a new connection so closing the socket closes it; false if the socket is closed.
    func register(_ engine: any PipeEngine) -> Bool {
        state.withLock { state in
            guard !state.closed || state.lingering else { return false }
            state.engines[ObjectIdentifier(engine)] = engine
            return true
        }
    }

    func unregister(_ engine: any PipeEngine) {
        let settled = state.withLock { state -> CheckedContinuation<Void, Never>? in
            state.engines[ObjectIdentifier(engine)] = nil
            return state.takeLingerWaiterIfSettled()
        }
        settled?.resume()
    }

    /// A connection completed its handshake. Returns its pipe (the connect-side pipe, or a new one
    /// for an accepted peer), or nil when the socket type refuses another peer. Messages read
    /// from it will carry `metadata`.
    func attach(_ engine: any PipeEngine, peer: PeerInfo, metadata: MessageMetadata? = nil, connectPipe: Pipe?) -> Pipe? {
        let (pipe, wakeups, replaced, messagesWait, resume) = state.withLock {
            $0.attach(engine, peer: peer, metadata: metadata, connectPipe: connectPipe)
        }
        wakeups.resume()
        if let replaced { Task { await replaced.close() } }
        if messagesWait { engine.scheduleDrain() }
        if resume { engine.resumeReading() }
        return pipe
    }

    /// A connection went away (see `SocketState.detach`).
    func detach(_ engine: any PipeEngine, from pipe: Pipe) {
        state.withLock { $0.detach(engine, from: pipe) }.resume()
    }

    /// Hands messages read from `pipe`'s connection to the socket, in one lock. Returns true when
    /// the pipe reached the receive high-water mark and the engine should pause reading.
    func deliver(_ batch: inout MessageQueue, from pipe: Pipe) -> Bool {
        let (pause, wakeups) = state.withLock { $0.deliver(&batch, from: pipe) }
        batch.removeAll(keepingCapacity: true)
        wakeups.resume()
        return pause
    }

    /// At most this many messages go into one batch for the wire. With the default high-water
    /// mark a batch is the whole queue; without one (0), a queue of millions would otherwise be
    /// encoded into a single buffer of hundreds of megabytes.
    static let sendBatch = 1024

    /// Moves the queued outbound messages of `pipe` into `batch`, up to `sendBatch` of them.
    /// Returns nil when there is nothing to send; otherwise whether the engine must report the
    /// batch written (`batchWritten`): only while the socket lingers, so the steady path needs
    /// no promise.
    ///
    /// The take goes without the socket's lock unless the socket must hear of it (`Pipe.take`).
    @inline(__always)
    func takeOutbound(from pipe: Pipe, into batch: inout MessageQueue) -> TakenBatch? {
        let queued = batch.count
        let (take, wasFull) = pipe.take(into: &batch, limit: Self.sendBatch)
        switch take {
        case .nothing:
            return nil
        case .taken:
            octets.messagesSent.add(batch.count - queued, ordering: .relaxed)
            if wasFull { state.withLock { $0.roomMade(in: pipe) }.resume() }
            return TakenBatch(reportWhenWritten: false)
        case .throughSocket:
            guard let (report, wakeups) = state.withLock({ $0.takeOutbound(from: pipe, into: &batch, limit: Self.sendBatch) }) else {
                return nil
            }
            octets.messagesSent.add(batch.count - queued, ordering: .relaxed)
            wakeups.resume()
            return TakenBatch(reportWhenWritten: report)
        }
    }

    struct TakenBatch {
        /// Call `batchWritten(from:)` once the batch is on the wire (or its connection failed).
        let reportWhenWritten: Bool
    }

    /// A batch taken while lingering, or a connection's flush when closing began, has reached the
    /// wire (or its connection failed): this may end the linger wait.
    func batchWritten(from pipe: Pipe) {
        let settled = state.withLock { state in
            pipe.batchesInFlight -= 1
            return state.takeLingerWaiterIfSettled()
        }
        settled?.resume()
    }
}
