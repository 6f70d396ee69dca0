import Testing
import ZMQ
@testable import ZMQPatterns

/// The Pirate queue and worker as values, on a clock the test moves: routing, heartbeats,
/// expiry and reconnection, without a socket.
@Suite("Pirate state machines")
struct PirateMachineTests {
    static let start = ContinuousClock.now
    static func at(_ seconds: Double) -> ContinuousClock.Instant { start + .milliseconds(Int(seconds * 1000)) }

    static let ready = Frame([0x01])
    static let heartbeat = Frame([0x02])

    /// What the machine's actions send to workers.
    static func toWorkers(_ actions: [PirateQueueMachine.Action]) -> [Message] {
        actions.compactMap { if case .toWorker(let message) = $0 { message } else { nil } }
    }

    static func events(_ actions: [PirateQueueMachine.Action]) -> [PatternEvent.Kind] {
        actions.compactMap { if case .event(let event) = $0 { event.kind } else { nil } }
    }

    @Test("requests go to the least recently used ready worker, and a worker is ready again once it replies")
    func leastRecentlyUsed() throws {
        var queue = PirateQueueMachine(heartbeat: .seconds(1), liveness: 3, now: Self.at(0))
        #expect(!queue.hasReadyWorker)
        #expect(Self.events(queue.fromWorker(["A", Self.ready], now: Self.at(0))) == [.workerReady])
        _ = queue.fromWorker(["B", Self.ready], now: Self.at(0))
        let first = try #require(queue.fromClient(["client1", "id1", "", "one"]) as (worker: [UInt8], action: PirateQueueMachine.Action)?)
        let second = try #require(queue.fromClient(["client2", "id2", "", "two"]) as (worker: [UInt8], action: PirateQueueMachine.Action)?)
        #expect(first.worker == Array("A".utf8) && first.action == .toWorker(["A", "client1", "id1", "", "one"]))
        #expect(second.worker == Array("B".utf8))
        #expect(!queue.hasReadyWorker && queue.fromClient(["client3", "", "three"]) == nil)
        // B answers first, so B is next.
        let answered = queue.fromWorker(["B", "client2", "id2", "", "TWO"], now: Self.at(0.1))
        #expect(answered.first == .toClient(["client2", "id2", "", "TWO"]))
        #expect(queue.fromClient(["client3", "", "three"])?.worker == Array("B".utf8))
    }

    @Test("a Simple Pirate worker on REQ keeps its empty delimiter both ways, gets no heartbeats and never expires")
    func reqWorker() throws {
        var queue = PirateQueueMachine(heartbeat: .seconds(1), liveness: 3, now: Self.at(0))
        _ = queue.fromWorker(["R", "", Self.ready], now: Self.at(0))
        _ = queue.fromWorker(["D", Self.ready], now: Self.at(0))
        let request = try #require(queue.fromClient(["client", "", "hello"]) as (worker: [UInt8], action: PirateQueueMachine.Action)?)
        #expect(request.action == .toWorker(["R", "", "client", "", "hello"]))
        #expect(queue.fromWorker(["R", "", "client", "", "HELLO"], now: Self.at(0.5)).first == .toClient(["client", "", "HELLO"]))
        // At 1 s a heartbeat goes to the DEALER worker only.
        #expect(Self.toWorkers(queue.tick(now: Self.at(1))) == [["D", Self.heartbeat]])
        // At 3 s the silent DEALER worker expires; the REQ worker stays.
        let expired = queue.tick(now: Self.at(3))
        #expect(Self.events(expired) == [.workerExpired])
        #expect(queue.ready == [Array("R".utf8)])
    }

    @Test("a worker silent for its liveness is forgotten and never routed to; heartbeats keep one alive")
    func expiry() {
        var queue = PirateQueueMachine(heartbeat: .seconds(1), liveness: 3, now: Self.at(0))
        _ = queue.fromWorker(["alive", Self.ready], now: Self.at(0))
        _ = queue.fromWorker(["silent", Self.ready], now: Self.at(0))
        #expect(queue.nextDeadline == Self.at(1))
        for second in 1...2 {
            _ = queue.fromWorker(["alive", Self.heartbeat], now: Self.at(Double(second)))
            #expect(Self.events(queue.tick(now: Self.at(Double(second)))).isEmpty)
        }
        let expired = queue.tick(now: Self.at(3))
        #expect(expired.contains(.event(PatternEvent(.workerExpired, worker: Array("silent".utf8)))))
        #expect(queue.ready == [Array("alive".utf8)])
        #expect(queue.workers.count == 1)
    }

    @Test("a heartbeat from a worker the queue does not know (the queue restarted) makes it ready")
    func unknownWorkerHeartbeat() {
        var queue = PirateQueueMachine(heartbeat: .seconds(1), liveness: 3, now: Self.at(0))
        #expect(Self.events(queue.fromWorker(["W", Self.heartbeat], now: Self.at(0))) == [.workerReady])
        #expect(queue.hasReadyWorker)
        // Its later heartbeats change nothing.
        #expect(queue.fromWorker(["W", Self.heartbeat], now: Self.at(0.5)).isEmpty)
    }

    @Test("a worker the queue could not reach is forgotten")
    func lost() {
        var queue = PirateQueueMachine(heartbeat: nil, liveness: 3, now: Self.at(0))
        _ = queue.fromWorker(["W", Self.ready], now: Self.at(0))
        #expect(Self.events(queue.lost(Array("W".utf8))) == [.workerLost])
        #expect(!queue.hasReadyWorker && queue.workers.isEmpty)
        #expect(queue.nextDeadline == nil, "without heartbeats there is nothing to wake for")
    }

    @Test("the worker says READY, heartbeats every interval, and hands requests over with their return address")
    func worker() {
        var worker = PirateWorkerMachine(heartbeat: .seconds(1), liveness: 3, reconnectInterval: .seconds(1),
                                         reconnectIntervalMax: .seconds(32), now: Self.at(0))
        #expect(worker.connected(now: Self.at(0)) == [.send(Message(Self.ready))])
        #expect(worker.tick(now: Self.at(0.5)).isEmpty)
        #expect(worker.tick(now: Self.at(1)) == [.send(Message(Self.heartbeat))])
        #expect(worker.received(Message(Self.heartbeat), now: Self.at(1.2)).isEmpty)
        #expect(worker.received(["client", "id", "", "work", "more"], now: Self.at(1.5))
                == [.handle(envelope: ["client", "id", ""], body: ["work", "more"])])
        #expect(worker.received(["no address"], now: Self.at(1.6)) == [.handle(envelope: [], body: ["no address"])])
    }

    @Test("a worker that hears nothing for its liveness dials again after 1 s, 2 s, 4 s … up to 32 s, and starts over once it hears from the queue")
    func reconnectBackoff() {
        var worker = PirateWorkerMachine(heartbeat: .seconds(1), liveness: 3, reconnectInterval: .seconds(1),
                                         reconnectIntervalMax: .seconds(32), now: Self.at(0))
        var now = 0.0
        _ = worker.connected(now: Self.at(now))
        var delays: [Duration] = []
        for _ in 0..<7 {
            let connectedAt = now
            // Silence: heartbeats go out until the liveness is spent.
            var actions: [PirateWorkerMachine.Action] = []
            while actions.isEmpty || actions == [.send(Message(Self.heartbeat))] {
                now += 0.25
                actions = worker.tick(now: Self.at(now))
            }
            guard case .reconnect(let delay) = actions.first else { Issue.record("\(actions)"); return }
            #expect(now - connectedAt >= 3, "not before 3 intervals of silence")
            delays.append(delay)
            now += Double(delay.components.seconds)
            _ = worker.connected(now: Self.at(now))
        }
        #expect(delays == [1, 2, 4, 8, 16, 32, 32].map { Duration.seconds($0) })
        _ = worker.received(Message(Self.heartbeat), now: Self.at(now))
        now += 3
        #expect(worker.tick(now: Self.at(now)).contains(.reconnect(after: .seconds(1))))
    }
}
