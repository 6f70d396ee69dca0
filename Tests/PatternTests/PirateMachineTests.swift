import Testing
import ZMQ
@testable import ZMQPatterns
import ZMQTestSupport

/// The Pirate queue and worker as values, on a clock the test moves: routing, heartbeats,
/// expiry and reconnection, without a socket.
@Suite("Pirate state machines")
struct PirateMachineTests {
    static let at = FixedClock.at

    static let ready = Frame([0x01])
    static let heartbeat = Frame([0x02])

    typealias Queue = PirateQueueMachine

    /// A queue started at 0 s.
    static func queue(heartbeat: Duration? = .seconds(1)) -> Queue {
        var queue = Queue(frontend: SocketPlan(.router, bind: ["inproc://front"]), backend: SocketPlan(.router, bind: ["inproc://back"]),
                          heartbeat: heartbeat, liveness: 3)
        _ = queue.start(now: Self.at(0))
        return queue
    }

    /// What the actions send on `socket`.
    static func sent<Event>(_ actions: [PatternAction<Event>], on socket: SocketName) -> [Message] {
        actions.compactMap { $0.sent?.socket == socket ? $0.sent?.message : nil }
    }

    static func toWorkers(_ actions: [Queue.Action]) -> [Message] { sent(actions, on: Queue.backend) }

    static func events(_ actions: [Queue.Action]) -> [PirateQueueEvent.Kind] { actions.compactMap(\.event?.kind) }

    static func fromWorker(_ queue: inout Queue, _ message: Message, at seconds: Double) -> [Queue.Action] {
        queue.received(message, on: Queue.backend, now: Self.at(seconds))
    }

    static func fromClient(_ queue: inout Queue, _ message: Message, at seconds: Double = 0) -> [Queue.Action] {
        queue.received(message, on: Queue.frontend, now: Self.at(seconds))
    }

    @Test("the queue opens a frontend and a backend, and reads its clients only while a worker is ready")
    func sockets() {
        var queue = Queue(frontend: SocketPlan(.router, bind: ["inproc://front"]), backend: SocketPlan(.router, bind: ["inproc://back"]),
                          heartbeat: .seconds(1), liveness: 3)
        let opened = queue.start(now: Self.at(0)).compactMap { if case .open(let name, let plan) = $0 { (name, plan) } else { nil } }
        #expect(opened.map(\.0) == [Queue.frontend, Queue.backend])
        #expect(opened.map(\.1.bind) == [["inproc://front"], ["inproc://back"]])
        #expect(queue.reads(Queue.backend) && !queue.reads(Queue.frontend))
        _ = Self.fromWorker(&queue, ["A", Self.ready], at: 0)
        #expect(queue.reads(Queue.frontend))
    }

    @Test("requests go to the least recently used ready worker, and a worker is ready again once it replies")
    func leastRecentlyUsed() throws {
        var queue = Self.queue()
        #expect(!queue.hasReadyWorker)
        #expect(Self.events(Self.fromWorker(&queue, ["A", Self.ready], at: 0)) == [.workerReady])
        _ = Self.fromWorker(&queue, ["B", Self.ready], at: 0)
        let first = Self.fromClient(&queue, ["client1", "id1", "", "one"])
        let second = Self.fromClient(&queue, ["client2", "id2", "", "two"])
        #expect(Self.toWorkers(first) == [["A", "client1", "id1", "", "one"]])
        #expect(first.first?.event == PirateQueueEvent(.requestForwarded, worker: Array("A".utf8)), "reported once the send is done")
        #expect(Self.toWorkers(second) == [["B", "client2", "id2", "", "two"]])
        #expect(!queue.hasReadyWorker && !queue.reads(Queue.frontend))
        // B answers first, so B is next.
        let answered = Self.fromWorker(&queue, ["B", "client2", "id2", "", "TWO"], at: 0.1)
        #expect(Self.sent(answered, on: Queue.frontend) == [["client2", "id2", "", "TWO"]])
        #expect(Self.toWorkers(Self.fromClient(&queue, ["client3", "", "three"])).first?[0] == "B")
    }

    @Test("a Simple Pirate worker on REQ keeps its empty delimiter both ways, gets no heartbeats and never expires")
    func reqWorker() throws {
        var queue = Self.queue()
        _ = Self.fromWorker(&queue, ["R", "", Self.ready], at: 0)
        _ = Self.fromWorker(&queue, ["D", Self.ready], at: 0)
        #expect(Self.toWorkers(Self.fromClient(&queue, ["client", "", "hello"])) == [["R", "", "client", "", "hello"]])
        #expect(Self.sent(Self.fromWorker(&queue, ["R", "", "client", "", "HELLO"], at: 0.5), on: Queue.frontend) == [["client", "", "HELLO"]])
        // At 1 s a heartbeat goes to the DEALER worker only.
        #expect(Self.toWorkers(queue.tick(now: Self.at(1))) == [["D", Self.heartbeat]])
        // At 3 s the silent DEALER worker expires; the REQ worker stays.
        let expired = queue.tick(now: Self.at(3))
        #expect(Self.events(expired) == [.workerExpired])
        #expect(queue.ready == [Array("R".utf8)])
    }

    @Test("a worker silent for its liveness is forgotten and never routed to; heartbeats keep one alive")
    func expiry() {
        var queue = Self.queue()
        _ = Self.fromWorker(&queue, ["alive", Self.ready], at: 0)
        _ = Self.fromWorker(&queue, ["silent", Self.ready], at: 0)
        #expect(queue.nextDeadline == Self.at(1))
        for second in 1...2 {
            _ = Self.fromWorker(&queue, ["alive", Self.heartbeat], at: Double(second))
            #expect(Self.events(queue.tick(now: Self.at(Double(second)))).isEmpty)
        }
        let expired = queue.tick(now: Self.at(3))
        #expect(expired.compactMap(\.event) == [PirateQueueEvent(.workerExpired, worker: Array("silent".utf8))])
        #expect(queue.ready == [Array("alive".utf8)])
        #expect(queue.workers.count == 1)
    }

    @Test("a heartbeat from a worker the queue does not know (the queue restarted) makes it ready")
    func unknownWorkerHeartbeat() {
        var queue = Self.queue()
        #expect(Self.events(Self.fromWorker(&queue, ["W", Self.heartbeat], at: 0)) == [.workerReady])
        #expect(queue.hasReadyWorker)
        // Its later heartbeats change nothing.
        #expect(Self.fromWorker(&queue, ["W", Self.heartbeat], at: 0.5).isEmpty)
    }

    @Test("a worker the queue could not reach is forgotten, and the request goes to the next")
    func lost() {
        var queue = Self.queue(heartbeat: nil)
        _ = Self.fromWorker(&queue, ["W", Self.ready], at: 0)
        _ = Self.fromWorker(&queue, ["V", Self.ready], at: 0)
        let sent = Self.fromClient(&queue, ["client", "", "job"])
        let refused = queue.sendFailed(Self.toWorkers(sent)[0], on: Queue.backend, error: ZMQError(code: .unroutable, message: "gone"), now: Self.at(0))
        #expect(Self.events(refused) == [.workerLost, .requestForwarded])
        #expect(Self.toWorkers(refused) == [["V", "client", "", "job"]])
        #expect(queue.workers.keys.map { String(decoding: $0, as: UTF8.self) } == ["V"])
        #expect(queue.nextDeadline == nil, "without heartbeats there is nothing to wake for")
    }

    @Test("a ready worker whose queue is full stays ready; the request tries the next, and is held when none can take it")
    func fullWorkers() {
        var queue = Self.queue()
        let full = ZMQError(code: .wouldBlock, message: "full")
        _ = Self.fromWorker(&queue, ["A", Self.ready], at: 0)
        _ = Self.fromWorker(&queue, ["B", Self.ready], at: 0)
        let toA = Self.fromClient(&queue, ["client", "", "job"], at: 0.1)
        let toB = queue.sendFailed(Self.toWorkers(toA)[0], on: Queue.backend, error: full, now: Self.at(0.1))
        #expect(Self.toWorkers(toB) == [["B", "client", "", "job"]])
        let none = queue.sendFailed(Self.toWorkers(toB)[0], on: Queue.backend, error: full, now: Self.at(0.1))
        #expect(Self.events(none) == [.requestHeld])
        #expect(queue.ready == [Array("B".utf8), Array("A".utf8)], "both still ready")
        #expect(!queue.reads(Queue.frontend), "no other request is read meanwhile")
        #expect(queue.nextDeadline == Self.at(0.1) + Queue.heldRetry)
        // Offered again when its time comes, to the least recently used first.
        let again = queue.tick(now: Self.at(0.1) + Queue.heldRetry)
        #expect(Self.toWorkers(again) == [["B", "client", "", "job"]])
        #expect(queue.held == nil)
        // Held again, it goes as soon as a worker is heard from.
        _ = queue.sendFailed(Self.toWorkers(again)[0], on: Queue.backend, error: full, now: Self.at(0.2))
        _ = queue.sendFailed(["A", "client", "", "job"], on: Queue.backend, error: full, now: Self.at(0.2))
        #expect(queue.held != nil)
        let heard = Self.fromWorker(&queue, ["A", Self.heartbeat], at: 0.3)
        #expect(Self.toWorkers(heard).first?.frames.last == "job")
    }

    typealias Worker = PirateWorkerMachine

    static func worker() -> Worker {
        Worker(endpoint: "inproc://queue", options: [], heartbeat: .seconds(1), liveness: 3, reconnectInterval: .seconds(1),
               reconnectIntervalMax: .seconds(32), now: Self.at(0))
    }

    static func handles(_ actions: [Worker.Action]) -> [(Message, UInt64)] {
        actions.compactMap { if case .handle(let request, let id) = $0 { (request, id) } else { nil } }
    }

    static func opens(_ actions: [Worker.Action]) -> Bool {
        actions.contains { if case .open = $0 { true } else { false } }
    }

    static func closes(_ actions: [Worker.Action]) -> Bool {
        actions.contains { if case .close = $0 { true } else { false } }
    }

    @Test("the worker says READY, heartbeats every interval (while a request is handled too), and answers behind each request's return address")
    func worker() throws {
        var worker = Self.worker()
        let started = worker.start(now: Self.at(0))
        #expect(Self.opens(started) && Self.sent(started, on: Worker.queue) == [Message(Self.ready)])
        #expect(worker.tick(now: Self.at(0.5)).isEmpty)
        #expect(Self.sent(worker.tick(now: Self.at(1)), on: Worker.queue) == [Message(Self.heartbeat)])
        #expect(worker.received(Message(Self.heartbeat), on: Worker.queue, now: Self.at(1.2)).isEmpty)
        let work = Self.handles(worker.received(["client", "id", "", "work", "more"], on: Worker.queue, now: Self.at(1.5)))
        #expect(work.map(\.0) == [["work", "more"]])
        #expect(Self.sent(worker.tick(now: Self.at(2)), on: Worker.queue) == [Message(Self.heartbeat)])
        let reply = worker.handled(["done"], id: try #require(work.first?.1), final: true, now: Self.at(2.5))
        #expect(Self.sent(reply, on: Worker.queue) == [["client", "id", "", "done"]])
        let bare = Self.handles(worker.received(["no address"], on: Worker.queue, now: Self.at(2.6)))
        #expect(bare.map(\.0) == [["no address"]])
        #expect(Self.sent(worker.handled(["DONE"], id: try #require(bare.first?.1), final: true, now: Self.at(2.7)), on: Worker.queue) == [["DONE"]])
    }

    @Test("a request that comes while another is handled waits its turn, and is handled next")
    func requestsWait() throws {
        var worker = Self.worker()
        _ = worker.start(now: Self.at(0))
        let first = Self.handles(worker.received(["c1", "", "one"], on: Worker.queue, now: Self.at(0.1)))
        #expect(Self.handles(worker.received(["c2", "", "two"], on: Worker.queue, now: Self.at(0.2))).isEmpty)
        let next = worker.handled(["ONE"], id: try #require(first.first?.1), final: true, now: Self.at(0.3))
        #expect(Self.sent(next, on: Worker.queue) == [["c1", "", "ONE"]])
        #expect(Self.handles(next).map(\.0) == [["two"]])
    }

    @Test("a worker that hears nothing for its liveness dials again after 1 s, 2 s, 4 s … up to 32 s, and starts over once it hears from the queue")
    func reconnectBackoff() {
        var worker = Self.worker()
        var now = 0.0
        _ = worker.start(now: Self.at(now))
        var delays: [Duration] = []
        for _ in 0..<7 {
            let connectedAt = now
            // Silence: heartbeats go out until the liveness is spent.
            var actions: [Worker.Action] = []
            while !Self.closes(actions) {
                now += 0.25
                actions = worker.tick(now: Self.at(now))
            }
            #expect(now - connectedAt >= 3, "not before 3 intervals of silence")
            guard let delay = actions.compactMap(\.event?.delay).first else { Issue.record("no delay reported"); return }
            delays.append(delay)
            #expect(!worker.reads(Worker.queue) && worker.nextDeadline == Self.at(now) + delay)
            now += Double(delay.components.seconds)
            let redial = worker.tick(now: Self.at(now))
            #expect(Self.opens(redial) && Self.sent(redial, on: Worker.queue) == [Message(Self.ready)])
        }
        #expect(delays == [1, 2, 4, 8, 16, 32, 32].map { Duration.seconds($0) })
        _ = worker.received(Message(Self.heartbeat), on: Worker.queue, now: Self.at(now))
        now += 3
        #expect(worker.tick(now: Self.at(now)).compactMap(\.event?.delay) == [.seconds(1)])
    }

    @Test("a Simple Pirate worker is a REQ that says READY and answers in turn, without heartbeats")
    func simpleWorker() throws {
        var worker = Worker(endpoint: "inproc://queue", options: [], heartbeat: nil, liveness: 3, reconnectInterval: .seconds(1),
                            reconnectIntervalMax: .seconds(32), now: Self.at(0))
        #expect(worker.plan.type == .req)
        #expect(Self.sent(worker.start(now: Self.at(0)), on: Worker.queue) == [Message(Self.ready)])
        #expect(worker.nextDeadline == nil)
        let work = Self.handles(worker.received(["client", "", "job"], on: Worker.queue, now: Self.at(5)))
        #expect(Self.sent(worker.handled(["done"], id: try #require(work.first?.1), final: true, now: Self.at(6)), on: Worker.queue)
                == [["client", "", "done"]])
    }
}

/// The Majordomo worker as a value, on a clock the test moves.
@Suite("Majordomo worker state machine")
struct MajordomoWorkerMachineTests {
    typealias Worker = MajordomoWorkerMachine

    static func worker(_ version: MajordomoVersion = .v02) -> Worker {
        Worker(endpoints: ["inproc://broker"], service: "echo", version: version, options: [], heartbeat: .seconds(1), liveness: 3,
               reconnectInterval: .seconds(2), reconnectIntervalMax: .seconds(8), now: PirateMachineTests.at(0))
    }

    static let at = FixedClock.at
    static func sent(_ actions: [Worker.Action]) -> [Message] { actions.compactMap { $0.sent?.message } }
    static func dialled(_ actions: [Worker.Action]) -> [String] {
        actions.compactMap { if case .open(_, let plan) = $0 { plan.connect.first } else { nil } }
    }

    @Test("READY for its service; a REQUEST goes to the handler; PARTIALs and the FINAL go back to its client; heartbeats go on meanwhile")
    func serves() throws {
        var worker = Self.worker()
        #expect(Self.sent(worker.start(now: Self.at(0))) == [["MDPW02", Frame([1]), "echo"]])
        let asked = worker.received(["MDPW02", Frame([2]), "client", "", "hello"], on: Worker.broker, now: Self.at(0.5))
        let (request, id) = try #require(PirateMachineTests.handles(asked).first)
        #expect(request == ["hello"])
        #expect(Self.sent(worker.tick(now: Self.at(1))) == [["MDPW02", Frame([5])]])
        #expect(Self.sent(worker.handled(["part"], id: id, final: false, now: Self.at(1.1))) == [["MDPW02", Frame([3]), "client", "", "part"]])
        #expect(Self.sent(worker.handled(["HELLO"], id: id, final: true, now: Self.at(1.2))) == [["MDPW02", Frame([4]), "client", "", "HELLO"]])
        #expect(worker.handling == nil)
    }

    @Test("7/MDP 0.1 sends no PARTIAL, only the REPLY")
    func version01() throws {
        var worker = Self.worker(.v01)
        #expect(Self.sent(worker.start(now: Self.at(0))) == [["", "MDPW01", Frame([1]), "echo"]])
        let asked = worker.received(["", "MDPW01", Frame([2]), "client", "", "hi"], on: Worker.broker, now: Self.at(0.5))
        let (_, id) = try #require(PirateMachineTests.handles(asked).first)
        #expect(Self.sent(worker.handled(["part"], id: id, final: false, now: Self.at(0.6))).isEmpty)
        #expect(Self.sent(worker.handled(["HI"], id: id, final: true, now: Self.at(0.7))) == [["", "MDPW01", Frame([3]), "client", "", "HI"]])
    }

    @Test("DISCONNECT closes the socket and dials again after the reconnect interval, with READY; an answer for the old connection is not sent")
    func disconnect() throws {
        var worker = Self.worker()
        _ = worker.start(now: Self.at(0))
        let asked = worker.received(["MDPW02", Frame([2]), "client", "", "slow"], on: Worker.broker, now: Self.at(0.1))
        let (_, id) = try #require(PirateMachineTests.handles(asked).first)
        let told = worker.received(["MDPW02", Frame([6])], on: Worker.broker, now: Self.at(0.2))
        #expect(PirateMachineTests.closes(told) && told.compactMap(\.event?.delay) == [.seconds(2)])
        #expect(!worker.reads(Worker.broker) && worker.nextDeadline == Self.at(2.2))
        let redial = worker.tick(now: Self.at(2.2))
        #expect(PirateMachineTests.opens(redial) && Self.sent(redial) == [["MDPW02", Frame([1]), "echo"]])
        #expect(Self.sent(worker.handled(["late"], id: id, final: true, now: Self.at(2.3))).isEmpty)
    }

    @Test("stopping says DISCONNECT and lets it leave")
    func stops() {
        var worker = Self.worker()
        _ = worker.start(now: Self.at(0))
        let last = worker.stop(now: Self.at(1))
        #expect(Self.sent(last) == [["MDPW02", Frame([6])]])
        #expect(last.contains { if case .close(_, let linger) = $0 { linger == .seconds(1) } else { false } })
    }

    @Test("given two brokers it dials the next one in turn when its broker falls silent, and at once when it says DISCONNECT unless the round starts again")
    func failsOver() {
        var worker = Worker(endpoints: ["tcp://a:1", "tcp://b:1"], service: "echo", version: .v02, options: [],
                                            heartbeat: .seconds(1), liveness: 3, reconnectInterval: .seconds(1),
                                            reconnectIntervalMax: .seconds(4), now: Self.at(0))
        #expect(Self.dialled(worker.start(now: Self.at(0))) == ["tcp://a:1"])
        #expect(worker.tick(now: Self.at(3)).contains { if case .close = $0 { true } else { false } }, "three silent heartbeats")
        #expect(Self.dialled(worker.tick(now: Self.at(4))) == ["tcp://b:1"])
        _ = worker.received(Message(MajordomoCommand.disconnect.frames(.v02)), on: MajordomoWorkerMachine.broker, now: Self.at(4.5))
        #expect(Self.dialled(worker.tick(now: Self.at(5.5))) == ["tcp://a:1"], "back to the first after a pause: a round of brokers is over")
        _ = worker.received(Message(MajordomoCommand.disconnect.frames(.v02)), on: MajordomoWorkerMachine.broker, now: Self.at(6))
        #expect(Self.dialled(worker.tick(now: Self.at(6))) == ["tcp://b:1"], "sent away by the first: the next at once")
    }

}

@Suite("Retry policy")
struct RetryPolicyTests {
    @Test("the wait grows by the backoff up to the maximum, and attempts are counted")
    func growth() {
        let policy = RetryPolicy(timeout: .seconds(1), attempts: 5, backoff: 2, maxTimeout: .seconds(5))
        #expect((1...6).map(policy.timeout(forAttempt:)) == [1, 2, 4, 5, 5, 5].map { Duration.seconds($0) })
        #expect(policy.allows(attempt: 5) && !policy.allows(attempt: 6))
        #expect(policy.description == "5 attempts from 1.0 seconds up to 5.0 seconds")
    }

    @Test("the Guide's Lazy Pirate: three attempts of 2.5 s; without a limit every attempt is allowed")
    func defaults() {
        #expect((1...3).map(RetryPolicy.lazyPirate.timeout(forAttempt:)) == Array(repeating: .milliseconds(2500), count: 3))
        #expect(!RetryPolicy.lazyPirate.allows(attempt: 4))
        #expect(RetryPolicy.lazyPirate.description == "3 attempts of 2.5 seconds each")
        #expect(RetryPolicy(timeout: .seconds(1), attempts: nil).allows(attempt: 1_000_000))
    }
}
