import Foundation
import ZMQ

/// The Guide's Black Box pattern for high-speed subscribers (chapter 5): one subscriber
/// connection read as fast as it arrives, its messages handed out over inproc to several
/// workers in turn, so that slow work does not hold up the socket (and so the publisher's queue
/// for it).
///
///     let subscriber = try context.socket(.sub)
///     try subscriber.subscribe("prices")
///     try await subscriber.connect("tcp://feed:5556")
///     try await SubscriberFanOut(workers: 4).run(from: subscriber, in: context) { message, worker in
///         try await price(message)      // up to 4 at once
///     }
///
/// Inside, a PUSH bound on a fresh inproc endpoint and one PULL per worker, as the Guide draws
/// it: messages go round the workers whose queues have room (a PUSH's round robin), each queue
/// holding up to `queuedPerWorker`, so a burst waits there rather than in the subscriber, and a
/// worker stuck on one message gets no more once its queue is full. The
/// forwarding loop runs on the subscriber's I/O thread, each worker on its PULL's, so a message
/// crosses no other thread on its way. Messages to one worker are handled in order; across
/// workers there is no order (the pattern is for work that can be done in parallel, such as
/// independent prices).
public struct SubscriberFanOut: Sendable {
    public var workers: Int
    /// How many messages wait for one worker before the fan-out waits for it.
    public var queuedPerWorker = 1000

    public init(workers: Int) {
        self.workers = workers
    }

    /// Reads `subscriber` and hands each message to `handler` on one of the workers (numbered
    /// from 0), until the task is cancelled (then returns), `subscriber` is closed, or a handler
    /// throws (then throws its error).
    public func run(from subscriber: ZMQSocket, in context: ZMQContext,
                    handler: @escaping @Sendable (Message, _ worker: Int) async throws -> Void) async throws {
        try Settings.atLeastOne(workers, "workers")
        try Settings.atLeastOne(queuedPerWorker, "queuedPerWorker")
        let endpoint = "inproc://zmqpatterns-fan-out-\(UUID().uuidString)"
        let push = try context.socket(.push, options: [.linger(.zero), .sendHighWaterMark(queuedPerWorker)])
        var pulls: [ZMQSocket] = []
        defer {
            push.close()
            for pull in pulls { pull.close() }
        }
        try await push.bind(endpoint)
        for _ in 0..<workers {
            let pull = try context.socket(.pull, options: [.linger(.zero), .receiveHighWaterMark(queuedPerWorker)])
            try await pull.connect(endpoint)
            pulls.append(pull)
        }
        do {
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask {
                    try await withTaskExecutorPreference(subscriber.ioExecutor) {
                        while true { try await push.send(try await subscriber.receive()) }
                    }
                }
                for (worker, pull) in pulls.enumerated() {
                    group.addTask {
                        try await withTaskExecutorPreference(pull.ioExecutor) {
                            while true { try await handler(try await pull.receive(), worker) }
                        }
                    }
                }
                // The first to end (the subscriber closed, a handler failed) ends them all.
                defer { group.cancelAll() }
                try await group.next()
            }
        } catch ZMQError.cancelled, ZMQError.socketClosed {
            return
        } catch is CancellationError {
            return
        }
    }
}
