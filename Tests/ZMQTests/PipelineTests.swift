import Testing
@testable import ZMQ
import ZMQTestSupport

@Suite("PUSH and PULL", .timeLimit(.minutes(1)))
struct PipelineTests {
    static let endpoints = ["tcp://127.0.0.1:*", "tcp://[::1]:*", "ipc", "inproc://pipeline"]

    @Test("messages arrive whole and in order", arguments: endpoints)
    func inOrder(endpoint: String) async throws {
        try await withContext { context in
            let pull = try context.socket(.pull)
            let bound = try await pull.bind(endpoint == "ipc" ? temporaryIPCEndpoint() : endpoint)
            let push = try context.socket(.push)
            try await push.connect(bound)
            for index in 0..<500 {
                try await push.send(["job", Frame("\(index)"), Frame([UInt8](repeating: 7, count: index))])
            }
            for index in 0..<500 {
                let message = try await pull.receive()
                #expect(message.count == 3)
                #expect(message[0].string == "job")
                #expect(message[1].string == "\(index)")
                #expect(message[2].bytes == [UInt8](repeating: 7, count: index))
            }
        }
    }

    @Test("a permanent frame is sent again and again, alone and among others, and arrives whole every time",
          arguments: endpoints)
    func permanentFrames(endpoint: String) async throws {
        try await withContext { context in
            let pull = try context.socket(.pull)
            let bound = try await pull.bind(endpoint == "ipc" ? temporaryIPCEndpoint() : endpoint)
            let push = try context.socket(.push)
            try await push.connect(bound)
            // Above inline size, below the compact limit, and large enough to be written uncopied.
            let bodies = [33, 1000, 40_000].map { size in (0..<size).map { UInt8(truncatingIfNeeded: $0 &* 7) } }
            let frames = bodies.map { Frame(permanent: $0) }
            for round in 0..<100 {
                for (index, frame) in frames.enumerated() {
                    try await push.send(round % 2 == 0 ? Message(frame) : Message([Frame("\(index)"), frame, frame]))
                }
            }
            for round in 0..<100 {
                for (index, body) in bodies.enumerated() {
                    let message = try await pull.receive()
                    if round % 2 == 0 {
                        #expect(message.count == 1 && message[0].bytes == body)
                    } else {
                        #expect(message.count == 3 && message[0].string == "\(index)")
                        #expect(message[1].bytes == body && message[2].bytes == body)
                    }
                }
            }
            #expect(frames.map(\.bytes) == bodies)
        }
    }

    @Test("connect before bind works", arguments: ["tcp", "ipc", "inproc"])
    func connectBeforeBind(transport: String) async throws {
        try await withContext { context in
            let endpoint: String
            switch transport {
            case "tcp": endpoint = "tcp://127.0.0.1:\(unusedTCPPort())"
            case "ipc": endpoint = temporaryIPCEndpoint()
            default: endpoint = "inproc://later"
            }
            let push = try context.socket(.push)
            try push.set(.reconnectInterval(.milliseconds(10)))
            try await push.connect(endpoint)
            try await push.send("queued before the peer existed")
            let pull = try context.socket(.pull)
            try await pull.bind(endpoint)
            let message = try await pull.receive()
            #expect(message.strings == ["queued before the peer existed"])
        }
    }

    @Test("PUSH round-robins over its peers")
    func roundRobin() async throws {
        try await withContext { context in
            let pulls = try (0..<3).map { _ in try context.socket(.pull) }
            let push = try context.socket(.push)
            for pull in pulls {
                try await push.connect(try await pull.bind("tcp://127.0.0.1:*"))
            }
            for index in 0..<30 { try await push.send("\(index)") }
            for (offset, pull) in pulls.enumerated() {
                for round in 0..<10 {
                    let message = try await pull.receive()
                    #expect(message.strings == ["\(round * 3 + offset)"])
                }
            }
        }
    }

    @Test("PULL fair-queues between peers")
    func fairQueue() async throws {
        try await withContext { context in
            let pull = try context.socket(.pull)
            let endpoint = try await pull.bind("inproc://fair")
            let first = try context.socket(.push)
            let second = try context.socket(.push)
            try await first.connect(endpoint)
            try await second.connect(endpoint)
            for _ in 0..<50 {
                try await first.send("A")
                try await second.send("B")
            }
            // Wait until both peers' messages have arrived, then check they interleave.
            var received: [String] = []
            for _ in 0..<100 { received.append(try await pull.receive()[0].string!) }
            #expect(received.filter { $0 == "A" }.count == 50)
            #expect(received.filter { $0 == "B" }.count == 50)
        }
    }

    @Test("a non-blocking send with no peer throws wouldBlock")
    func wouldBlock() async throws {
        try await withContext { context in
            let push = try context.socket(.push)
            #expect(throws: ZMQError.wouldBlock) { try push.trySend("nobody") }
            try push.set(.sendTimeout(.milliseconds(20)))
            await #expect(throws: ZMQError.timedOut) { try await push.send("nobody") }
            let pull = try context.socket(.pull)
            #expect(throws: ZMQError.wouldBlock) { _ = try pull.tryReceive() }
            await #expect(throws: ZMQError.notSupported("a PULL socket cannot send")) { try await pull.send("x") }
        }
    }

    @Test("PUSH stops at the send high-water mark and resumes when the peer reads")
    func highWaterMark() async throws {
        try await withContext { context in
            let pull = try context.socket(.pull)
            try pull.set(.receiveHighWaterMark(10))
            let endpoint = try await pull.bind("inproc://hwm")
            let push = try context.socket(.push)
            try push.set(.sendHighWaterMark(10))
            try await push.connect(endpoint)
            var sent = 0
            // Send without waiting until the pipe is full: bounded by both high-water marks.
            while sent < 10_000 {
                do {
                    try push.trySend(Message(Frame("\(sent)")))
                    sent += 1
                } catch ZMQError.wouldBlock {
                    // The I/O thread may still be moving a batch; give it a turn and retry once.
                    await Task.yield()
                    if (try? push.trySend(Message(Frame("\(sent)")))) != nil { sent += 1; continue }
                    break
                }
            }
            #expect(sent < 10_000)
            // Everything sent arrives once the reader catches up, and sending then goes on.
            for index in 0..<sent {
                #expect(try await pull.receive().strings == ["\(index)"])
            }
            try await push.send("after")
            #expect(try await pull.receive().strings == ["after"])
        }
    }

    @Test("large frames arrive whole, alone, in multipart messages and among small ones; every octet is counted once",
          arguments: ["tcp://127.0.0.1:*", "ipc"])
    func largeFrames(endpoint: String) async throws {
        try await withContext { context in
            let pull = try context.socket(.pull)
            let bound = try await pull.bind(endpoint == "ipc" ? temporaryIPCEndpoint() : endpoint)
            let push = try context.socket(.push)
            try await push.connect(bound)
            // From about one read's worth up to beyond the largest buffer reserved ahead for a
            // frame (4 MiB), alone, in multipart messages and between small ones.
            let sizes = [65_000, 66_000, 70_000, 200_000, 1 << 20, (1 << 20) + 1, 3_000_000, 5_000_000]
            func frame(_ size: Int, _ seed: Int) -> Frame {
                Frame((0..<size).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ seed) })
            }
            var expected: [[[UInt8]]] = []
            for (index, size) in sizes.enumerated() {
                for message in [[frame(size, index)], [frame(3, index), frame(size, index + 1), frame(size / 2, index + 2)], [frame(1, index)]] {
                    expected.append(message.map(\.bytes))
                    try await push.send(Message(message))
                }
            }
            for message in expected {
                #expect(try await pull.receive().map(\.bytes) == message)
            }
            // The receiver counts every octet read, the sender those of its messages: they differ
            // by the sender's greeting (64 octets) and READY (28).
            #expect(pull.traffic.octetsReceived == push.traffic.octetsSent + 64 + 28)
            // Frames of 256 KiB up to 4 MiB are read into their own buffers once they have
            // begun: a readiness event reads at most 1 MiB otherwise, so the two 3,000,000-octet
            // frames alone are read into place by more than 2 × 1,950,000 octets.
            #expect(pull.traffic.octetsReadInPlace > 3_900_000)
        }
    }

    @Test("over inproc, a PULL with conflate keeps the newest of a stream, and the PUSH never waits")
    func inprocConflate() async throws {
        try await withContext { context in
            let pull = try context.socket(.pull, options: [.conflate(true)])
            let endpoint = try await pull.bind("inproc://conflate")
            let push = try context.socket(.push)
            try await push.connect(endpoint)
            try await push.waitForPeers(1)
            for index in 0..<5_000 { try push.trySend(Message(Frame("\(index)"))) }
            #expect(try await pull.receive().strings == ["4999"])
        }
    }

    @Test("over inproc, what was sent before a close with no linger is still received, in order")
    func inprocCloseKeepsSent() async throws {
        try await withContext { context in
            let pull = try context.socket(.pull)
            let endpoint = try await pull.bind("inproc://close-no-linger")
            let push = try context.socket(.push, options: [.linger(.zero)])
            try await push.connect(endpoint)
            try await push.waitForPeers(1)
            for index in 0..<10 { try await push.send(Message(Frame("\(index)"))) }
            push.close()
            await push.waitUntilClosed()
            for index in 0..<10 {
                #expect(try await pull.receive().strings == ["\(index)"])
            }
        }
    }

    @Test("an inproc pair holds the sum of both high-water marks, as libzmq's does; none when the receiver has none")
    func inprocHighWaterMarks() async throws {
        try await withContext { context in
            for receiveMark in [10, 0] {
                let pull = try context.socket(.pull)
                try pull.set(.receiveHighWaterMark(receiveMark))
                let endpoint = try await pull.bind("inproc://sum-\(receiveMark)")
                let push = try context.socket(.push)
                try push.set(.sendHighWaterMark(10))
                try await push.connect(endpoint)
                try await push.waitForPeers(1)
                var sent = 0
                while sent < 5_000, (try? push.trySend(Message(Frame("\(sent)")))) != nil { sent += 1 }
                // The first message is handed to the receiving side at once; the rest wait in
                // the sending queue, which holds both marks.
                #expect(sent == (receiveMark == 0 ? 5_000 : 10 + receiveMark + 1))
                for index in 0..<sent {
                    #expect(try await pull.receive().strings == ["\(index)"])
                }
                pull.close()
                push.close()
            }
        }
    }
}

@Suite("I/O executor", .timeLimit(.minutes(1)))
struct IOExecutorTests {
    @Test("tasks may run on a socket's I/O thread and exchange messages there", arguments: ["tcp://127.0.0.1:*", "inproc://io-executor"])
    func pingPongOnIOThread(endpoint: String) async throws {
        try await withContext { context in
            let server = try context.socket(.pair)
            let bound = try await server.bind(endpoint)
            let client = try context.socket(.pair)
            try await client.connect(bound)
            let echo = Task {
                try await withTaskExecutorPreference(server.ioExecutor) {
                    for _ in 0..<100 { try await server.send(try await server.receive()) }
                }
            }
            try await withTaskExecutorPreference(client.ioExecutor) {
                for index in 0..<100 {
                    try await client.send(Message(Frame("\(index)")))
                    #expect(try await client.receive().strings == ["\(index)"])
                }
            }
            try await echo.value
        }
    }

    @Test("sockets on one I/O thread hand out one executor, so a task preferring it waits on either without a hop; another thread has its own")
    func oneExecutorPerThread() async throws {
        let context = ZMQContext(ioThreads: 2)
        let sockets = try (0..<4).map { _ in try context.socket(.pair) }
        // Sockets take the context's threads in turn: two executors among four sockets.
        let executors = Set(sockets.map { ObjectIdentifier($0.ioExecutor) })
        #expect(executors.count == 2)
        #expect(sockets[0].ioExecutor === sockets[2].ioExecutor && sockets[1].ioExecutor === sockets[3].ioExecutor)
        for socket in sockets { socket.close() }
        await context.shutdown()
    }
}
