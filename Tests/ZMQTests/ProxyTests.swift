import Testing
import ZMQ
import ZMQTestSupport

@Suite("Proxy", .timeLimit(.minutes(1)))
struct ProxyTests {
    @Test("a streamer passes every message from its PULL to its PUSH, in order, and stops when a side closes")
    func streamer() async throws {
        try await withContext { context in
            let frontend = try context.socket(.pull)
            let backend = try context.socket(.push)
            try await frontend.bind("inproc://stream-in")
            try await backend.bind("inproc://stream-out")
            let proxy = Task { try await ZMQProxy.run(frontend: frontend, backend: backend) }

            let source = try context.socket(.push)
            let sink = try context.socket(.pull)
            try sink.set(.receiveTimeout(.seconds(10)))
            try await source.connect("inproc://stream-in")
            try await sink.connect("inproc://stream-out")
            for index in 0..<1000 { try await source.send(Message(Frame("\(index)"))) }
            for index in 0..<1000 { #expect(try await sink.receive() == Message(Frame("\(index)"))) }

            frontend.close()

            await frontend.waitUntilClosed()
            try await proxy.value
        }
    }

    /// The eight counters a STATISTICS reply carries, as libzmq writes them.
    static func statistics(_ control: ZMQSocket) async throws -> [UInt64] {
        try await control.send("STATISTICS")
        let reply = try await control.receive()
        #expect(reply.count == 8)
        return reply.map { frame in frame.withUnsafeBytes { UInt64(littleEndian: $0.loadUnaligned(as: UInt64.self)) } }
    }

    @Test("a steerable proxy pauses, resumes, reports libzmq's eight counters and terminates", arguments: [SocketType.pair, .rep])
    func steerable(controlType: SocketType) async throws {
        try await withContext { context in
            let frontend = try context.socket(.pull)
            let backend = try context.socket(.push)
            let control = try context.socket(controlType)
            try await frontend.bind("inproc://steer-in")
            try await backend.bind("inproc://steer-out")
            try await control.bind("inproc://steer-control")
            let proxy = Task { try await ZMQProxy.run(frontend: frontend, backend: backend, control: control) }

            let source = try context.socket(.push)
            let sink = try context.socket(.pull)
            let steer = try context.socket(controlType == .rep ? .req : .pair)
            try sink.set(.receiveTimeout(.seconds(10)))
            try await source.connect("inproc://steer-in")
            try await sink.connect("inproc://steer-out")
            try await steer.connect("inproc://steer-control")

            for index in 0..<10 { try await source.send(["part", Frame("\(index)")]) }
            for _ in 0..<10 { _ = try await sink.receive() }
            // Ten messages of two frames, 4 + 1 octets each: counted in, and out of the backend
            // (counted once each send returns, which may be just after the sink has it).
            var sent = try await Self.statistics(steer)
            while sent[6] < 20 { sent = try await Self.statistics(steer) }
            #expect(sent == [20, 50, 0, 0, 0, 0, 20, 50])

            try await steer.send("PAUSE")
            if controlType == .rep { #expect(try await steer.receive() == [Frame()]) }
            // A PAIR gets no answer to PAUSE: the answer to the command after it shows the proxy
            // has taken it, before "held" can reach the frontend.
            _ = try await Self.statistics(steer)
            try await source.send(["held"])
            // Received by the frontend, then held: wait until the counters show it arrive.
            var counters = try await Self.statistics(steer)
            while counters[0] == 20 { counters = try await Self.statistics(steer) }
            #expect(counters == [21, 54, 0, 0, 0, 0, 20, 50])
            #expect(throws: ZMQError.wouldBlock) { try sink.tryReceive() }

            try await steer.send("RESUME")
            if controlType == .rep { #expect(try await steer.receive() == [Frame()]) }
            #expect(try await sink.receive() == ["held"])

            try await steer.send("TERMINATE")
            if controlType == .rep { #expect(try await steer.receive() == [Frame()]) }
            try await proxy.value
        }
    }

    @Test("a forwarder carries subscriptions upstream and the subscribed topic downstream, with a capture of both")
    func forwarder() async throws {
        try await withContext { context in
            let publisher = try context.socket(.xpub)
            try publisher.set(.receiveTimeout(.seconds(10)))
            let upstream = try await publisher.bind("tcp://127.0.0.1:*")

            let frontend = try context.socket(.xsub)
            let backend = try context.socket(.xpub)
            let capture = try context.socket(.push)
            try await frontend.connect(upstream)
            let downstream = try await backend.bind("tcp://127.0.0.1:*")
            try await capture.bind("inproc://capture")
            let captured = try context.socket(.pull)
            try captured.set(.receiveTimeout(.seconds(10)))
            try await captured.connect("inproc://capture")
            let proxy = Task { try await ZMQProxy.run(frontend: frontend, backend: backend, capture: capture) }

            let subscriber = try context.socket(.sub)
            try subscriber.set(.receiveTimeout(.seconds(10)))
            try subscriber.subscribe("A")
            try await subscriber.connect(downstream)
            // The subscription crossed the proxy: the publisher hears it, so nothing sent now is lost.
            #expect(try await publisher.receive() == Message(Frame([1, 65])))
            try await publisher.send("B is not subscribed")
            try await publisher.send("A1")
            #expect(try await subscriber.receive() == "A1")
            #expect(try await captured.receive() == Message(Frame([1, 65])))
            #expect(try await captured.receive() == "A1")

            proxy.cancel()
            await #expect(throws: ZMQError.cancelled) { try await proxy.value }
        }
    }

    @Test("timeouts on the proxied sockets do not stop the proxy, and closing the side it only sends to does")
    func timeoutsAndOneWayClose() async throws {
        try await withContext { context in
            let frontend = try context.socket(.pull)
            let backend = try context.socket(.push)
            try frontend.set(.receiveTimeout(.milliseconds(1)))
            try await frontend.bind("inproc://timeouts-in")
            try await backend.bind("inproc://timeouts-out")
            let proxy = Task { try await ZMQProxy.run(frontend: frontend, backend: backend) }
            let source = try context.socket(.push)
            let sink = try context.socket(.pull)
            try sink.set(.receiveTimeout(.seconds(10)))
            try await source.connect("inproc://timeouts-in")
            try await sink.connect("inproc://timeouts-out")
            for round in 0..<3 {
                // Each round trip outlasts the frontend's 1 ms receive timeout many times over.
                try await sink.waitForPeers(1)
                try await source.send(Message(Frame("round \(round)")))
                #expect(try await sink.receive() == Message(Frame("round \(round)")))
            }
            // The backend only sends; the proxy notices it close while waiting to receive.
            backend.close()
            await backend.waitUntilClosed()
            try await proxy.value
        }
    }

    @Test("a traced forwarder (Espresso) shows each subscription, unsubscription and message as it passes, each way")
    func traced() async throws {
        try await withContext { context in
            let frontend = try context.socket(.xsub)
            let backend = try context.socket(.xpub)
            try await frontend.bind("inproc://traced-in")
            try await backend.bind("inproc://traced-out")
            let (passing, trace) = AsyncStream.makeStream(of: ZMQProxy.Passage.self)
            let proxy = Task { try await ZMQProxy.run(frontend: frontend, backend: backend, trace: trace) }
            var passages = passing.makeAsyncIterator()
            let publisher = try context.socket(.xpub)
            try await publisher.connect("inproc://traced-in")
            let subscriber = try context.socket(.sub)
            try await subscriber.connect("inproc://traced-out")
            try subscriber.subscribe("t")
            #expect(await passages.next() == ZMQProxy.Passage(direction: .backendToFrontend, kind: .subscribe, message: ["t"]))
            #expect(try await publisher.receive() == [Frame([1, UInt8(ascii: "t")])])
            try await publisher.send(["t", "x"])
            #expect(await passages.next() == ZMQProxy.Passage(direction: .frontendToBackend, kind: .message, message: ["t", "x"]))
            #expect(try await subscriber.receive() == ["t", "x"])
            try subscriber.unsubscribe("t")
            #expect(await passages.next() == ZMQProxy.Passage(direction: .backendToFrontend, kind: .unsubscribe, message: ["t"]))
            proxy.cancel()
            _ = await proxy.result
        }
    }

    @Test("a traced queue (ROUTER to DEALER) shows a request going frontend to backend and its reply coming back, envelope and all")
    func tracedReply() async throws {
        try await withContext { context in
            let frontend = try context.socket(.router)
            let backend = try context.socket(.dealer)
            try await frontend.bind("inproc://traced-queue-in")
            try await backend.bind("inproc://traced-queue-out")
            let (passing, trace) = AsyncStream.makeStream(of: ZMQProxy.Passage.self)
            let proxy = Task { try await ZMQProxy.run(frontend: frontend, backend: backend, trace: trace) }
            var passages = passing.makeAsyncIterator()
            let client = try context.socket(.req, options: [.routingID(Array("client".utf8))])
            try await client.connect("inproc://traced-queue-in")
            let worker = try context.socket(.rep)
            try await worker.connect("inproc://traced-queue-out")
            try await client.send(["hello"])
            #expect(await passages.next() == ZMQProxy.Passage(direction: .frontendToBackend, kind: .message, message: ["client", "", "hello"]))
            #expect(try await worker.receive() == ["hello"])
            try await worker.send(["world"])
            #expect(await passages.next() == ZMQProxy.Passage(direction: .backendToFrontend, kind: .message, message: ["client", "", "world"]))
            #expect(try await client.receive() == ["world"])
            proxy.cancel()
            _ = await proxy.result
        }
    }

    @Test("a pair of types with nothing to pass is refused")
    func nothingToPass() async throws {
        try await withContext { context in
            // SUB only receives and PULL only receives: neither can pass on what the other gets.
            let frontend = try context.socket(.sub)
            let backend = try context.socket(.pull)
            await #expect(throws: ZMQError.self) { try await ZMQProxy.run(frontend: frontend, backend: backend) }
        }
    }
}
