import Foundation
import Testing
import ZMQ
@testable import ZMQPatterns
import ZMQTestSupport

/// The Majordomo broker as a value, frame by frame as 7/MDP, 18/MDP and 8/MMI lay them out.
@Suite("Majordomo broker state machine")
struct MajordomoMachineTests {
    static let at = FixedClock.at

    static func broker() -> MajordomoBrokerMachine {
        MajordomoBrokerMachine(heartbeat: .seconds(1), liveness: 3, requestExpiry: .seconds(10), now: at(0))
    }

    static func sent(_ actions: [MajordomoBrokerMachine.Action]) -> [Message] {
        actions.compactMap { $0.sent?.message }
    }

    static func events(_ actions: [MajordomoBrokerMachine.Action]) -> [MajordomoBrokerEvent.Kind] {
        actions.compactMap(\.event?.kind)
    }

    @Test("18/MDP: a request goes to a ready worker as REQUEST, its PARTIAL and FINAL go back to the client, with the service")
    func version02() {
        var broker = Self.broker()
        #expect(Self.events(broker.received(["W", "MDPW02", Frame([1]), "echo"], now: Self.at(0))) == [.workerReady])
        let forwarded = broker.received(["C", "MDPC02", Frame([1]), "echo", "hello", "world"], now: Self.at(0.1))
        #expect(Self.sent(forwarded) == [["W", "MDPW02", Frame([2]), "C", "", "hello", "world"]])
        #expect(Self.sent(broker.received(["W", "MDPW02", Frame([3]), "C", "", "part"], now: Self.at(0.2)))
                == [["C", "MDPC02", Frame([2]), "echo", "part"]])
        #expect(Self.sent(broker.received(["W", "MDPW02", Frame([4]), "C", "", "done"], now: Self.at(0.3)))
                == [["C", "MDPC02", Frame([3]), "echo", "done"]])
        // The worker is free again: the next request goes straight to it.
        #expect(Self.sent(broker.received(["C", "MDPC02", Frame([1]), "echo", "again"], now: Self.at(0.4))).count == 1)
    }

    @Test("7/MDP: a REQ client and a 0.1 worker, each command behind its empty frame")
    func version01() {
        var broker = Self.broker()
        _ = broker.received(["W", "", "MDPW01", Frame([1]), "echo"], now: Self.at(0))
        let forwarded = broker.received(["C", "", "MDPC01", "echo", "hello"], now: Self.at(0.1))
        #expect(Self.sent(forwarded) == [["W", "", "MDPW01", Frame([2]), "C", "", "hello"]])
        #expect(Self.sent(broker.received(["W", "", "MDPW01", Frame([3]), "C", "", "HELLO"], now: Self.at(0.2)))
                == [["C", "", "MDPC01", "echo", "HELLO"]])
    }

    @Test("both versions at once: a 0.1 client served by a 0.2 worker gets only the FINAL reply, as a 0.1 REPLY")
    func mixedVersions() {
        var broker = Self.broker()
        _ = broker.received(["W", "MDPW02", Frame([1]), "echo"], now: Self.at(0))
        #expect(Self.sent(broker.received(["C", "", "MDPC01", "echo", "hi"], now: Self.at(0.1))) == [["W", "MDPW02", Frame([2]), "C", "", "hi"]])
        #expect(Self.sent(broker.received(["W", "MDPW02", Frame([3]), "C", "", "part"], now: Self.at(0.2))).isEmpty)
        #expect(Self.sent(broker.received(["W", "MDPW02", Frame([4]), "C", "", "HI"], now: Self.at(0.3))) == [["C", "", "MDPC01", "echo", "HI"]])
    }

    @Test("the majortomo dialect: a leading empty frame everywhere, REQUEST 0x02 from clients, PARTIAL 0x03 and FINAL 0x04 back without the service; served by an 18/MDP worker too")
    func majortomo() {
        var broker = Self.broker()
        #expect(Self.events(broker.received(["W", "", "MDPW02", Frame([1]), "echo"], now: Self.at(0))) == [.workerReady])
        let forwarded = broker.received(["C", "", "MDPC02", Frame([2]), "echo", "hello"], now: Self.at(0.1))
        #expect(Self.sent(forwarded) == [["W", "", "MDPW02", Frame([2]), "C", "", "hello"]])
        #expect(Self.sent(broker.received(["W", "", "MDPW02", Frame([3]), "C", "", "part"], now: Self.at(0.2))) == [["C", "", "MDPC02", Frame([3]), "part"]])
        #expect(Self.sent(broker.received(["W", "", "MDPW02", Frame([4]), "C", "", "done"], now: Self.at(0.3))) == [["C", "", "MDPC02", Frame([4]), "done"]])
        #expect(Self.sent(broker.tick(now: Self.at(1))) == [["W", "", "MDPW02", Frame([5])]], "heartbeats in its dialect")
        // An 18/MDP worker serves a majortomo client; the client still gets majortomo's replies.
        _ = broker.received(["R", "MDPW02", Frame([1]), "rfc"], now: Self.at(1.1))
        #expect(Self.sent(broker.received(["C", "", "MDPC02", Frame([2]), "rfc", "x"], now: Self.at(1.2))) == [["R", "MDPW02", Frame([2]), "C", "", "x"]])
        #expect(Self.sent(broker.received(["R", "MDPW02", Frame([4]), "C", "", "X"], now: Self.at(1.3))) == [["C", "", "MDPC02", Frame([4]), "X"]])
        #expect(Self.sent(broker.received(["C", "", "MDPC02", Frame([2]), "mmi.service", "rfc"], now: Self.at(1.4))) == [["C", "", "MDPC02", Frame([4]), "200"]])
    }

    @Test("client messages of each version: requests as sent, and replies parsed back", arguments: MajordomoVersion.allCases)
    func clientMessages(version: MajordomoVersion) {
        let request = MajordomoClientMessage.request(version, service: "s", body: ["b"])
        #expect(MajordomoClientMessage.parseRequest(request[...])! == (version, "s", ["b"]))
        let final = MajordomoClientMessage.parseReply(version, Message(MajordomoClientMessage.reply(version, service: "s", body: ["r"])))
        #expect(final?.final == true && final?.body == ["r"] && final?.service == (version == .majortomo ? nil : "s"))
        let partial = MajordomoClientMessage.parseReply(version, Message(MajordomoClientMessage.reply(version, service: "s", body: ["p"], final: false)))
        #expect(version == .v01 ? partial?.final == true : partial?.final == false, "0.1 has no PARTIAL: its one reply is final")
    }

    @Test("8/MMI: mmi.service says 200 for a service with a worker and 404 without; other mmi. names 501")
    func mmi() {
        var broker = Self.broker()
        _ = broker.received(["W", "MDPW02", Frame([1]), "echo"], now: Self.at(0))
        #expect(Self.sent(broker.received(["C", "MDPC02", Frame([1]), "mmi.service", "echo"], now: Self.at(0.1)))
                == [["C", "MDPC02", Frame([3]), "mmi.service", "200"]])
        #expect(Self.sent(broker.received(["C", "", "MDPC01", "mmi.service", "nothing"], now: Self.at(0.1)))
                == [["C", "", "MDPC01", "mmi.service", "404"]])
        #expect(Self.sent(broker.received(["C", "MDPC02", Frame([1]), "mmi.workers"], now: Self.at(0.1)))
                == [["C", "MDPC02", Frame([3]), "mmi.workers", "501"]])
    }

    @Test("a request for a service with no worker waits for one, and expires if none comes in time")
    func queuedAndExpired() {
        var broker = Self.broker()
        #expect(Self.events(broker.received(["C", "MDPC02", Frame([1]), "late", "one"], now: Self.at(0))) == [.requestQueued])
        #expect(Self.sent(broker.received(["W", "MDPW02", Frame([1]), "late"], now: Self.at(1))) == [["W", "MDPW02", Frame([2]), "C", "", "one"]])
        _ = broker.received(["W", "MDPW02", Frame([4]), "C", "", "ONE"], now: Self.at(1.5))
        _ = broker.received(["C", "MDPC02", Frame([1]), "never", "two"], now: Self.at(2))
        #expect(!Self.events(broker.tick(now: Self.at(11))).contains(.requestExpired))
        #expect(Self.events(broker.tick(now: Self.at(12))).contains(.requestExpired))
        #expect(broker.services["never"] == nil, "a name no worker serves is not kept once its requests are gone")
    }

    @Test("the request of a worker that expires or leaves while busy goes to another worker, ahead of newer ones")
    func lostWorkersRequest() {
        var broker = Self.broker()
        _ = broker.received(["A", "MDPW02", Frame([1]), "s"], now: Self.at(0))
        #expect(Self.sent(broker.received(["C", "MDPC02", Frame([1]), "s", "first"], now: Self.at(0.1))) == [["A", "MDPW02", Frame([2]), "C", "", "first"]])
        _ = broker.received(["D", "MDPC02", Frame([1]), "s", "second"], now: Self.at(0.2))
        _ = broker.received(["B", "MDPW02", Frame([5])], now: Self.at(0.3))  // not READY yet: told to go
        let ready = broker.received(["B2", "MDPW02", Frame([1]), "s"], now: Self.at(2.5))
        #expect(Self.sent(ready) == [["B2", "MDPW02", Frame([2]), "D", "", "second"]])
        // A is silent for its liveness: its request waits for the next free worker, first in line.
        _ = broker.received(["D", "MDPC02", Frame([1]), "s", "third"], now: Self.at(2.6))
        #expect(Self.events(broker.tick(now: Self.at(3.1))).contains(.workerExpired))
        let freed = broker.received(["B2", "MDPW02", Frame([4]), "D", "", "SECOND"], now: Self.at(3.2))
        #expect(Self.sent(freed).last == ["B2", "MDPW02", Frame([2]), "C", "", "first"])
        // A worker's DISCONNECT while busy gives its request back too: E takes "third", then it.
        #expect(Self.sent(broker.received(["E", "MDPW02", Frame([1]), "s"], now: Self.at(3.3))) == [["E", "MDPW02", Frame([2]), "D", "", "third"]])
        _ = broker.received(["B2", "MDPW02", Frame([6])], now: Self.at(3.4))
        let next = broker.received(["E", "MDPW02", Frame([4]), "D", "", "THIRD"], now: Self.at(3.5))
        #expect(Self.sent(next).last == ["E", "MDPW02", Frame([2]), "C", "", "first"])
    }

    @Test("the request of a worker that expires goes to no worker expiring in the same tick: it waits for a live one")
    func noHandoverToExpiringWorker() {
        var broker = Self.broker()
        _ = broker.received(["A", "MDPW02", Frame([1]), "s"], now: Self.at(0))
        _ = broker.received(["C", "MDPC02", Frame([1]), "s", "job"], now: Self.at(0.1))  // A takes it
        // Idle workers as silent as A: whichever order the workers expire in, none may take it.
        for index in 0..<9 { _ = broker.received([Frame("B\(index)"), "MDPW02", Frame([1]), "s"], now: Self.at(0)) }
        let tick = broker.tick(now: Self.at(3))
        #expect(Self.sent(tick).allSatisfy { $0[2] == Frame([5]) }, "heartbeats only: \(Self.sent(tick))")
        #expect(Self.events(tick).filter { $0 == .workerExpired }.count == 10)
        #expect(!Self.events(tick).contains(.requestForwarded))
        // The next worker to come gets it.
        #expect(Self.sent(broker.received(["D", "MDPW02", Frame([1]), "s"], now: Self.at(3.1))) == [["D", "MDPW02", Frame([2]), "C", "", "job"]])
    }

    @Test("a request queued between ticks is noted as the earliest new deadline, however far off the next heartbeat is")
    func earliestNewDeadline() {
        var broker = MajordomoBrokerMachine(heartbeat: .seconds(60), liveness: 3, requestExpiry: .milliseconds(100), now: Self.at(0))
        #expect(broker.earliestNewDeadline == nil)
        _ = broker.received(["C", "MDPC02", Frame([1]), "nobody", "hello"], now: Self.at(1))
        #expect(broker.earliestNewDeadline == Self.at(1.1))
        #expect(broker.nextDeadline == Self.at(1.1))
        #expect(Self.events(broker.tick(now: Self.at(1.1))) == [.requestExpired])
        #expect(broker.earliestNewDeadline == nil)
    }

    @Test("a FINAL or PARTIAL the worker was not asked for (idle, a second FINAL, another client) gets DISCONNECT, and is not forwarded")
    func unsolicitedReply() {
        var broker = Self.broker()
        _ = broker.received(["W", "MDPW02", Frame([1]), "s"], now: Self.at(0))
        let idle = broker.received(["W", "MDPW02", Frame([4]), "C", "", "made up"], now: Self.at(0.1))
        #expect(Self.sent(idle) == [["W", "MDPW02", Frame([6])]])
        _ = broker.received(["V", "MDPW02", Frame([1]), "s"], now: Self.at(0.2))
        _ = broker.received(["C", "MDPC02", Frame([1]), "s", "x"], now: Self.at(0.3))
        #expect(Self.sent(broker.received(["V", "MDPW02", Frame([4]), "D", "", "wrong client"], now: Self.at(0.4))) == [["V", "MDPW02", Frame([6])]])
        #expect(broker.workers.isEmpty)
    }

    @Test("each request is answered in its own client's version, even with two from one 0.1 DEALER outstanding")
    func versionPerRequest() {
        var broker = Self.broker()
        _ = broker.received(["A", "MDPW02", Frame([1]), "s"], now: Self.at(0))
        _ = broker.received(["B", "MDPW02", Frame([1]), "s"], now: Self.at(0))
        _ = broker.received(["C", "", "MDPC01", "s", "one"], now: Self.at(0.1))
        _ = broker.received(["C", "", "MDPC01", "s", "two"], now: Self.at(0.1))
        #expect(Self.sent(broker.received(["A", "MDPW02", Frame([4]), "C", "", "ONE"], now: Self.at(0.2))) == [["C", "", "MDPC01", "s", "ONE"]])
        #expect(Self.sent(broker.received(["B", "MDPW02", Frame([4]), "C", "", "TWO"], now: Self.at(0.3))) == [["C", "", "MDPC01", "s", "TWO"]])
    }

    @Test("nothing of a request stays once it is answered or expires: 1,000 clients later the broker holds only its worker")
    func stateReleased() {
        var broker = Self.broker()
        _ = broker.received(["W", "MDPW02", Frame([1]), "s"], now: Self.at(0))
        for index in 0..<1000 {
            let client = Frame("client \(index)")
            let version: [Frame] = index % 3 == 0 ? ["", "MDPC01"] : index % 3 == 1 ? ["MDPC02", Frame([1])] : ["", "MDPC02", Frame([2])]
            _ = broker.received(Message([client] + version + ["s", "body"]), now: Self.at(0.1))
            _ = broker.received(Message([client] + version + ["mentioned \(index)", "body"]), now: Self.at(0.1))
            _ = broker.received(["W", "MDPW02", Frame([4]), client, "", "reply"], now: Self.at(0.2))
        }
        _ = broker.received(["W", "MDPW02", Frame([5])], now: Self.at(10.5))  // the worker stays alive
        _ = broker.tick(now: Self.at(10.6))  // the requests for names no worker serves expire
        #expect(broker.services.keys.sorted() == ["s"])
        #expect(broker.services["s"]?.requests.isEmpty == true && broker.services["s"]?.waiting.count == 1)
        #expect(broker.workers.count == 1 && broker.workers["W"]?.request == nil)
    }

    @Test("a service's queue holds at most maxQueuedRequests; more are turned away")
    func queueBound() {
        var broker = MajordomoBrokerMachine(heartbeat: .seconds(1), liveness: 3, requestExpiry: .seconds(10), maxQueuedRequests: 2, now: Self.at(0))
        for index in 0..<2 {
            #expect(Self.events(broker.received(["C", "MDPC02", Frame([1]), "s", "\(index)"], now: Self.at(0))) == [.requestQueued])
        }
        #expect(Self.events(broker.received(["C", "MDPC02", Frame([1]), "s", "2"], now: Self.at(0))) == [.requestRefused])
        #expect(broker.services["s"]?.requests.count == 2)
    }

    @Test("workers are heartbeaten in their own version and forgotten after their liveness; any command keeps one alive")
    func heartbeats() {
        var broker = Self.broker()
        _ = broker.received(["A", "MDPW02", Frame([1]), "s"], now: Self.at(0))
        _ = broker.received(["B", "", "MDPW01", Frame([1]), "s"], now: Self.at(0))
        let beats = Set(Self.sent(broker.tick(now: Self.at(1))))
        #expect(beats == [["A", "MDPW02", Frame([5])], ["B", "", "MDPW01", Frame([4])]])
        _ = broker.received(["A", "MDPW02", Frame([5])], now: Self.at(2.5))
        let expired = broker.tick(now: Self.at(3))
        #expect(expired.compactMap(\.event).contains(MajordomoBrokerEvent(.workerExpired, worker: Array("B".utf8), service: "s")))
        #expect(broker.workers.keys.map { $0.string } == ["A"])
    }

    @Test("a worker that breaks the protocol is told to DISCONNECT: a second READY, an mmi. service, a reply before READY")
    func disconnects() {
        var broker = Self.broker()
        _ = broker.received(["A", "MDPW02", Frame([1]), "s"], now: Self.at(0))
        #expect(Self.sent(broker.received(["A", "MDPW02", Frame([1]), "s"], now: Self.at(0.1))) == [["A", "MDPW02", Frame([6])]])
        #expect(broker.workers.isEmpty)
        #expect(Self.sent(broker.received(["M", "", "MDPW01", Frame([1]), "mmi.service"], now: Self.at(0.2))) == [["M", "", "MDPW01", Frame([5])]])
        #expect(Self.sent(broker.received(["X", "MDPW02", Frame([4]), "C", "", "reply"], now: Self.at(0.3))) == [["X", "MDPW02", Frame([6])]])
        // A worker's own DISCONNECT is not answered: it is forgotten, and reported as lost.
        _ = broker.received(["B", "MDPW02", Frame([1]), "s"], now: Self.at(0.4))
        let left = broker.received(["B", "MDPW02", Frame([6])], now: Self.at(0.5))
        #expect(Self.sent(left).isEmpty && Self.events(left) == [.workerLost])
        #expect(broker.workers.isEmpty && broker.services["s"]?.waiting.isEmpty == true)
    }
}

@Suite("Majordomo", .serialized, .timeLimit(.minutes(2)))
struct MajordomoTests {
    static func fast(_ worker: MajordomoWorker) -> MajordomoWorker {
        var worker = worker
        worker.heartbeat = .milliseconds(100)
        worker.reconnectInterval = .milliseconds(100)
        worker.reconnectIntervalMax = .milliseconds(400)
        return worker
    }

    @Test("a setting that cannot work throws invalidOption naming it before anything starts")
    func settings() async throws {
        try await withContext { context in
            var broker = MajordomoBroker(endpoint: temporaryIPCEndpoint("mdp-settings"))
            broker.heartbeat = .zero
            await #expect(throws: ZMQError.invalidOption(name: "heartbeat", reason: "must be more than zero, not 0.0 seconds")) {
                try await broker.run(in: context)
            }
            var worker = MajordomoWorker(connectingTo: "inproc://nobody", service: "s")
            worker.liveness = 0
            do {
                try await worker.run(in: context) { $0 }
                Issue.record("a worker with no liveness ran")
            } catch let error as ZMQError {
                #expect(error.code == .invalidOption && error.description.contains("liveness"), "\(error)")
            }
            do {
                _ = try await FreelanceClient(context, servers: ["inproc://nobody"], pingInterval: .zero)
                Issue.record("a client that pings without pause was made")
            } catch let error as ZMQError {
                #expect(error.code == .invalidOption && error.description.contains("pingInterval"), "\(error)")
            }
        }
    }

    @Test("a request expires when requestExpiry says, not at the next heartbeat")
    func expiryBeforeHeartbeat() async throws {
        try await withContext { context in
            let endpoint = temporaryIPCEndpoint("mdp-expiry")
            var broker = MajordomoBroker(endpoint: endpoint)
            broker.heartbeat = .seconds(60)
            broker.requestExpiry = .milliseconds(100)
            let feed = EventFeed(of: MajordomoBrokerEvent.self)
            broker.onEvent = feed.handler
            let running = Task { try await broker.run(in: context) }
            defer { running.cancel() }
            let client = try context.socket(.dealer, options: [.linger(.zero)])
            try await client.connect(endpoint)
            let sent = ContinuousClock.now
            try await client.send(Message(MajordomoClientMessage.request(.v02, service: "nobody", body: ["hello"])))
            for await event in feed.stream where event.kind == .requestExpired { break }
            // Far sooner than the minute to the next heartbeat.
            #expect(ContinuousClock.now - sent < .seconds(30))
            client.close()
        }
    }

    @Test("clients of both versions reach workers of both versions through one broker, and MMI knows the services")
    func endToEnd() async throws {
        try await withContext { context in
            let endpoint = temporaryIPCEndpoint("mdp")
            var broker = MajordomoBroker(endpoint: endpoint)
            broker.heartbeat = .milliseconds(100)
            let log = EventLog(of: MajordomoBrokerEvent.self)
            broker.onEvent = log.handler
            let running = Task { try await broker.run(in: context) }
            defer { running.cancel() }
            var tasks: [Task<Void, any Error>] = []
            for version in MajordomoVersion.rfc {
                var worker = Self.fast(MajordomoWorker(connectingTo: endpoint, service: "echo"))
                worker.version = version
                tasks.append(Task { try await worker.run(in: context) { Message(["\(version.rawValue)"] + $0.frames) } })
            }
            defer { for task in tasks { task.cancel() } }
            // Both ready before the first request, or one could take them all.
            while log.count(.workerReady) < 2 { try await Task.sleep(for: .milliseconds(5)) }
            for version in MajordomoVersion.rfc {
                let client = MajordomoClient(context, connectingTo: endpoint, version: version, timeout: .seconds(2), attempts: 5)
                var servedBy: Set<String> = []
                for index in 0..<6 {
                    let reply = try await client.request(service: "echo", ["\(index)"])
                    #expect(reply.count == 2 && reply[1].string == "\(index)", "\(reply)")
                    servedBy.insert(reply[0].string ?? "")
                }
                #expect(servedBy == ["0.1", "0.2"], "both workers take turns")
                #expect(try await client.hasService("echo"))
                #expect(try await !client.hasService("nobody"))
                await client.close()
            }
        }
    }

    @Test("the asynchronous client has several requests in flight at once, each reply matched to its request")
    func inFlight() async throws {
        try await withContext { context in
            let endpoint = temporaryIPCEndpoint("mdp")
            let running = Task { try await MajordomoBroker(endpoint: endpoint).run(in: context) }
            defer { running.cancel() }
            // Each worker holds its request until four are being handled at once: only a client
            // with four in flight gets any answer.
            let gate = Gate(opensAt: 4)
            var tasks: [Task<Void, any Error>] = []
            for _ in 0..<4 {
                let worker = Self.fast(MajordomoWorker(connectingTo: endpoint, service: "gate"))
                tasks.append(Task { try await worker.run(in: context) { request in await gate.arrive(); return request } })
            }
            defer { for task in tasks { task.cancel() } }
            let client = MajordomoClient(context, connectingTo: endpoint, timeout: .seconds(20), attempts: 1, maxInFlight: 4)
            let replies = try await withThrowingTaskGroup(of: (Int, Message).self) { group in
                for index in 0..<8 { group.addTask { (index, try await client.request(service: "gate", ["\(index)"])) } }
                return try await group.reduce(into: [:]) { $0[$1.0] = $1.1 }
            }
            #expect(replies.count == 8)
            for (index, reply) in replies { #expect(reply == ["\(index)"]) }
            await client.close()
        }
    }

    @Test("a worker that stops says DISCONNECT: the broker forgets it at once, not after its liveness")
    func workerLeaves() async throws {
        try await withContext { context in
            let endpoint = temporaryIPCEndpoint("mdp")
            var broker = MajordomoBroker(endpoint: endpoint)
            broker.heartbeat = .seconds(30)
            let log = EventLog(of: MajordomoBrokerEvent.self)
            broker.onEvent = log.handler
            let running = Task { try await broker.run(in: context) }
            defer { running.cancel() }
            let serving = Task { try await MajordomoWorker(connectingTo: endpoint, service: "brief").run(in: context) { $0 } }
            let client = MajordomoClient(context, connectingTo: endpoint, timeout: .seconds(5))
            #expect(try await client.request(service: "brief", ["hi"]) == ["hi"])
            serving.cancel()
            try await serving.value
            while log.count(.workerLost) < 1 { try await Task.sleep(for: .milliseconds(5)) }
            #expect(try await !client.hasService("brief"))
            #expect(log.count(.workerExpired) == 0)
            await client.close()
        }
    }

    @Test("a request cancelled while waiting leaves nothing behind: the next request on the client gets its own reply, not the late one")
    func cancelledRequest() async throws {
        try await withContext { context in
            let endpoint = temporaryIPCEndpoint("mdp")
            let running = Task { try await MajordomoBroker(endpoint: endpoint).run(in: context) }
            defer { running.cancel() }
            let gate = Gate(opensAt: 2)
            let serving = Task {
                try await Self.fast(MajordomoWorker(connectingTo: endpoint, service: "s")).run(in: context) { request in
                    if request == ["first"] { await gate.arrive() }  // held until the test lets it go
                    return request
                }
            }
            defer { serving.cancel() }
            let client = MajordomoClient(context, connectingTo: endpoint, timeout: .seconds(20))
            while try await !client.hasService("s") { try await Task.sleep(for: .milliseconds(5)) }
            let first = Task { try await client.request(service: "s", ["first"]) }
            while await gate.waiting < 1 { try await Task.sleep(for: .milliseconds(5)) }
            first.cancel()
            await #expect(throws: ZMQError.self) { try await first.value }
            await gate.arrive()  // the worker answers "first" now, to a socket that is gone
            #expect(try await client.request(service: "s", ["second"]) == ["second"])
            await client.close()
        }
    }

    @Test("18/MDP partial replies stream to the client before the final one")
    func partials() async throws {
        try await withContext { context in
            let endpoint = temporaryIPCEndpoint("mdp")
            let running = Task { try await MajordomoBroker(endpoint: endpoint).run(in: context) }
            defer { running.cancel() }
            let worker = Self.fast(MajordomoWorker(connectingTo: endpoint, service: "count"))
            let serving = Task {
                try await worker.run(in: context) { request, partial in
                    for index in 0..<3 { try partial(["part \(index)"]) }
                    return ["done"]
                }
            }
            defer { serving.cancel() }
            let client = MajordomoClient(context, connectingTo: endpoint, timeout: .seconds(5))
            let (partials, final) = try await client.requestWithPartials(service: "count", ["go"])
            #expect(partials == [["part 0"], ["part 1"], ["part 2"]])
            #expect(final == ["done"])
            await client.close()
        }
    }

    @Test("a worker finds a restarted broker again, and a client's retried request is answered")
    func brokerRestart() async throws {
        try await withContext { context in
            let endpoint = temporaryIPCEndpoint("mdp")
            var broker = MajordomoBroker(endpoint: endpoint)
            broker.heartbeat = .milliseconds(100)
            let log = EventLog(of: WorkerEvent.self)
            var running = Task { try await broker.run(in: context) }
            var worker = Self.fast(MajordomoWorker(connectingTo: endpoint, service: "echo"))
            worker.onEvent = log.handler
            let serving = Task { try await worker.run(in: context) { $0 } }
            defer { serving.cancel() }
            let client = MajordomoClient(context, connectingTo: endpoint, timeout: .milliseconds(500), attempts: 20)
            let before = try await client.request(service: "echo", ["before"])
            #expect(before == ["before"])
            running.cancel()
            _ = await running.result
            running = Task { try await broker.run(in: context) }
            defer { running.cancel() }
            let after = try await client.request(service: "echo", ["after"])
            #expect(after == ["after"])
            #expect(log.count(.reconnecting) >= 1, "the worker dialled the new broker")
            await client.close()
        }
    }

    @Test("a broker pair: the active broker dies mid-run, worker and client move to the backup, which takes over, and every request is answered; the restarted primary stands by")
    func brokerPair() async throws {
        try await withContext { context in
            let (front1, front2, state1, state2) = (temporaryIPCEndpoint("mdp-1"), temporaryIPCEndpoint("mdp-2"), temporaryIPCEndpoint("mdp-s1"), temporaryIPCEndpoint("mdp-s2"))
            func broker(primary: Bool, feed: EventFeed<BinaryStarEvent>) -> MajordomoBroker {
                var broker = MajordomoBroker(endpoint: primary ? front1 : front2)
                broker.heartbeat = .milliseconds(100)
                var pairing = BinaryStarPairing(primary: primary, statePublisher: primary ? state1 : state2, stateSubscriber: primary ? state2 : state1)
                pairing.heartbeat = .milliseconds(100)
                broker.pair = pairing
                broker.onPairEvent = feed.handler
                return broker
            }
            let (primaryEvents, backupEvents) = (EventFeed(of: BinaryStarEvent.self), EventFeed(of: BinaryStarEvent.self))
            let (primaryBroker, backupBroker) = (broker(primary: true, feed: primaryEvents), broker(primary: false, feed: backupEvents))
            var primary = Task { try await primaryBroker.run(in: context) }
            let backup = Task { try await backupBroker.run(in: context) }
            defer { backup.cancel() }
            await primaryEvents.waitFor(.active)
            await backupEvents.waitFor(.passive)
            // The worker dials the backup first: sent away, it finds the active primary.
            let worker = Self.fast(MajordomoWorker(failingOverBetween: [front2, front1], service: "echo"))
            let serving = Task { try await worker.run(in: context) { $0 } }
            defer { serving.cancel() }
            let client = MajordomoClient.failingOver(between: [front1, front2], in: context, retry: RetryPolicy(timeout: .milliseconds(300), attempts: 40))
            for index in 0..<5 {
                let reply = try await client.request(service: "echo", ["\(index)"])
                #expect(reply == ["\(index)"])
            }
            primary.cancel()  // the active broker dies
            _ = await primary.result
            for index in 5..<10 {
                let reply = try await client.request(service: "echo", ["\(index)"])
                #expect(reply == ["\(index)"])
            }
            await backupEvents.waitFor(.active)
            let restartedEvents = EventFeed(of: BinaryStarEvent.self)
            let restarted = broker(primary: true, feed: restartedEvents)
            primary = Task { try await restarted.run(in: context) }
            defer { primary.cancel() }
            await restartedEvents.waitFor(.passive)
            let last = try await client.request(service: "echo", ["last"])
            #expect(last == ["last"])
            await client.close()
        }
    }
}


/// Lets its callers through once `opensAt` of them are waiting, and everyone after that.
actor Gate {
    private let opensAt: Int
    private var continuations: [CheckedContinuation<Void, Never>] = []
    private var open = false

    /// How many callers wait at the gate.
    var waiting: Int { continuations.count }

    init(opensAt: Int) { self.opensAt = opensAt }

    func arrive() async {
        if open { return }
        await withCheckedContinuation { continuation in
            continuations.append(continuation)
            if continuations.count == opensAt {
                open = true
                for waiter in continuations { waiter.resume() }
                continuations = []
            }
        }
    }
}
