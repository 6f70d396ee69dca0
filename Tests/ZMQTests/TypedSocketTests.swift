import Testing
import ZMQ
import ZMQTestSupport

@Suite("Typed sockets, sockets made with options, messages from strings")
struct TypedSocketTests {
    @Test("PUSH to PULL and PUB to SUB through the typed wrappers")
    func pipelineAndPubSub() async throws {
        try await withContext { context in
            let pull = try PullSocket(context)
            let endpoint = try await pull.bind("inproc://typed-pipeline")
            let push = try PushSocket(context, options: [.sendHighWaterMark(10)])
            #expect(push.options.sendHighWaterMark == 10)
            try await push.connect(endpoint)
            let job = 42
            try await push.send(["job", "\(job)"])
            #expect(try await pull.receive().strings == ["job", "42"])

            let publisher = try PublisherSocket(context)
            try await publisher.bind("inproc://typed-weather")
            let subscriber = try SubscriberSocket(context)
            try subscriber.subscribe("weather")
            try await subscriber.connect("inproc://typed-weather")
            try await subscriber.socket.waitForPeers(1)
            let temperature = 21.5
            // Until the subscription has reached the publisher, messages are dropped by design.
            let sending = keepPublishing([["weather", "\(temperature)"], ["traffic", "jam"]], on: publisher.socket)
            #expect(try await subscriber.receive().strings == ["weather", "21.5"])
            sending.cancel()
        }
    }

    @Test("request returns the reply; serve answers each request; a request timeout throws timedOut")
    func requestReply() async throws {
        try await withContext { context in
            let reply = try ReplySocket(context)
            let endpoint = try await reply.bind("inproc://typed-rr")
            let server = Task { try await reply.serve { request in Message(request.strings.map { ($0 ?? "").uppercased() }) } }
            let request = try RequestSocket(context)
            try await request.connect(endpoint)
            #expect(try await request.request(["hello", "world"]).strings == ["HELLO", "WORLD"])
            #expect(try await request.request("again").strings == ["AGAIN"])
            reply.close()
            #expect(try await server.value == ())

            let silent = try RouterSocket(context)
            let silentEndpoint = try await silent.bind("inproc://typed-silent")
            let waiting = try RequestSocket(context, options: [.linger(.zero)])
            try await waiting.connect(silentEndpoint)
            await #expect(throws: ZMQError.timedOut) { try await waiting.request("anyone?", timeout: .milliseconds(20)) }
        }
    }

    @Test("an invalid option in the list throws invalidOption and leaves no socket open")
    func invalidOptionInList() async throws {
        try await withContext { context in
            do {
                _ = try context.socket(.pull, options: [.linger(.zero), .routerMandatory(true)])
                Issue.record("routerMandatory on a PULL was accepted")
            } catch let error as ZMQError where error.code == .invalidOption {
                #expect(error.option == "routerMandatory")
            }
            await #expect(throws: ZMQError.self) { _ = try PushSocket(context, options: [.sendHighWaterMark(-1)]) }
        }
    }

    @Test("a receive timeout ends a receive, never a for-await loop over messages")
    func loopOutlivesReceiveTimeout() async throws {
        try await withContext { context in
            let pull = try context.socket(.pull, options: [.receiveTimeout(.milliseconds(5))])
            let endpoint = try await pull.bind("inproc://loop")
            await #expect(throws: ZMQError.timedOut) { try await pull.receive() }
            let loop = Task {
                var got: [Message] = []
                for try await message in pull.messages {
                    got.append(message)
                    if got.count == 2 { break }
                }
                return got
            }
            // Several receive timeouts pass while the loop waits.
            try await Task.sleep(for: .milliseconds(50))
            let push = try context.socket(.push)
            try await push.connect(endpoint)
            try await push.send("late")
            try await push.send("later")
            #expect(try await loop.value == ["late", "later"])
        }
    }

    @Test("frames and messages from string interpolations and arrays of strings")
    func messagesFromStrings() {
        let count = 3
        let frame: Frame = "count \(count)"
        #expect(frame.string == "count 3")
        let message: Message = ["weather", "\(count + 1)"]
        #expect(message.strings == ["weather", "4"])
        #expect(Message(["a", "b"]).strings == ["a", "b"])
        let interpolated: Message = "one \(count)"
        #expect(interpolated.strings == ["one 3"])
    }

    @Test("socket types are values that can grow: names, round trips, the classic types, STREAM and the drafts")
    func socketTypes() {
        #expect(SocketType.allCases.count == 21)
        for type in SocketType.allCases { #expect(SocketType(rawValue: type.rawValue) == type) }
        #expect(SocketType(rawValue: "SERVER") == .server)
        #expect(SocketType(rawValue: "server") == nil)
        #expect(SocketType.push.isCompatible(with: .pull) && !SocketType.push.isCompatible(with: .sub))
        let endpoint = try? Endpoint("tcp://[::1]:5555")
        #expect(endpoint?.transport == "tcp" && endpoint?.host == "::1" && endpoint?.port == 5555)
        #expect(endpoint?.description == "tcp://[::1]:5555")
        #expect((try? Endpoint("ipc:///tmp/x"))?.port == nil)
    }
}
