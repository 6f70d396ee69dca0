import Foundation
import Synchronization
import Testing
import ZMQ
import ZMQPatterns
import ZMQTestSupport

@Suite("Subscriber fan-out (Black Box)", .timeLimit(.minutes(1)))
struct SubscriberFanOutTests {
    @Test("one subscriber's messages are each handled once, over several workers; a worker stuck on one message does not hold up the rest")
    func fanOut() async throws {
        try await withContext { context in
            let endpoint = temporaryIPCEndpoint("fan-out")
            let publisher = try context.socket(.xpub, options: [.sendHighWaterMark(0)])
            try await publisher.bind(endpoint)
            let subscriber = try context.socket(.sub)
            try subscriber.subscribe()
            try await subscriber.connect(endpoint)
            _ = try await publisher.receive()
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
}
