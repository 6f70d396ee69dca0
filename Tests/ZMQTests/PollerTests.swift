import Testing
@testable import ZMQ
import ZMQTestSupport

/// The wait queues alone, with numbers for waiters and watchers: who is woken by what.
@Suite("Wait queues")
struct WaitQueueTests {
    typealias Queues = WaitQueues<Int, String>

    @Test("a message wakes one receiver; every watcher of readability hears of it and stays")
    func oneReceiverPerMessage() {
        var queues = Queues()
        for id in 1...3 { queues.add(id, id: UInt64(id), for: .receive) }
        queues.add(10, id: 10, for: .send)
        queues.watch("reads", id: 20, for: .readable)
        queues.watch("writes", id: 21, for: .writable)

        let first = queues.messagesArrived(2)
        #expect(first.takers == [1, 2])
        #expect(first.watchers == ["reads"])

        let second = queues.messagesArrived(5)
        #expect(second.takers == [3])
        #expect(second.watchers == ["reads"])
        // Receivers already woken are gone; the watcher is still there until it unwatches.
        #expect(queues.remove(1, for: .receive) == nil)
        queues.unwatch(20)
        #expect(queues.messagesArrived(1).isEmpty)
        #expect(queues.remove(10, for: .send) == 10)
    }

    @Test("room wakes every sender and the watchers of writability; a new peer also wakes peer waiters")
    func roomAndPeers() {
        var queues = Queues()
        queues.add(1, id: 1, for: .send)
        queues.add(2, id: 2, for: .send)
        queues.add(3, id: 3, for: .peers(2))
        queues.add(4, id: 4, for: .receive)
        queues.watch("reads", id: 5, for: .readable)
        queues.watch("both", id: 6, for: [.readable, .writable])

        let room = queues.roomMade()
        #expect(room.takers == [1, 2])
        #expect(room.watchers == ["both"])

        queues.add(7, id: 7, for: .send)
        let peer = queues.peerAttached()
        #expect(peer.takers == [7, 3])
        #expect(queues.hasReceivers)
    }

    @Test("a peer leaving wakes senders, and receivers only when it left messages; closing takes everyone")
    func detachAndClose() {
        var queues = Queues()
        queues.add(1, id: 1, for: .receive)
        queues.add(2, id: 2, for: .send)
        #expect(queues.peerDetached(leftMessages: false).takers == [2])
        queues.add(3, id: 3, for: .send)
        #expect(queues.peerDetached(leftMessages: true).takers == [1, 3])

        queues.add(4, id: 4, for: .receive)
        queues.add(5, id: 5, for: .send)
        queues.add(6, id: 6, for: .peers(1))
        queues.watch("poll", id: 7, for: .readable)
        let closing = queues.closeAll()
        #expect(closing.takers == [4, 5, 6])
        #expect(closing.watchers == ["poll"])
        #expect(!queues.hasReceivers)
    }

    @Test("a REQ or REP turn tells the watchers only")
    func turnTaken() {
        var queues = Queues()
        queues.add(1, id: 1, for: .receive)
        queues.watch("poll", id: 2, for: .writable)
        let turn = queues.turnTaken()
        #expect(turn.takers.isEmpty)
        #expect(turn.watchers == ["poll"])
    }
}

@Suite("Poller", .timeLimit(.minutes(1)))
struct PollerTests {
    @Test("reports only the sockets that are ready, and what for")
    func onlyReady() async throws {
        try await withContext { context in
            let quiet = try context.socket(.pull)
            try await quiet.bind("inproc://quiet")
            let busy = try context.socket(.pull)
            try await busy.bind("inproc://busy")
            let push = try context.socket(.push)
            try await push.connect("inproc://busy")
            try await push.send("hello")

            var poller = ZMQPoller()
            poller.register(quiet, for: .readable)
            poller.register(busy, for: .readable)
            let ready = try await poller.poll()
            #expect(ready.map(\.socket) == [busy])
            #expect(ready.first?.events == .readable)
            #expect(try busy.tryReceive()[0].string == "hello")
            // Nothing left anywhere: a zero timeout only looks.
            #expect(try await poller.poll(timeout: .zero).isEmpty)
        }
    }

    @Test("waits until a message arrives on any socket, over tcp")
    func waitsForArrival() async throws {
        try await withContext { context in
            var poller = ZMQPoller()
            var pushes: [ZMQSocket] = []
            var pulls: [ZMQSocket] = []
            for _ in 0..<3 {
                let pull = try context.socket(.pull)
                let endpoint = try await pull.bind("tcp://127.0.0.1:*")
                let push = try context.socket(.push)
                try await push.connect(endpoint)
                poller.register(pull, for: .readable)
                pulls.append(pull)
                pushes.append(push)
            }
            let poll = Task { [poller] in try await poller.poll() }
            try await pushes[2].send("late")
            let ready = try await poll.value
            #expect(ready.map(\.socket) == [pulls[2]])
        }
    }

    @Test("a timeout with nothing ready returns nothing")
    func timeout() async throws {
        try await withContext { context in
            let pull = try context.socket(.pull)
            try await pull.bind("inproc://nothing")
            var poller = ZMQPoller()
            poller.register(pull)
            #expect(try await poller.poll(timeout: .milliseconds(20)).isEmpty)
        }
    }

    @Test("writable follows the socket type: PUSH with a peer, REQ and REP by turn")
    func writable() async throws {
        try await withContext { context in
            let push = try context.socket(.push)
            var poller = ZMQPoller()
            poller.register(push, for: [.readable, .writable])
            // No peer yet: a PUSH has nowhere to queue.
            #expect(try await poller.poll(timeout: .zero).isEmpty)
            let pull = try context.socket(.pull)
            try await pull.bind("inproc://sink")
            let waiting = Task { [poller] in try await poller.poll() }
            try await push.connect("inproc://sink")
            let ready = try await waiting.value
            #expect(ready.first?.events == .writable)

            let rep = try context.socket(.rep)
            try await rep.bind("inproc://turns")
            let req = try context.socket(.req)
            try await req.connect("inproc://turns")
            try await req.waitForPeers(1)
            var turns = ZMQPoller()
            turns.register(req, for: [.readable, .writable])
            turns.register(rep, for: [.readable, .writable])
            #expect(try await turns.poll(timeout: .zero).map(\.events) == [.writable])
            try await req.send("question")
            // The request is on its way: REQ may do nothing until the reply, REP may read it.
            let asked = try await turns.poll()
            #expect(asked.map(\.socket) == [rep])
            #expect(asked.first?.events == .readable)
            _ = try rep.tryReceive()
            #expect(try await turns.poll(timeout: .zero).map(\.socket) == [rep])
            #expect(try await turns.poll(timeout: .zero).first?.events == .writable)
            try await rep.send("answer")
            let answered = try await turns.poll()
            #expect(answered.map(\.socket) == [req])
            #expect(answered.first?.events == .readable)
        }
    }

    @Test("a poller never takes the wakeup of a task waiting in receive")
    func receiverStillWoken() async throws {
        try await withContext { context in
            let pull = try context.socket(.pull)
            try await pull.bind("inproc://shared")
            let push = try context.socket(.push)
            try await push.connect("inproc://shared")
            var poller = ZMQPoller()
            poller.register(pull)
            let watching = Task { [poller] in try await poller.poll() }
            let receiving = Task { try await pull.receive() }
            // Both wait before the message comes: nothing is queued until this send.
            try await push.send("one")
            #expect(try await receiving.value[0].string == "one")
            // The poll saw the socket readable, or is still waiting after the receive took it.
            watching.cancel()
            let outcome = await watching.result
            if case .success(let ready) = outcome { #expect(ready.map(\.socket) == [pull]) }
        }
    }

    @Test("a closed socket makes poll throw, and cancellation ends it")
    func closedAndCancelled() async throws {
        try await withContext { context in
            let pull = try context.socket(.pull)
            try await pull.bind("inproc://closing")
            var poller = ZMQPoller()
            poller.register(pull)
            let waiting = Task { [poller] in try await poller.poll() }
            pull.close()
            await pull.waitUntilClosed()
            await #expect(throws: ZMQError.socketClosed) { try await waiting.value }

            let other = try context.socket(.pull)
            try await other.bind("inproc://idle")
            var idle = ZMQPoller()
            idle.register(other)
            let cancelled = Task { [idle] in try await idle.poll() }
            cancelled.cancel()
            await #expect(throws: ZMQError.cancelled) { try await cancelled.value }
        }
    }

    @Test("messages() merges sockets, tagged with their source, and ends when they close")
    func merged() async throws {
        try await withContext { context in
            var poller = ZMQPoller()
            var pushes: [ZMQSocket] = []
            var pulls: [ZMQSocket] = []
            for index in 0..<3 {
                let pull = try context.socket(.pull)
                try await pull.bind("inproc://merge-\(index)")
                let push = try context.socket(.push)
                try await push.connect("inproc://merge-\(index)")
                poller.register(pull)
                pulls.append(pull)
                pushes.append(push)
            }
            for round in 0..<10 {
                for (index, push) in pushes.enumerated() { try await push.send(Frame("\(index).\(round)")) }
            }
            var seen: [Int: [String]] = [:]
            for try await (socket, message) in poller.messages() {
                let index = pulls.firstIndex { $0 === socket }!
                #expect(message[0].string?.hasPrefix("\(index).") == true)
                seen[index, default: []].append(message[0].string!)
                if seen.values.map(\.count).reduce(0, +) == 30 {
                    for pull in pulls { pull.close() }
                }
            }
            for index in 0..<3 {
                #expect(seen[index] == (0..<10).map { "\(index).\($0)" })
            }
        }
    }
}
