import DequeModule
import Dispatch
import Foundation
import Synchronization
import Testing
import ZMQ
@testable import ZMQPatterns
import ZMQTestSupport

@Suite("Subscriber fan-out (Black Box)", .timeLimit(.minutes(1)))
struct SubscriberFanOutTests {
    /// An XPUB and a SUB subscribed to everything, once the XPUB has the subscription.
    static func subscribed(in context: ZMQContext, _ name: String) async throws -> (publisher: ZMQSocket, subscriber: ZMQSocket) {
        let endpoint = temporaryIPCEndpoint(name)
        let publisher = try context.socket(.xpub, options: [.sendHighWaterMark(0)])
        try await publisher.bind(endpoint)
        let subscriber = try context.socket(.sub)
        try subscriber.subscribe()
        try await subscriber.connect(endpoint)
        _ = try await publisher.receive()
        return (publisher, subscriber)
    }

    @Test("one subscriber's messages are each handled once, over several workers; a worker stuck on one message does not hold up the rest")
    func fanOut() async throws {
        try await withContext { context in
            let (publisher, subscriber) = try await Self.subscribed(in: context, "fan-out")
            let handled = Mutex<[Int: Int]>([:])
            let (othersDone, signal) = AsyncStream.makeStream(of: Void.self)
            let (allDone, finished) = AsyncStream.makeStream(of: Void.self)
            let running = Task {
                try await SubscriberFanOut(workers: 3).run(from: subscriber, in: context) { message, worker in
                    let number = Int(message[0].string ?? "") ?? -1
                    if worker == 0, number == 0 {
                        // Stuck until the other workers have handled 150 messages between them.
                        var iterator = othersDone.makeAsyncIterator()
                        _ = await iterator.next()
                    }
                    let others = handled.withLock { handled in
                        handled[number, default: 0] += 1
                        return handled.count
                    }
                    if worker != 0, others == 150 { signal.yield() }
                    if others == 300 { finished.yield() }
                }
            }
            for number in 0..<300 { try await publisher.send(Message(Frame("\(number)"))) }
            var waiting = allDone.makeAsyncIterator()
            _ = await waiting.next()
            #expect(handled.withLock { $0 } == Dictionary(uniqueKeysWithValues: (0..<300).map { ($0, 1) }))
            running.cancel()
            try await running.value
        }
    }

    @Test("a handler that blocks its thread does not block the I/O thread: the connections go on being read")
    func blockingHandler() async throws {
        try await withContext { context in
            let (publisher, subscriber) = try await Self.subscribed(in: context, "fan-out-blocking")
            let (outcomes, report) = AsyncStream.makeStream(of: DispatchTimeoutResult.self)
            let running = Task {
                try await SubscriberFanOut(workers: 2).run(from: subscriber, in: context) { _, _ in
                    // Work that holds its thread (no await) until the context's one I/O thread
                    // has run a job: it never would if the handler were holding that thread.
                    let ran = DispatchSemaphore(value: 0)
                    context.eventLoopGroup.next().execute { ran.signal() }
                    report.yield(ran.wait(timeout: .now() + 10))
                }
            }
            try await publisher.send(Message(Frame("work")))
            var iterator = outcomes.makeAsyncIterator()
            #expect(await iterator.next() == .success)
            running.cancel()
            try await running.value
        }
    }
    @Test("the hand-off: a worker takes its share of what waits, in order; a reader of a full queue goes on once a worker takes; closing ends every waiter")
    func handOffQueue() async throws {
        let queue = HandOffQueue(workers: 2, capacity: 4)
        func messages(_ range: Range<Int>) -> Deque<Message> { Deque(range.map { Message(Frame("\($0)")) }) }
        func numbers(_ taken: Deque<Message>) -> [String] { taken.map { $0[0].string ?? "" } }
        var first = messages(0..<6)
        let reader = Task {
            try await queue.put(&first)  // four fit; the last two wait for room
            return first.count
        }
        var taken = Deque<Message>()
        try await queue.take(into: &taken)
        #expect(numbers(taken) == ["0", "1"])  // half of four: its share of two workers'
        #expect(try await reader.value == 0)
        var rest = Deque<Message>()
        while rest.count < 4 { try await queue.take(into: &rest) }
        #expect(numbers(rest) == ["2", "3", "4", "5"])

        let waiting = Task {
            var none = Deque<Message>()
            try await queue.take(into: &none)
        }
        queue.close()
        await #expect(throws: CancellationError.self) { try await waiting.value }
        var late = messages(6..<7)
        await #expect(throws: CancellationError.self) { try await queue.put(&late) }
    }
    @Test("no message waits for a stuck worker while another worker is free")
    func freeWorkerTakesMessage() async throws {
        try await withContext { context in
            let (publisher, subscriber) = try await Self.subscribed(in: context, "fan-out-free")
            let (started, start) = AsyncStream.makeStream(of: Void.self)
            let (handledFree, handled) = AsyncStream.makeStream(of: Int.self)
            // One stream per worker, so that no stream has two readers.
            let releases = (0..<3).map { _ in AsyncStream.makeStream(of: Void.self) }
            let running = Task {
                try await SubscriberFanOut(workers: 3).run(from: subscriber, in: context) { message, worker in
                    if message[0].string == "stuck" {
                        start.yield()
                        for await _ in releases[worker].stream { break }  // stuck until the test is done
                    } else {
                        handled.yield(worker)
                    }
                }
            }
            try await publisher.send(Message(Frame("stuck")))
            try await publisher.send(Message(Frame("stuck")))
            var starts = started.makeAsyncIterator()
            _ = await starts.next()
            _ = await starts.next()
            // Two workers are stuck; the third takes the next message.
            try await publisher.send(Message(Frame("free")))
            var handledIterator = handledFree.makeAsyncIterator()
            #expect(await handledIterator.next() != nil)
            for release in releases { release.continuation.finish() }
            running.cancel()
            try await running.value
        }
    }
}
