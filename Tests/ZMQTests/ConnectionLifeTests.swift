import Foundation
import Testing
import ZMQ
import ZMQTestSupport

@Suite("Connection life", .timeLimit(.minutes(1)))
struct ConnectionLifeTests {
    @Test("a dropped connection comes back by itself and the connect-side queue keeps its messages")
    func reconnectKeepsQueue() async throws {
        try await withContext { context in
            let first = try context.socket(.pull)
            try first.set(.linger(.zero))
            let endpoint = try await first.bind("tcp://127.0.0.1:*")
            let push = try context.socket(.push)
            try push.set(.reconnectInterval(.milliseconds(20)))
            let events = push.monitor()
            try await push.connect(endpoint)
            try await push.send("one")
            #expect(try await first.receive().strings == ["one"])

            first.close()

            await first.waitUntilClosed()
            #expect(await nextEvent(events) { $0.kind == .disconnected } != nil)
            try await push.send("two")
            try await push.send("three")

            let second = try context.socket(.pull)
            try await second.bind(endpoint)
            #expect(try await second.receive().strings == ["two"])
            #expect(try await second.receive().strings == ["three"])
        }
    }

    @Test("reconnect waits grow from the interval, doubling up to the maximum, with jitter")
    func backoff() async throws {
        try await withContext { context in
            // A port that nothing listens on: bind, note it, close.
            let probe = try context.socket(.pull)
            try probe.set(.linger(.zero))
            let endpoint = try await probe.bind("tcp://127.0.0.1:*")
            probe.close()
            await probe.waitUntilClosed()

            let push = try context.socket(.push)
            try push.set(.linger(.zero))
            try push.set(.reconnectInterval(.milliseconds(10)))
            try push.set(.reconnectIntervalMax(.milliseconds(80)))
            let events = push.monitor()
            try await push.connect(endpoint)
            var delays: [Duration] = []
            for await event in events {
                if event.kind == .connectRetried, let delay = event.delay { delays.append(delay) }
                if delays.count == 6 { break }
            }
            // Doubling up to the maximum, plus less than one base interval of jitter.
            let bases: [Int64] = [10, 20, 40, 80, 80, 80]
            for (delay, base) in zip(delays, bases) {
                #expect(delay >= .milliseconds(base) && delay < .milliseconds(base + 10), "delay \(delay) for base \(base) ms")
            }
        }
    }

    @Test("linger 0 and a finite linger let close return with messages undeliverable", arguments: [Linger.zero, .after(.milliseconds(100))])
    func lingerBounded(linger: Linger) async throws {
        try await withContext { context in
            let push = try context.socket(.push)
            try push.set(.linger(linger))
            try await push.connect("tcp://127.0.0.1:1")  // nothing will ever answer
            for index in 0..<3 { try await push.send("\(index)") }
            push.close()  // returns: the time limit fails the test if it hangs
            await push.waitUntilClosed()
            await #expect(throws: ZMQError.socketClosed) { try await push.send("late") }
        }
    }

    @Test("a closed socket lets go of its endpoints before its linger ends: after waitUntilUnbound another socket binds them", arguments: ["tcp", "ipc"])
    func unboundBeforeLinger(transport: String) async throws {
        try await withContext { context in
            let push = try context.socket(.push)
            let endpoint = try await push.bind(transport == "tcp" ? "tcp://127.0.0.1:*" : temporaryIPCEndpoint("unbound"))
            try await push.connect("tcp://127.0.0.1:1")  // nothing will ever answer: the linger never ends by itself
            for index in 0..<3 { try await push.send("\(index)") }
            push.close()
            await push.waitUntilUnbound()
            let pull = try context.socket(.pull)
            #expect(try await pull.bind(endpoint) == endpoint)
            let lingering = Task { await push.waitUntilClosed() }
            lingering.cancel()  // cuts the linger short
            await lingering.value
        }
    }

    @Test("close returns at once; linger forever then delivers everything queued, even to a peer that appears later")
    func lingerForever() async throws {
        try await withContext { context in
            let endpoint = temporaryIPCEndpoint("linger")
            let push = try context.socket(.push)
            try push.set(.reconnectInterval(.milliseconds(10)))
            try await push.connect(endpoint)
            for index in 0..<1000 { try await push.send("\(index)") }
            // Not awaited: close never waits for the linger, as libzmq's zmq_close does not.
            push.close()
            #expect(throws: ZMQError.socketClosed) { try push.trySend("after close") }
            let pull = try context.socket(.pull)
            try await pull.bind(endpoint)
            for index in 0..<1000 { #expect(try await pull.receive().strings == ["\(index)"]) }
            await push.waitUntilClosed()
        }
    }

    @Test("linger waits for what a connection already holds, not only for what is queued")
    func lingerWaitsForTheConnection() async throws {
        try await withContext { context in
            let push = try context.socket(.push)
            let endpoint = try await push.bind("tcp://127.0.0.1:*")
            let peer = try RawPeer(port: port(of: endpoint))
            defer { peer.close() }
            peer.send(RawPeer.greeting + RawPeer.ready("PULL"))
            #expect(await onThread { peer.skipHandshake() })
            try await push.waitForPeers(1)
            let size = 32 << 20
            try await push.send(Message(Frame([UInt8](repeating: 7, count: size))))
            // The frame's header has arrived: the queue is empty, and most of the frame waits in
            // the connection because the peer is not reading.
            #expect(await onThread { peer.read(9).count } == 9)
            push.close()
            #expect(await onThread { peer.read(size).count } == size)
            await push.waitUntilClosed()
        }
    }

    @Test("cancelling the wait for a lingering close cuts the linger short")
    func cancelledCloseStopsLingering() async throws {
        try await withContext { context in
            let push = try context.socket(.push)
            try await push.connect(temporaryIPCEndpoint("nobody-binds"))
            try await push.send("waits forever for a peer")
            push.close()
            let waiting = Task { await push.waitUntilClosed() }
            waiting.cancel()
            await waiting.value
            #expect(throws: ZMQError.socketClosed) { try push.trySend("after close") }
        }
    }

    @Test("context shutdown closes every socket at once, so a linger never waits on a socket not yet closed")
    func shutdownDoesNotDeadlock() async throws {
        // Closed one at a time in the context's (hash) order, a pair deadlocks whenever its PUSH
        // comes first; with eight pairs that is all but certain.
        let context = ZMQContext()
        for pair in 0..<8 {
            let push = try context.socket(.push)
            try push.set(.sendHighWaterMark(10))
            try await push.bind("inproc://stalled-\(pair)")
            let pull = try context.socket(.pull)
            try pull.set(.receiveHighWaterMark(1))
            try await pull.connect("inproc://stalled-\(pair)")
            try await push.waitForPeers(1)
            // The PULL never reads: PUSH's queue stays full, and its linger is forever.
            while (try? push.trySend("stuck")) != nil {}
        }
        await context.shutdown()
    }

    @Test("context shutdown waits for sockets closed earlier to deliver what they queued")
    func shutdownWaitsForEarlierCloses() async throws {
        let endpoint = temporaryIPCEndpoint("late-peer")
        let sending = ZMQContext()
        let push = try sending.socket(.push)
        try push.set(.reconnectInterval(.milliseconds(10)))
        try await push.connect(endpoint)
        for index in 0..<100 { try await push.send("\(index)") }
        push.close()
        try await withContext { receiving in
            let pull = try receiving.socket(.pull)
            try await pull.bind(endpoint)
            // Shutdown returns only once the closed PUSH has delivered; stopping earlier would
            // lose its queue, and the receives below would wait until the time limit.
            await sending.shutdown()
            for index in 0..<100 { #expect(try await pull.receive().strings == ["\(index)"]) }
        }
    }

    @Test("closing a socket wakes a waiting receive with socketClosed")
    func closeWakesReceivers() async throws {
        try await withContext { context in
            let pull = try context.socket(.pull)
            let events = pull.monitor()
            let receiver = Task { try await pull.receive() }
            try await pull.bind("inproc://nobody")
            _ = await nextEvent(events) { $0.kind == .listening }
            pull.close()
            await pull.waitUntilClosed()
            await #expect(throws: ZMQError.socketClosed) { try await receiver.value }
        }
    }

    @Test("opening and closing 1,000 sockets leaks no file descriptor")
    func noDescriptorLeak() async throws {
        try await withContext { context in
            let before = openFileDescriptorCount()
            for round in 0..<500 {
                let pull = try context.socket(.pull)
                let push = try context.socket(.push)
                let endpoint = try await pull.bind(round % 2 == 0 ? "tcp://127.0.0.1:*" : temporaryIPCEndpoint("fd"))
                try await push.connect(endpoint)
                try await push.send("x")
                _ = try await pull.receive()
                push.close()
                await push.waitUntilClosed()
                pull.close()
                await pull.waitUntilClosed()
            }
            let after = openFileDescriptorCount()
            #expect(after <= before, "descriptors before \(before), after \(after)")
        }
    }

    @Test("shutting down a context closes its sockets and releases its descriptors")
    func shutdownReleasesEverything() async throws {
        let before = openFileDescriptorCount()
        let context = ZMQContext()
        var sockets: [ZMQSocket] = []
        for _ in 0..<10 {
            let pull = try context.socket(.pull)
            let push = try context.socket(.push)
            try push.set(.linger(.zero))
            try await push.connect(try await pull.bind("tcp://127.0.0.1:*"))
            try await push.send("x")
            sockets += [pull, push]
        }
        await context.shutdown()
        #expect(openFileDescriptorCount() <= before)
        #expect(throws: ZMQError.contextTerminated) { _ = try context.socket(.pair) }
        await #expect(throws: ZMQError.socketClosed) { try await sockets[0].receive() }
    }
}
