import MetricsTestKit
import Testing
@testable import ZMQ
import ZMQTestSupport

@Suite("Drops are counted, per socket and per peer, and exported as metrics")
struct DropTests {
    @Test("an XPUB drops at a subscriber's full queue: what arrives plus what was dropped is what was sent")
    func publisherAtHighWaterMark() async throws {
        let metrics = TestMetrics()
        let context = ZMQContext(metrics: metrics)
        let publisher = try context.socket(.xpub, options: [.sendHighWaterMark(5), .metricsName("prices")])
        let endpoint = try await publisher.bind("tcp://127.0.0.1:*")
        let subscriber = try context.socket(.sub, options: [.receiveHighWaterMark(5)])
        try subscriber.subscribe("p")
        try await subscriber.connect(endpoint)
        #expect(try await publisher.receive() == Message(Frame([1] + Array("p".utf8))))

        let sent = 20_000
        for index in 0..<sent { try await publisher.send("p\(index)") }
        let dropped = publisher.drops[.highWaterMark]
        #expect(dropped > 0 && dropped < sent)
        #expect(publisher.drops.total == dropped)
        let peer = try #require(publisher.peerDrops.first)
        #expect(publisher.peerDrops.count == 1)
        #expect(peer.counts[.highWaterMark] == dropped)
        #expect(peer.endpoint == endpoint && peer.peerAddress?.hasPrefix("tcp://127.0.0.1:") == true)
        // Everything not dropped was queued, and arrives.
        var received = 0
        while received < sent - dropped {
            _ = try await subscriber.receive()
            received += 1
        }
        #expect(throws: ZMQError.wouldBlock) { try subscriber.tryReceive() }

        publisher.publishMetrics()
        subscriber.publishMetrics()
        let dimensions = [("type", "XPUB"), ("socket", "prices")]
        #expect(try metrics.expectCounter("zmq_messages_dropped", dimensions + [("reason", "highWaterMark")]).totalValue == Int64(dropped))
        #expect(metrics.counterTotal(label: "zmq_messages_sent", dimensions: dimensions) == Int64(sent - dropped))
        #expect(metrics.counterTotal(label: "zmq_messages_received", dimensions: [("type", "SUB")]) >= Int64(sent - dropped))
        #expect(metrics.counterTotal(label: "zmq_bytes_sent", dimensions: dimensions) > Int64(sent - dropped))
        #expect(metrics.counterTotal(label: "zmq_bytes_received", dimensions: [("type", "SUB")]) > Int64(sent - dropped))
        // Sent after that publication: counted in the last one, when the socket closes.
        for index in 0..<3 { try await publisher.send("p-late\(index)") }
        for _ in 0..<3 { _ = try await subscriber.receive() }
        await context.shutdown()
        #expect(metrics.counterTotal(label: "zmq_messages_sent", dimensions: dimensions) == Int64(sent - dropped + 3))
    }

    @Test("a ROUTER counts messages for unknown peers, and a routing id alone as malformed")
    func routerUnroutable() async throws {
        try await withContext { context in
            let router = try context.socket(.router)
            try router.trySend(["nobody", "hello"])
            try router.trySend(["nobody"])
            #expect(router.drops[.unroutable] == 1)
            #expect(router.drops[.malformed] == 1)
            #expect(router.peerDrops.isEmpty)
        }
    }

    @Test("a REP counts a reply its requester's full queue cannot take: what arrives plus what was dropped is what was answered")
    func repAtHighWaterMark() async throws {
        try await withContext { context in
            let rep = try context.socket(.rep, options: [.sendHighWaterMark(1)])
            let endpoint = try await rep.bind("inproc://rep-drops-\(UInt32.random(in: 0...UInt32.max))")
            // A requester that sends every request before it reads a single reply.
            let dealer = try context.socket(.dealer, options: [.receiveHighWaterMark(1)])
            try await dealer.connect(endpoint)
            let answered = 50
            for index in 0..<answered { try await dealer.send(["", "request \(index)"]) }
            for _ in 0..<answered {
                let request = try await rep.receive()
                try await rep.send(request)
            }
            let dropped = rep.drops[.highWaterMark]
            #expect(dropped > 0 && dropped < answered)
            #expect(rep.drops.total == dropped)
            #expect(rep.peerDrops.first?.counts[.highWaterMark] == dropped)
            for _ in 0..<(answered - dropped) { _ = try await dealer.receive() }
            #expect(throws: ZMQError.wouldBlock) { try dealer.tryReceive() }
        }
    }

    @Test("a REP counts a reply for a requester that has gone as peerGone")
    func repRequesterGone() async throws {
        try await withContext { context in
            let rep = try context.socket(.rep)
            let events = rep.monitor()
            let endpoint = try await rep.bind("tcp://127.0.0.1:*")
            let req = try context.socket(.req, options: [.linger(.zero)])
            try await req.connect(endpoint)
            try await req.send("request")
            #expect(try await rep.receive() == ["request"])
            req.close()
            _ = await nextEvent(events) { $0.kind == .disconnected }
            try await rep.send("reply")
            #expect(rep.drops[.peerGone] == 1)
            #expect(rep.drops.total == 1)
        }
    }

    @Test("a REQ counts replies that are not for the request it awaits")
    func strayReplies() async throws {
        try await withContext { context in
            let router = try context.socket(.router)
            let endpoint = try await router.bind("inproc://strays")
            let request = try context.socket(.req, options: [.reqCorrelate(true)])
            try await request.connect(endpoint)

            try await request.send("first")
            let first = try await router.receive()
            try await router.send(first)  // the reply
            try await router.send(first)  // the same reply again: stray
            #expect(try await request.receive() == ["first"])

            try await request.send("second")
            let second = try await router.receive()
            try await router.send(second)
            #expect(try await request.receive() == ["second"])
            #expect(request.drops[.strayReply] == 1)
            #expect(request.peerDrops.first?.counts[.strayReply] == 1)
        }
    }
}
