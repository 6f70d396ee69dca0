import Foundation
import Testing
import ZMQ
import ZMQTestSupport

/// PUB, SUB, XPUB and XSUB (29/PUBSUB) between swift-zmq sockets and against hand-written peers.
@Suite("Publish-subscribe", .timeLimit(.minutes(1)))
struct PubSubTests {
    @Test("a SUB receives only the messages that match its subscriptions", arguments: Transport.allCases)
    func filtering(transport: Transport) async throws {
        try await withContext { context in
            let publisher = try context.socket(.pub)
            let subscriber = try context.socket(.sub)
            try subscriber.set(.receiveTimeout(.seconds(10)))
            try subscriber.subscribe("weather.")
            try subscriber.subscribe("news")
            let endpoint = try await publisher.bind(transport.freshEndpoint)
            try await subscriber.connect(endpoint)

            let flood = keepPublishing(["sports 1", "weather.oslo -3", ["news", "two", "frames"], "newsroom", "w"], on: publisher)
            defer { flood.cancel() }
            var seen: [Message] = []
            for _ in 0..<20 { seen.append(try await subscriber.receive()) }
            #expect(seen.allSatisfy { [["weather.oslo -3"], ["news", "two", "frames"], ["newsroom"]].contains($0.strings) })
            #expect(seen.contains(["news", "two", "frames"]))
        }
    }

    @Test("the publisher filters: a raw subscriber gets only its topic, in ZMTP 3.1 and 3.0 form", arguments: [UInt8(1), 0])
    func publisherSideFiltering(minor: UInt8) async throws {
        try await withContext { context in
            let publisher = try context.socket(.pub)
            let endpoint = try await publisher.bind("tcp://127.0.0.1:*")
            let peer = try RawPeer(port: port(of: endpoint))
            defer { peer.close() }
            // 3.1 subscribes with a SUBSCRIBE command, 3.0 with a 0x01 + topic message.
            let subscribe = minor == 1 ? RawPeer.command("SUBSCRIBE", Array("A".utf8)) : [0x00, 2, 0x01, UInt8(ascii: "A")]
            peer.send(RawPeer.greeting(minor: minor) + RawPeer.ready("SUB") + subscribe)
            #expect(await onThread { peer.skipHandshake() })

            let flood = keepPublishing(["B-miss", "A-hit"], on: publisher)
            defer { flood.cancel() }
            let frames = await onThread { (0..<10).map { _ in peer.readFrame()?.body ?? [] } }
            #expect(frames.allSatisfy { $0 == Array("A-hit".utf8) })
        }
    }

    @Test("a SUB sends its subscriptions in its peer's form, again to each new connection, and cancels", arguments: [UInt8(1), 0])
    func subscriptionsOnTheWire(minor: UInt8) async throws {
        /// The frame, flags octet first, that the peer should read.
        func subscription(_ subscribe: Bool, _ topic: String) -> [UInt8] {
            minor == 1
                ? [0x04] + RawPeer.command(subscribe ? "SUBSCRIBE" : "CANCEL", Array(topic.utf8)).dropFirst(2)
                : [0x00, subscribe ? 1 : 0] + Array(topic.utf8)
        }
        func next(_ peer: RawPeer) async -> [UInt8]? {
            await onThread { peer.readFrame().map { [$0.flags] + $0.body } }
        }
        try await withContext { context in
            let subscriber = try context.socket(.sub)
            try subscriber.subscribe("A")
            let endpoint = try await subscriber.bind("tcp://127.0.0.1:*")
            let first = try RawPeer(port: port(of: endpoint))
            defer { first.close() }
            first.send(RawPeer.greeting(minor: minor) + RawPeer.ready("PUB"))
            #expect(await onThread { first.skipHandshake() })
            #expect(await next(first) == subscription(true, "A"))

            try subscriber.subscribe("B")
            #expect(await next(first) == subscription(true, "B"))
            try subscriber.subscribe("B")  // counted: this one is sent too, and needs its own cancel
            #expect(await next(first) == subscription(true, "B"))
            try subscriber.unsubscribe("B")
            try subscriber.unsubscribe("never subscribed")
            try subscriber.unsubscribe("B")
            #expect(await next(first) == subscription(false, "B"))

            let second = try RawPeer(port: port(of: endpoint))
            defer { second.close() }
            second.send(RawPeer.greeting(minor: minor) + RawPeer.ready("XPUB"))
            #expect(await onThread { second.skipHandshake() })
            #expect(await next(second) == subscription(true, "A"))
        }
    }

    @Test("an XPUB is told of the first subscribe and the last cancel, and of what a leaving peer held")
    func xpubSubscriptions() async throws {
        try await withContext { context in
            let xpub = try context.socket(.xpub)
            try xpub.set(.receiveTimeout(.seconds(10)))
            let endpoint = try await xpub.bind("tcp://127.0.0.1:*")
            let first = try context.socket(.sub)
            let second = try context.socket(.sub)
            try await first.connect(endpoint)
            try await second.connect(endpoint)

            try first.subscribe("A")
            #expect(try await xpub.receive() == Message(Frame([1] + Array("A".utf8))))
            // The same topic from a second peer is not news; a new one is, and arrives after it.
            try second.subscribe("A")
            try second.subscribe("C")
            #expect(try await xpub.receive() == Message(Frame([1] + Array("C".utf8))))
            // A cancel while another peer still holds the topic is not news either.
            try first.unsubscribe("A")
            try first.subscribe("D")
            #expect(try await xpub.receive() == Message(Frame([1] + Array("D".utf8))))

            // The peer that held A and C goes: the XPUB hears both cancels.
            second.close()
            await second.waitUntilClosed()
            let cancels = Set([try await xpub.receive(), try await xpub.receive()])
            #expect(cancels == [Message(Frame([0] + Array("A".utf8))), Message(Frame([0] + Array("C".utf8)))])

            try await xpub.send("D-news")
            try first.set(.receiveTimeout(.seconds(10)))
            #expect(try await first.receive() == "D-news")
        }
    }

    @Test("a verbose XPUB hears every subscribe, and a verboser one every cancel too")
    func xpubVerbose() async throws {
        try await withContext { context in
            let xpub = try context.socket(.xpub)
            try xpub.set(.xpubVerboser(true))
            #expect(xpub.options.xpubVerbose)
            try xpub.set(.receiveTimeout(.seconds(10)))
            try await xpub.bind("inproc://verbose")
            let first = try context.socket(.sub)
            let second = try context.socket(.sub)
            try await first.connect("inproc://verbose")
            try await second.connect("inproc://verbose")
            try first.subscribe("A")
            #expect(try await xpub.receive() == Message(Frame([1, 65])))
            try second.subscribe("A")
            #expect(try await xpub.receive() == Message(Frame([1, 65])))
            // The topic is still held by `first`, yet the cancel is passed on.
            try second.unsubscribe("A")
            #expect(try await xpub.receive() == Message(Frame([0, 65])))
            first.close()
            await first.waitUntilClosed()
            #expect(try await xpub.receive() == Message(Frame([0, 65])))
        }
    }

    @Test("an XPUB that is not read still applies every subscription")
    func xpubNeverStopsReadingSubscriptions() async throws {
        try await withContext { context in
            let xpub = try context.socket(.xpub)
            try xpub.set(.receiveHighWaterMark(1))
            let endpoint = try await xpub.bind("tcp://127.0.0.1:*")
            let subscriber = try context.socket(.sub)
            try subscriber.set(.receiveTimeout(.seconds(10)))
            try await subscriber.connect(endpoint)
            for topic in ["A", "B", "C", "D", "Z"] { try subscriber.subscribe(topic) }
            let flood = keepPublishing(["Z1"], on: xpub)
            defer { flood.cancel() }
            #expect(try await subscriber.receive() == "Z1")
            // Only what fits under the high-water mark was queued for the application: one of
            // the five subscriptions (a new connection gets them in no particular order).
            let queued = try xpub.tryReceive()
            #expect(queued.count == 1 && queued[0].count == 2 && queued[0].bytes.first == 1)
            #expect(throws: ZMQError.wouldBlock) { try xpub.tryReceive() }
        }
    }

    @Test("after unsubscribe, nothing already queued for that topic is handed out")
    func unsubscribePurgesQueued() async throws {
        try await withContext { context in
            let xpub = try context.socket(.xpub)
            try xpub.set(.receiveTimeout(.seconds(10)))
            try await xpub.bind("inproc://purge")
            let subscriber = try context.socket(.sub)
            try subscriber.set(.receiveTimeout(.seconds(10)))
            try await subscriber.connect("inproc://purge")
            try subscriber.subscribe("A")
            try subscriber.subscribe("B")
            for _ in 0..<2 { _ = try await xpub.receive() }
            for text in ["A1", "A2", "A3", "B1"] { try await xpub.send(Message(Frame(text))) }
            #expect(try await subscriber.receive() == "A1")
            try subscriber.unsubscribe("A")
            #expect(try await subscriber.receive() == "B1")
        }
    }

    @Test("a subscription is counted at the SUB: two subscribes need two cancels")
    func countedSubscriptions() async throws {
        try await withContext { context in
            let xpub = try context.socket(.xpub)
            try xpub.set(.receiveTimeout(.seconds(10)))
            let endpoint = try await xpub.bind("inproc://counted")
            let subscriber = try context.socket(.sub)
            try await subscriber.connect(endpoint)
            try subscriber.subscribe("A")
            try subscriber.subscribe("A")
            #expect(try await xpub.receive() == Message(Frame([1, 65])))
            try subscriber.unsubscribe("A")
            try subscriber.subscribe("Z")
            #expect(try await xpub.receive() == Message(Frame([1, 90])))
            try subscriber.unsubscribe("A")
            #expect(try await xpub.receive() == Message(Frame([0, 65])))
        }
    }

    @Test("a publisher never waits: a subscriber that does not read misses messages, in order")
    func slowSubscriberDrops() async throws {
        try await withContext { context in
            // XPUB sends exactly as PUB does, and shows when the subscription has arrived.
            let publisher = try context.socket(.xpub)
            let subscriber = try context.socket(.sub)
            try publisher.set(.sendHighWaterMark(10))
            try subscriber.set(.receiveHighWaterMark(10))
            try subscriber.set(.receiveTimeout(.seconds(10)))
            try await publisher.bind("inproc://slow")
            try await subscriber.connect("inproc://slow")
            try subscriber.subscribe()
            #expect(try await publisher.receive() == Message(Frame([1])))

            let total = 100_000
            for index in 0..<total {
                try publisher.trySend(Message(Frame(withUnsafeBytes(of: UInt64(index).bigEndian) { Array($0) })))
            }
            func counter(_ message: Message) -> UInt64 {
                message[0].withUnsafeBytes { $0.loadUnaligned(as: UInt64.self).bigEndian }
            }
            var received = [counter(try await subscriber.receive())]
            while let message = try? subscriber.tryReceive() { received.append(counter(message)) }
            #expect(received.count < total / 10)
            #expect(received == received.sorted())
            #expect(Set(received).count == received.count)
        }
    }

    @Test("an XSUB subscribes by message and sends anything else to every publisher")
    func xsubToXpubs() async throws {
        try await withContext { context in
            let xsub = try context.socket(.xsub)
            try xsub.set(.receiveTimeout(.seconds(10)))
            var publishers: [ZMQSocket] = []
            for index in 0..<2 {
                let xpub = try context.socket(.xpub)
                try xpub.set(.receiveTimeout(.seconds(10)))
                try await xsub.connect(try await xpub.bind("inproc://xsub-\(index)"))
                publishers.append(xpub)
            }
            try await xsub.waitForPeers(2)
            try await xsub.send(Message(Frame([1] + Array("A".utf8))))
            try await xsub.send("upstream")
            for xpub in publishers {
                #expect(try await xpub.receive() == Message(Frame([1, 65])))
                #expect(try await xpub.receive() == "upstream")
            }
            try await publishers[1].send("A from the second")
            try await publishers[1].send("B is filtered at the publisher")
            try await publishers[0].send("A from the first")
            let got = Set([try await xsub.receive(), try await xsub.receive()])
            #expect(got == ["A from the first", "A from the second"])
        }
    }

    @Test("each socket type refuses the direction it does not have")
    func wrongDirection() async throws {
        try await withContext { context in
            let publisher = try context.socket(.pub)
            let subscriber = try context.socket(.sub)
            let push = try context.socket(.push)
            #expect(throws: ZMQError.self) { try publisher.tryReceive() }
            #expect(throws: ZMQError.self) { try subscriber.trySend("x") }
            #expect(throws: ZMQError.self) { try push.subscribe("x") }
            #expect(throws: ZMQError.self) { try publisher.subscribe("x") }
            #expect(throws: ZMQError.invalidMessage("a message has at least one frame")) { try publisher.trySend(Message([Frame]())) }
            // With no subscriber a PUB drops the message and does not wait.
            try await publisher.send("nobody listens")
        }
    }
}
