import DequeModule
import Synchronization
import ZMQ

/// The Guide's Black Box pattern for high-speed subscribers (chapter 5): one subscriber
/// connection read as fast as it arrives, its messages handed to several workers, so that slow
/// work does not hold up the socket (and so the publisher's queue for it).
///
///     let subscriber = try context.socket(.sub)
///     try subscriber.subscribe("prices")
///     try await subscriber.connect("tcp://feed:5556")
///     try await SubscriberFanOut(workers: 4).run(from: subscriber, in: context) { message, worker in
///         try await price(message)      // up to 4 at once
///     }
///
/// The Guide draws the hand-off as a PUSH over inproc to a PULL per worker; inside one process
/// the same is a queue the workers share: each free worker takes the next messages, so a worker
/// stuck on one message gets no more while the others go on, and up to
/// `workers × queuedPerWorker` messages wait in it before the fan-out stops reading (the
/// subscriber's high-water mark then applies), besides the share each worker has taken (up to
/// 64, or all that waited for a lone worker). The reading loop runs on the subscriber's I/O thread, so the
/// socket is read without a hop between threads; the workers run where Swift puts tasks, never
/// on an I/O thread, so a handler that computes for a long time runs beside the others and does
/// not stop the connections from being read. A worker handles its messages in order; across
/// workers there is no order (the pattern is for work that can be done in parallel, such as
/// independent prices).
public struct SubscriberFanOut: Sendable {
    public var workers: Int
    /// How many messages may wait, per worker, before the fan-out stops reading.
    public var queuedPerWorker = 1000

    public init(workers: Int) {
        self.workers = workers
    }

    /// The most messages the reading loop takes from the socket before handing them over.
    static let readBatch = 256

    /// Reads `subscriber` and hands each message to `handler` on one of the workers (numbered
    /// from 0), until the task is cancelled (then returns), `subscriber` is closed, or a handler
    /// throws (then throws its error). `context` is the subscriber's.
    public func run(from subscriber: ZMQSocket, in context: ZMQContext,
                    handler: @escaping @Sendable (Message, _ worker: Int) async throws -> Void) async throws {
        try Settings.atLeastOne(workers, "workers")
        try Settings.atLeastOne(queuedPerWorker, "queuedPerWorker")
        let (product, overflow) = workers.multipliedReportingOverflow(by: queuedPerWorker)
        let queue = HandOffQueue(workers: workers, capacity: overflow ? Int.max : product)
        do {
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask {
                    try await withTaskExecutorPreference(subscriber.ioExecutor) {
                        // What the socket holds is handed over at once: one lock, at most one
                        // wake-up for a burst read from the network.
                        var read = Deque<Message>()
                        while true {
                            read.append(try await subscriber.receive())
                            while read.count < Self.readBatch, let message = try? subscriber.tryReceive() { read.append(message) }
                            try await queue.put(&read)
                        }
                    }
                }
                for worker in 0..<workers {
                    // Where Swift puts tasks, even when `run` is called on an I/O thread.
                    group.addTask(executorPreference: globalConcurrentExecutor) {
                        var taken = Deque<Message>()
                        while true {
                            if taken.isEmpty { try await queue.take(into: &taken) }
                            while let message = taken.popFirst() {
                                try Task.checkCancellation()  // what was taken is dropped once the fan-out ends
                                try await handler(message, worker)
                            }
                        }
                    }
                }
                // The first to end (the subscriber closed, a handler failed) ends them all.
                defer {
                    group.cancelAll()
                    queue.close()
                }
                try await group.next()
            }
        } catch ZMQError.cancelled, ZMQError.socketClosed {
            return
        } catch is CancellationError {
            return
        }
    }
}

/// The messages between the fan-out's reading loop and its workers. The loop hands over what
/// it read in one go, and no message waits while a worker is free: each free worker is woken
/// with its share of what waits (up to `share`), so a burst wakes a few workers, not one per
/// message, and workers that keep up take messages a batch at a time. A stuck worker holds back
/// no more than its share (a lone worker takes everything). Messages move through without being
/// copied.
final class HandOffQueue: Sendable {
    private struct State {
        var messages = Deque<Message>()
        /// Workers waiting for messages, the last to finish last in (its thread is likeliest
        /// to be warm).
        var idle: [UnsafeContinuation<Deque<Message>, any Error>] = []
        /// The reading loop, waiting for room.
        var reader: UnsafeContinuation<Void, any Error>?
        var closed = false

        /// Takes up to a worker's share of the waiting messages into `taken`.
        mutating func takeShare(into taken: inout Deque<Message>, workers: Int) {
            if workers == 1, taken.isEmpty {
                swap(&taken, &messages)  // a lone worker's share is everything
                return
            }
            let count = min(HandOffQueue.share, max(1, messages.count / workers))
            for _ in 0..<count {
                guard let message = messages.popFirst() else { break }
                taken.append(message)
            }
        }

        /// A worker's take: its share into `taken`, and the reading loop to wake if that made
        /// room for it.
        mutating func take(into taken: inout Deque<Message>, workers: Int, capacity: Int) -> UnsafeContinuation<Void, any Error>? {
            takeShare(into: &taken, workers: workers)
            return !taken.isEmpty && messages.count < capacity ? reader.take() : nil
        }
    }

    /// The most messages a worker takes at once.
    static let share = 64

    private let workers: Int
    private let capacity: Int
    private let state = Mutex(State())

    init(workers: Int, capacity: Int) {
        self.workers = workers
        self.capacity = capacity
    }

    /// Queues `messages` (leaving it empty) and wakes the workers they need; waits while the
    /// queue is full. Throws `CancellationError` once the queue is closed.
    func put(_ messages: inout Deque<Message>) async throws {
        while !messages.isEmpty {
            let (woken, outcome) = state.withLock { state -> ([(UnsafeContinuation<Deque<Message>, any Error>, Deque<Message>)], PutOutcome) in
                if state.closed { return ([], .closed) }
                if state.messages.isEmpty, messages.count <= capacity {
                    swap(&state.messages, &messages)  // the usual case for workers that keep up
                } else {
                    while state.messages.count < capacity, let message = messages.popFirst() { state.messages.append(message) }
                }
                var woken: [(UnsafeContinuation<Deque<Message>, any Error>, Deque<Message>)] = []
                // No message waits while a worker is free (the workers awake may all be stuck).
                while !state.idle.isEmpty, !state.messages.isEmpty {
                    var share = Deque<Message>()
                    state.takeShare(into: &share, workers: workers)
                    woken.append((state.idle.removeLast(), share))
                }
                return (woken, messages.isEmpty ? .queued : .full)
            }
            for (worker, share) in woken { worker.resume(returning: share) }
            switch outcome {
            case .queued: return
            case .full: try await waitForRoom()
            case .closed: throw CancellationError()
            }
        }
    }

    private enum PutOutcome {
        case queued, full, closed
    }

    /// Takes the worker's share of the waiting messages into `taken`, waiting for some if none
    /// is queued. Throws `CancellationError` once the queue is closed (a cancelled waiter closes
    /// it: the fan-out is ending).
    func take(into taken: inout Deque<Message>) async throws {
        let reader = state.withLock { $0.take(into: &taken, workers: workers, capacity: capacity) }
        reader?.resume()
        if !taken.isEmpty { return }
        taken = try await withTaskCancellationHandler {
            try await withUnsafeThrowingContinuation { (worker: UnsafeContinuation<Deque<Message>, any Error>) in
                // Under the lock `close` takes too: a close is either seen here or finds this
                // worker among the idle.
                let (share, reader, closed) = state.withLock { state -> (Deque<Message>, UnsafeContinuation<Void, any Error>?, Bool) in
                    var share = Deque<Message>()
                    if state.closed { return (share, nil, true) }
                    let reader = state.take(into: &share, workers: workers, capacity: capacity)
                    if share.isEmpty { state.idle.append(worker) }
                    return (share, reader, false)
                }
                reader?.resume()
                if closed {
                    worker.resume(throwing: CancellationError())
                } else if !share.isEmpty {
                    worker.resume(returning: share)
                }
            }
        } onCancel: {
            close()
        }
    }

    private func waitForRoom() async throws {
        try await withTaskCancellationHandler {
            try await withUnsafeThrowingContinuation { (reader: UnsafeContinuation<Void, any Error>) in
                let outcome = state.withLock { state -> Bool? in
                    if state.closed { return false }
                    if state.messages.count < capacity { return true }
                    state.reader = reader
                    return nil
                }
                switch outcome {
                case true?: reader.resume()
                case false?: reader.resume(throwing: CancellationError())
                case nil: break
                }
            }
        } onCancel: {
            close()
        }
    }

    /// Ends the hand-off: waiting workers and the reading loop throw `CancellationError`, and
    /// what was queued is dropped.
    func close() {
        let (idle, reader) = state.withLock { state in
            state.closed = true
            state.messages.removeAll()
            defer { state.idle.removeAll() }
            return (state.idle, state.reader.take())
        }
        for worker in idle { worker.resume(throwing: CancellationError()) }
        reader?.resume(throwing: CancellationError())
    }
}
