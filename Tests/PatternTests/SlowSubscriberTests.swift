import Foundation
import Testing
import ZMQ
import ZMQPatterns
import ZMQTestSupport

@Suite("Slow subscribers (Suicidal Snail)", .timeLimit(.minutes(1)))
struct SlowSubscriberTests {
    @Test("the stamp is a last frame of 8 octets: microseconds since the Unix epoch in network order; unstamped gives the message and the time back")
    func stamp() throws {
        let stamped = LagGuard.stamped(["topic", "body"], at: Date(timeIntervalSince1970: 1.000_002))
        #expect(stamped.frames.map(\.bytes) == [Array("topic".utf8), Array("body".utf8), [0, 0, 0, 0, 0, 0x0F, 0x42, 0x42]])
        let (message, sent) = try #require(LagGuard.unstamped(stamped))
        #expect(message == ["topic", "body"] && abs(sent.timeIntervalSince1970 - 1.000_002) < 0.000_000_5)
        #expect(LagGuard.unstamped(["only"]) == nil && LagGuard.unstamped(["a", "7 bytes"]) == nil)
    }

    @Test("a message within the lag passes without its stamp; one later throws subscriberTooSlow; one without a stamp throws invalidMessage")
    func check() throws {
        let lagGuard = LagGuard(maxLag: .seconds(1))
        let sent = Date(timeIntervalSince1970: 1_000_000)
        #expect(try lagGuard.check(LagGuard.stamped(["m"], at: sent), now: sent.addingTimeInterval(0.9)) == ["m"])
        let late = #expect(throws: ZMQError.self) {
            try lagGuard.check(LagGuard.stamped(["m"], at: sent), now: sent.addingTimeInterval(1.1))
        }
        #expect(late?.code == .subscriberTooSlow && late?.message == "a message arrived 1.100 seconds after it was sent, more than the 1.0 seconds allowed")
        #expect(#expect(throws: ZMQError.self) { try lagGuard.check(["m"], now: sent) }?.code == .invalidMessage)
    }

    @Test("suisnail: a publisher stamps as fast as it can; the subscriber stalls once, its next message is stale, its sequence ends with subscriberTooSlow; it closes and the publisher sees it go")
    func suicidalSnail() async throws {
        try await withContext { context in
            let endpoint = temporaryIPCEndpoint("snail")
            let publisher = try context.socket(.pub)
            let events = try publisher.monitor()
            try await publisher.bind(endpoint)
            let subscriber = try context.socket(.sub)
            try subscriber.subscribe()
            try await subscriber.connect(endpoint)
            let publishing = Task {
                var count = 0
                while !Task.isCancelled {
                    try publisher.trySend(LagGuard.stamped(["tick", Frame("\(count)")]))
                    count += 1
                    await Task.yield()
                }
            }
            var received = 0
            var failure: ZMQError?
            do {
                // A lag allowed well above what a loaded machine adds to the first message.
                for try await message in LagGuard(maxLag: .milliseconds(400)).messages(from: subscriber) {
                    #expect(message.count == 2 && message[0] == "tick")
                    received += 1
                    // One slow step: what waits in the queue meanwhile is stale by the time it is read.
                    if received == 1 { try await Task.sleep(for: .milliseconds(1200)) }
                }
            } catch let error as ZMQError {
                failure = error
            }
            #expect(received == 1 && failure?.code == .subscriberTooSlow, "\(String(describing: failure))")
            subscriber.close()
            #expect(await nextEvent(events) { $0.kind == .disconnected } != nil)
            publishing.cancel()
            _ = await publishing.result
        }
    }
}
