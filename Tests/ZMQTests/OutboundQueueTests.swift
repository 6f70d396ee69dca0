import Foundation
import Testing
@testable import ZMQ
import ZMTP

/// The lock-free outbound queue between a sending socket and its engine.
@Suite("Outbound queue")
struct OutboundQueueTests {
    @Test("the first message wakes the consumer, the next ones do not until it finds the queue empty; chunks are crossed in order")
    func wakeEdges() {
        let queue = OutboundQueue()
        var batch = MessageQueue()
        #expect(queue.append(copying: "a") == true, "asleep at first")
        #expect(queue.append(copying: "b") == false)
        #expect(queue.consumerLock.withLock { _ in queue.take(into: &batch, limit: 1) } == 1 && queue.count == 1)
        #expect(queue.append(copying: "c") == false, "awake: it has not found the queue empty yet")
        #expect(queue.consumerLock.withLock { _ in queue.take(into: &batch, limit: 10) } == 2)
        #expect(queue.append(copying: "d") == false, "still awake")
        #expect(queue.consumerLock.withLock { _ in queue.take(into: &batch, limit: 10) } == 1)
        #expect(queue.consumerLock.withLock { _ in queue.take(into: &batch, limit: 10) } == 0, "empty: it goes to sleep")
        #expect(queue.append(copying: "e") == true, "so the next message wakes it")
        for index in 0..<1000 { _ = queue.append(copying: Message(Frame(String(index)))) }
        #expect(queue.consumerLock.withLock { _ in queue.take(into: &batch, limit: 2000) } == 1001)
        #expect(batch.map { $0[0].string ?? "" } == ["a", "b", "c", "d", "e"] + (0..<1000).map(String.init))
    }

    @Test("a steady stream reuses the chunk its consumer emptied: a few chunks for 100,000 messages, every one in order")
    func chunksAreReused() {
        let queue = OutboundQueue()
        var batch = MessageQueue()
        var next = 0
        for round in 0..<1000 {
            for index in 0..<100 { _ = queue.append(copying: Message(Frame(String(round * 100 + index)))) }
            #expect(queue.consumerLock.withLock { _ in queue.take(into: &batch, limit: 1000) } == 100)
            while let message = batch.popFirst() {
                #expect(message[0].string == String(next))
                next += 1
            }
        }
        #expect(next == 100_000)
        #expect(queue.chunksMade <= 4, "\(queue.chunksMade) chunks")
    }

    @Test("exclusive changes see the whole queue and keep it in order; conflating replaces it; afterwards the consumer is awake only if messages wait")
    func exclusiveChanges() {
        let queue = OutboundQueue()
        var batch = MessageQueue()
        for index in 0..<300 { _ = queue.append(copying: Message(Frame(String(index)))) }
        queue.exclusively { $0.prepend(Message(Frame("first"))) }
        #expect(queue.count == 301 && queue.append(copying: "last") == false)
        #expect(queue.consumerLock.withLock { _ in queue.take(into: &batch, limit: 1000) } == 302)
        #expect(batch.map { $0[0].string ?? "" } == ["first"] + (0..<300).map(String.init) + ["last"])
        queue.exclusively { $0.removeAll() }
        #expect(queue.append(copying: "w") == true, "emptied: asleep")
        for index in 0..<199 { _ = queue.append(copying: Message(Frame(String(index)))) }
        #expect(queue.removeAll() == 200 && queue.count == 0, "dropped in place, across chunks")
        #expect(queue.append(copying: "x") == true, "emptied: asleep")
        let (dropped, wake) = queue.replaceAll(with: "y")
        #expect(dropped == 1 && wake == false && queue.count == 1)
        batch.removeAll()
        #expect(queue.consumerLock.withLock { _ in queue.take(into: &batch, limit: 10) } == 1 && batch.first == "y")
    }

    @Test("a producer and a consumer on two threads: every message arrives once, in order, and the consumer is woken whenever it sleeps with messages queued")
    func producerAndConsumer() async throws {
        let queue = OutboundQueue()
        let total = 300_000
        let wakes = DispatchSemaphore(value: 0)
        let finished = DispatchSemaphore(value: 0)
        let consumer = Thread {
            var next = 0
            var batch = MessageQueue()
            while next < total {
                wakes.wait()
                // Woken: take until the queue is found empty (the consumer then sleeps).
                while true {
                    let taken = queue.consumerLock.withLock { _ in queue.take(into: &batch, limit: 1000) }
                    if taken == 0 { break }
                    while let message = batch.popFirst() {
                        #expect(message[0].bytes == Array(String(next).utf8))
                        next += 1
                    }
                }
            }
            finished.signal()
        }
        consumer.start()
        var woken = 0
        for index in 0..<total {
            if queue.append(copying: Message(Frame(String(index)))) {
                woken += 1
                wakes.signal()
            }
            // Now and then a pause, so that the consumer catches up and goes to sleep.
            if index % 1000 == 0 { usleep(10) }
        }
        finished.wait()
        // A lost wake-up would have left the consumer waiting, and this test hanging.
        #expect(queue.count == 0 && woken >= 1)
    }
}
