import Foundation
import Synchronization
import Testing
import ZMQ
import ZMQPatterns
import ZMQTestSupport



/// A count several tasks add to.
final class Tally: Sendable {
    private let count = Atomic<Int>(0)
    var value: Int { count.load(ordering: .relaxed) }
    func add() { count.add(1, ordering: .relaxed) }
}


@Suite("Lazy Pirate client", .timeLimit(.minutes(1)))
struct LazyPirateTests {
    @Test("a request is answered by a plain REP server, which echoes the sequence frame back unseen")
    func answered() async throws {
        try await withContext { context in
            let rep = try ReplySocket(context)
            let endpoint = try await rep.bind("tcp://127.0.0.1:*")
            let serving = Task { try await rep.serve { Message(["echo"] + $0.frames) } }
            defer { serving.cancel() }
            let log = EventLog(of: RequestEvent.self)
            let client = LazyPirateClient(context, connectingTo: [endpoint], timeout: .seconds(10), onEvent: log.handler)
            #expect(try await client.request(["hello", "world"]) == ["echo", "hello", "world"])
            #expect(try await client.request(["again"]) == ["echo", "again"])
            #expect(log.all.map(\.kind) == [.requestAnswered, .requestAnswered])
            await client.close()
        }
    }

    @Test("with no reply it sends again on a fresh socket, then gives up with noReply after its attempts")
    func givesUp() async throws {
        try await withContext { context in
            let router = try context.socket(.router)
            let endpoint = try await router.bind("tcp://127.0.0.1:*")
            let log = EventLog(of: RequestEvent.self)
            let client = LazyPirateClient(context, connectingTo: [endpoint], timeout: .milliseconds(100), attempts: 3, onEvent: log.handler)
            do {
                _ = try await client.request(["anyone?"])
                Issue.record("a reply came from nowhere")
            } catch let error as ZMQError {
                #expect(error.code == .noReply, "\(error)")
                #expect(error.description == "\(endpoint): no reply after 3 attempts of 0.1 seconds each")
            }
            var requests: [Message] = []
            for _ in 0..<3 { requests.append(try await router.receive()) }
            // Three sockets (three routing ids), three sequence numbers, the same request.
            #expect(Set(requests.map { $0[0] }).count == 3)
            #expect(Set(requests.map { $0[1] }).count == 3)
            #expect(requests.allSatisfy { Array($0.frames.dropFirst(2)) == ["", "anyone?"] })
            #expect(log.all.map(\.kind) == [.requestRetried, .requestRetried, .requestAbandoned])
        }
    }

    @Test("a server that lost the first attempt answers the second, and the client returns that answer")
    func retried() async throws {
        try await withContext { context in
            let router = try context.socket(.router)
            let endpoint = try await router.bind("tcp://127.0.0.1:*")
            let serving = Task {
                _ = try await router.receive()  // lost, as by a server that crashed
                let second = try await router.receive()
                try await router.send(Message(Array(second.frames.prefix(3)) + ["answered"]))
            }
            let log = EventLog(of: RequestEvent.self)
            let client = LazyPirateClient(context, connectingTo: [endpoint], timeout: .milliseconds(200), attempts: 3, onEvent: log.handler)
            #expect(try await client.request(["work"]) == ["answered"])
            try await serving.value
            #expect(log.all.map(\.kind) == [.requestRetried, .requestAnswered])
            #expect(log.all.last?.attempt == 2)
        }
    }

    @Test("a reply that does not carry the current request's sequence number (a late or repeated one) is never returned")
    func staleReplies() async throws {
        try await withContext { context in
            let router = try context.socket(.router)
            let endpoint = try await router.bind("tcp://127.0.0.1:*")
            // Answers every request twice: the second copy arrives while the client waits for
            // the reply to its next request.
            let serving = Task {
                for try await request in router.messages {
                    let reply = Message(Array(request.frames.prefix(3)) + [Frame("re: " + (request[3].string ?? ""))])
                    try await router.send(reply)
                    try await router.send(reply)
                }
            }
            defer { serving.cancel() }
            let log = EventLog(of: RequestEvent.self)
            let client = LazyPirateClient(context, connectingTo: [endpoint], timeout: .seconds(10), onEvent: log.handler)
            for index in 0..<5 {
                #expect(try await client.request(["\(index)"]) == ["re: \(index)"])
            }
            #expect(log.count(.staleReplyDiscarded) == 4)
            #expect(log.count(.requestAnswered) == 5)
        }
    }
}

@Suite("Simple and Paranoid Pirate", .serialized, .timeLimit(.minutes(2)))
struct PirateQueueTests {
    /// A Paranoid Pirate worker that answers "name: request".
    static func worker(_ name: String, at endpoint: String, in context: ZMQContext) -> Task<Void, any Error> {
        var worker = PirateWorker(connectingTo: endpoint)
        worker.heartbeat = .milliseconds(100)
        worker.reconnectInterval = .milliseconds(100)
        worker.reconnectIntervalMax = .milliseconds(400)
        return Task { try await worker.run(in: context) { Message([Frame(name)] + $0.frames) } }
    }

    @Test("Simple Pirate: a REQ worker behind a queue without heartbeats answers a Lazy Pirate client and a plain REQ")
    func simple() async throws {
        try await withContext { context in
            let (frontend, backend) = (temporaryIPCEndpoint("front"), temporaryIPCEndpoint("back"))
            var queue = PirateQueue(frontend: frontend, backend: backend)
            queue.heartbeat = nil
            let log = EventLog(of: PirateQueueEvent.self)
            queue.onEvent = log.handler
            let running = Task { try await queue.run(in: context) }
            defer { running.cancel() }
            var worker = PirateWorker(connectingTo: backend)
            worker.heartbeat = nil
            let serving = Task { try await worker.run(in: context) { Message(["done"] + $0.frames) } }
            defer { serving.cancel() }
            let client = LazyPirateClient(context, connectingTo: [frontend], timeout: .seconds(2), attempts: 5)
            for index in 0..<5 {
                #expect(try await client.request(["job \(index)"]) == ["done", "job \(index)"])
            }
            let req = try RequestSocket(context)
            try await req.connect(frontend)
            #expect(try await req.request(["plain REQ"], timeout: .seconds(10)) == ["done", "plain REQ"])
            #expect(log.count(.workerReady) == 1)
            #expect(log.count(.requestForwarded) == 6)
        }
    }

    @Test("a ready worker whose queue is full stays ready: the request waits at the queue and reaches it once it reads")
    func fullWorkerStaysReady() async throws {
        try await withContext { context in
            let (frontend, backend) = (temporaryIPCEndpoint("front"), "inproc://pirate-full-\(UUID().uuidString)")
            var queue = PirateQueue(frontend: frontend, backend: backend)
            queue.heartbeat = .seconds(3600)  // no heartbeat is queued for the worker in this test
            queue.backendOptions = [.sendHighWaterMark(1)]
            let feed = EventFeed(of: PirateQueueEvent.self)
            queue.onEvent = feed.handler
            var events = feed.stream.makeAsyncIterator()
            let running = Task { try await queue.run(in: context) }
            defer { running.cancel() }
            // A worker that says READY and then reads nothing until the end.
            let worker = try context.socket(.dealer, options: [.receiveHighWaterMark(1), .linger(.zero)])
            try await worker.connect(backend)
            try await worker.send(Message(Frame([0x01])))
            #expect(await events.next()?.kind == .workerReady)
            var clients: [ZMQSocket] = []
            var sent: [String] = []
            while true {
                let client = try context.socket(.dealer, options: [.linger(.zero)])
                try await client.connect(frontend)
                clients.append(client)
                let body = "request \(sent.count)"
                try await client.send(["", Frame(body)])
                sent.append(body)
                let kind = await events.next()?.kind
                if kind == .requestHeld { break }
                #expect(kind == .requestForwarded)
                guard sent.count < 20 else { Issue.record("the worker's queue never filled"); return }
                // An answer to a client long gone: the worker is ready again.
                try await worker.send(["gone", "", "done"])
                #expect(await events.next()?.kind == .replyForwarded)
            }
            #expect(sent.count > 1)
            // It reads at last: every request reaches it, the one that waited too, in order.
            for body in sent {
                #expect(try await worker.receive().frames.last?.string == body)
            }
            for client in clients { client.close() }
        }
    }

    @Test("Paranoid Pirate: with workers killed and started and the queue itself restarted mid-run, every request a client retries is answered once, correctly")
    func paranoidSurvivesFailures() async throws {
        try await withContext { context in
            let (frontend, backend) = (temporaryIPCEndpoint("front"), temporaryIPCEndpoint("back"))
            var queue = PirateQueue(frontend: frontend, backend: backend)
            queue.heartbeat = .milliseconds(100)
            let log = EventLog(of: PirateQueueEvent.self)
            queue.onEvent = log.handler
            var running = Task { try await queue.run(in: context) }
            var workers = [Self.worker("w1", at: backend, in: context), Self.worker("w2", at: backend, in: context)]

            let answered = Tally()
            let clients = (0..<3).map { client in
                Task {
                    let pirate = LazyPirateClient(context, connectingTo: [frontend], timeout: .milliseconds(300), attempts: 40)
                    for index in 0..<20 {
                        let reply = try await pirate.request(["c\(client)", "\(index)"])
                        #expect(Array(reply.dropFirst()) == ["c\(client)", "\(index)"], "\(reply)")
                        #expect(["w1", "w2", "w3"].contains(reply[0].string ?? ""))
                        answered.add()
                    }
                    await pirate.close()
                }
            }
            func waitFor(_ count: Int) async {
                while answered.value < count, !Task.isCancelled { try? await Task.sleep(for: .milliseconds(5)) }
            }
            await waitFor(10)
            workers[0].cancel()  // a worker dies mid-run
            await waitFor(25)
            running.cancel()  // the queue dies…
            _ = await running.result
            running = Task { try await queue.run(in: context) }  // …and comes back on the same endpoints
            await waitFor(40)
            workers.append(Self.worker("w3", at: backend, in: context))  // a new worker joins
            for client in clients { try await client.value }
            #expect(answered.value == 60)
            // Workers that die are forgotten once their heartbeats stop (or a send to them fails).
            let forgottenBefore = log.count(.workerExpired) + log.count(.workerLost)
            for worker in workers { worker.cancel() }
            let deadline = ContinuousClock.now + .seconds(10)
            while log.count(.workerExpired) + log.count(.workerLost) < forgottenBefore + 2, ContinuousClock.now < deadline {
                try await Task.sleep(for: .milliseconds(10))
            }
            #expect(log.count(.workerExpired) + log.count(.workerLost) >= forgottenBefore + 2, "\(log.all.map(\.kind))")
            running.cancel()
        }
    }
}
