import Foundation
import Testing
import ZMQ
@testable import ZMQPatterns
import ZMQTestSupport

@Suite("Last value cache", .timeLimit(.minutes(1)))
struct LastValueCacheTests {
    @Test("the machine keeps the last message per topic and answers a subscription with every kept topic under its prefix, in order")
    func machine() {
        var machine = LastValueCacheMachine(frontend: SocketPlan(.sub), backend: SocketPlan(.xpub), maxTopics: 2)
        _ = machine.start(now: FixedClock.at(0))
        for message: Message in [["A", "a1"], ["AB", "ab1"], ["A", "a2"], ["C", "c1"]] {
            #expect(machine.received(message, on: LastValueCacheMachine.frontend, now: FixedClock.at(0)).compactMap(\.sent).map(\.message) == [message])
        }
        let answered = machine.received(Message(Frame([1] + Array("A".utf8))), on: LastValueCacheMachine.backend, now: FixedClock.at(0))
        #expect(answered.compactMap(\.sent).map(\.message) == [["A", "a2"], ["AB", "ab1"]])
        #expect(answered.compactMap(\.event) == [LastValueCacheEvent(.subscribed, topic: Array("A".utf8), count: 2)])
        #expect(machine.cache.count == 2, "C came beyond maxTopics: forwarded, not kept")
        #expect(machine.received(Message(Frame([0] + Array("A".utf8))), on: LastValueCacheMachine.backend, now: FixedClock.at(0)).isEmpty)
    }

    /// A cache between an XPUB publisher (to see the cache's subscription before publishing)
    /// and the endpoint subscribers connect to, its subscription seen.
    static func cache(in context: ZMQContext) async throws
        -> (publisher: ZMQSocket, downstream: String, feed: EventFeed<LastValueCacheEvent>, running: Task<Void, any Error>) {
        let (upstream, downstream) = (temporaryIPCEndpoint("lvc-up"), temporaryIPCEndpoint("lvc-down"))
        let publisher = try context.socket(.xpub)
        try await publisher.bind(upstream)
        let feed = EventFeed<LastValueCacheEvent>()
        var cache = LastValueCache(frontend: upstream, backend: downstream)
        cache.onEvent = feed.handler
        let configured = cache
        let running = Task { try await configured.run(in: context) }
        #expect(try await publisher.receive() == [Frame([1])])
        return (publisher, downstream, feed, running)
    }

    @Test("a subscriber that joins late gets the last value of its topics at once, before any later update")
    func lateJoiner() async throws {
        try await withContext { context in
            let (publisher, downstream, feed, running) = try await Self.cache(in: context)
            let early = try context.socket(.sub)
            try early.subscribe()
            try await early.connect(downstream)
            for await event in feed.stream where event.kind == .subscribed { break }
            for message: Message in [["weather", "rain"], ["news", "calm"], ["weather", "sun"]] { try await publisher.send(message) }
            for _ in 0..<3 { _ = try await early.receive() }   // through the cache, so kept there
            let late = try context.socket(.sub)
            try late.subscribe("weather")
            try await late.connect(downstream)
            #expect(try await late.receive() == ["weather", "sun"])
            try await publisher.send(["weather", "snow"])
            #expect(try await late.receive() == ["weather", "snow"])
            running.cancel()
            _ = await running.result
        }
    }

    @Test("a second subscriber to a topic that already has one still gets its last value at once: the backend hears every subscription, repeats included")
    func secondSubscriberToATopic() async throws {
        try await withContext { context in
            let (publisher, downstream, feed, running) = try await Self.cache(in: context)
            let first = try context.socket(.sub)
            try first.subscribe("weather")
            try await first.connect(downstream)
            for await event in feed.stream where event.kind == .subscribed { break }
            try await publisher.send(["weather", "sun"])
            #expect(try await first.receive() == ["weather", "sun"])
            // Fails rather than hangs if the cache never hears this repeated subscription.
            let second = try context.socket(.sub, options: [.receiveTimeout(.seconds(10))])
            try second.subscribe("weather")
            try await second.connect(downstream)
            #expect(try await second.receive() == ["weather", "sun"])
            #expect(try await first.receive() == ["weather", "sun"], "the cached value goes to every subscriber of the topic again")
            running.cancel()
            _ = await running.result
        }
    }
}
