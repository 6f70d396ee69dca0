import Foundation
import GRDB
import Testing
import ZMQ
@testable import ZMQPatterns
import ZMQTestSupport

@Suite("Titanic stores")
struct TitanicStoreTests {
    /// The in-memory store, then each back end's.
    static func store(_ backEnd: StoreBackEnd?) async throws -> any TitanicStore {
        guard let backEnd else { return MemoryTitanicStore() }
        return try await titanicStore(at: backEnd.freshLocation("titanic_store"))
    }

    @Test("a request is pending until answered; the first reply stands; close forgets it", arguments: [nil] + StoreBackEnd.allCases)
    func lifecycle(backEnd: StoreBackEnd?) async throws {
        let store = try await Self.store(backEnd)
        let first = TitanicRequest(id: "A1", service: "echo", body: ["one", Frame([0, 255]), ""])
        let second = TitanicRequest(id: "B2", service: "echo", body: ["two"])
        try await store.store(first)
        try await store.store(second)
        #expect(try await store.pending() == [first, second])
        #expect(try await store.state(of: "A1") == .pending)
        #expect(try await store.storeReply(["first answer"], for: "A1"))
        #expect(try await !store.storeReply(["second answer"], for: "A1"), "a request is answered once")
        #expect(try await !store.storeReply(["stray"], for: "nobody"))
        #expect(try await store.state(of: "A1") == .answered(["first answer"]))
        #expect(try await store.pending() == [second])
        try await store.close("A1")
        try await store.close("never-known")
        #expect(try await store.state(of: "A1") == .unknown)
        #expect(try await store.pending() == [second])
    }

    @Test("for an operator: pending, answered and closed counts, the oldest pending request's time, and each request with its attempts", arguments: [nil] + StoreBackEnd.allCases)
    func summary(backEnd: StoreBackEnd?) async throws {
        let store = try await Self.store(backEnd)
        let before = Date()
        for id in ["A", "B", "C"] { try await store.store(TitanicRequest(id: id, service: "echo", body: [Frame(id)])) }
        try await store.recordAttempt(for: "A")
        try await store.recordAttempt(for: "B")
        try await store.recordAttempt(for: "B")
        _ = try await store.storeReply(["done"], for: "A")
        _ = try await store.storeReply(["done"], for: "C")
        try await store.close("C")
        let summary = try await store.summary()
        #expect(summary.pending == 1 && summary.answered == 1 && summary.closed == 1)
        let oldest = try #require(summary.oldestPending)
        #expect(oldest >= before.addingTimeInterval(-1) && oldest <= Date().addingTimeInterval(1))
        let items = try await store.items()
        #expect(items.map(\.id) == ["A", "B"] && items.map(\.answered) == [true, false] && items.map(\.attempts) == [1, 2])
        #expect(items.allSatisfy { $0.service == "echo" })
    }

    @Test("claims: a request held by one Titanic is left alone by the others until its lease runs out or it lets go; a Titanic restarted under its name takes its own back; renewing keeps them", arguments: [nil] + StoreBackEnd.allCases)
    func claims(backEnd: StoreBackEnd?) async throws {
        let store = try await Self.store(backEnd)
        func held(_ owner: String, for lease: Duration = .seconds(60)) -> TitanicClaim { TitanicClaim(owner: owner, lease: lease) }
        // A lease already over: no waiting on a clock in the test.
        let over = Duration.seconds(-1)
        try await store.store(TitanicRequest(id: "A", service: "s", body: ["a"]), claim: held("one"))
        try await store.store(TitanicRequest(id: "B", service: "s", body: ["b"]))
        try await store.store(TitanicRequest(id: "C", service: "s", body: ["c"]), claim: held("two", for: over))
        try await store.store(TitanicRequest(id: "D", service: "s", body: ["d"]), claim: held("five", for: over))
        try await store.renew(held("five"))
        #expect(try await store.claim(upTo: 10, for: held("three"), includingOwn: false).map(\.id) == ["B", "C"],
                "nobody's and an expired claim's, oldest first; A and D are held")
        for (id, owner, held) in [("B", "three", true), ("C", "three", true), ("A", "one", true), ("A", "three", false), ("C", "two", false)] {
            #expect(try await store.holds(id, for: owner) == held, "\(id) held by \(owner): \(held)")
        }
        #expect(try await store.claim(upTo: 10, for: held("one"), includingOwn: false).isEmpty)
        #expect(try await store.claim(upTo: 10, for: held("one"), includingOwn: true).map(\.id) == ["A"], "a restart under the same name")
        #expect(try await store.items().map(\.owner) == ["one", "three", "three", "five"])
        _ = try await store.storeReply(["done"], for: "B")
        #expect(try await !store.holds("B", for: "three"), "an answered request is nobody's to send")
        #expect(try await store.items().map(\.owner) == ["one", nil, "three", "five"])
        try await store.release("one")
        #expect(try await store.claim(upTo: 1, for: held("four"), includingOwn: false) == [TitanicRequest(id: "A", service: "s", body: ["a"])])
        #expect(try await store.claim(upTo: 10, for: held("four"), includingOwn: false).isEmpty, "C is held by three, D renewed by five")
    }

    @Test("claims on a shared store: four Titanics taking requests at once never take the same one", arguments: StoreBackEnd.allCases)
    func sharedClaims(backEnd: StoreBackEnd) async throws {
        let location = try await backEnd.freshLocation("titanic_shared")
        let first = try await titanicStore(at: location)
        for index in 0..<200 { try await first.store(TitanicRequest(id: "R\(index)", service: "s", body: [Frame("\(index)")])) }
        let taken = try await withThrowingTaskGroup(of: [[String]].self) { group in
            for taker in 0..<4 {
                group.addTask {
                    let store = try await titanicStore(at: location)
                    var batches: [[String]] = []
                    while true {
                        let batch = try await store.claim(upTo: 7, for: TitanicClaim(owner: "taker \(taker)", lease: .seconds(60)), includingOwn: false)
                        if batch.isEmpty { return batches }
                        batches.append(batch.map(\.id))
                    }
                }
            }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        let ids = taken.flatMap { $0.flatMap { $0 } }
        #expect(ids.count == 200 && Set(ids).count == 200, "each request taken once: \(ids.count) taken, \(Set(ids).count) distinct")
        for batches in taken {
            let numbers = batches.flatMap { $0 }.map { Int($0.dropFirst())! }
            #expect(numbers == numbers.sorted(), "each taker takes the oldest first")
        }
    }

    @Test("PostgreSQL: a table from before requests had holders is taken up as it is and gains the columns")
    func olderPostgres() async throws {
        let location = try await TestPostgres.freshDatabase("titanic_older")
        try await TestPostgres.execute("""
            CREATE TABLE titanic_request (sequence BIGSERIAL PRIMARY KEY, id TEXT NOT NULL UNIQUE, service TEXT NOT NULL, body BYTEA NOT NULL,
                                          reply BYTEA, stored DOUBLE PRECISION NOT NULL, attempts INTEGER NOT NULL DEFAULT 0)
            """, in: location)
        // One frame, "old": its length in 4 octets, then its octets.
        try await TestPostgres.execute("INSERT INTO titanic_request (id, service, body, stored) VALUES ('OLD', 'echo', decode('000000036f6c64', 'hex'), 0)", in: location)
        let store = try await PostgresTitanicStore(location)
        #expect(try await store.pending() == [TitanicRequest(id: "OLD", service: "echo", body: ["old"])])
        #expect(try await store.claim(upTo: 5, for: TitanicClaim(owner: "new", lease: .seconds(60)), includingOwn: false).map(\.id) == ["OLD"])
    }

    @Test("SQLite: requests and replies outlive the store, on a database in WAL mode with synchronous FULL")
    func reopened() async throws {
        let path = temporaryDatabase("titanic-reopen")
        do {
            let store = try SQLiteTitanicStore(path: path)
            #expect(try await store.durability() == SQLiteDurability(journalMode: "wal", synchronous: 2))
            try await store.store(TitanicRequest(id: "A", service: "s", body: ["a"]))
            try await store.store(TitanicRequest(id: "B", service: "s", body: ["b"]))
            _ = try await store.storeReply(["A done"], for: "A")
        }
        let store = try SQLiteTitanicStore(path: path)
        #expect(try await store.durability() == SQLiteDurability(journalMode: "wal", synchronous: 2), "set again on every opening")
        #expect(try await store.state(of: "A") == .answered(["A done"]))
        #expect(try await store.pending().map(\.id) == ["B"])
    }

    @Test("SQLite: a file from before requests kept their time and attempts is taken up as it is, its requests still pending")
    func olderFile() async throws {
        let path = temporaryDatabase("titanic-older")
        let queue = try DatabaseQueue(path: path)
        try await queue.write { db in
            try db.execute(sql: "CREATE TABLE titanic_request (sequence INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL UNIQUE, service TEXT NOT NULL, body BLOB NOT NULL, reply BLOB)")
            try db.execute(sql: "INSERT INTO titanic_request (id, service, body) VALUES ('OLD', 'echo', ?)", arguments: [FrameCoding.encode(["old"])])
        }
        let store = try SQLiteTitanicStore(path: path)
        #expect(try await store.pending() == [TitanicRequest(id: "OLD", service: "echo", body: ["old"])])
        try await store.recordAttempt(for: "OLD")
        #expect(try await store.items().map(\.attempts) == [1])
        #expect(try await store.summary().pending == 1)
    }

    @Test("PostgreSQL: requests and replies outlive the store; a second store on the database sees them")
    func reopenedPostgres() async throws {
        let location = try await TestPostgres.freshDatabase("titanic_reopen")
        do {
            let store = try await PostgresTitanicStore(location)
            try await store.store(TitanicRequest(id: "A", service: "s", body: ["a"]))
            try await store.store(TitanicRequest(id: "B", service: "s", body: ["b"]))
            _ = try await store.storeReply(["A done"], for: "A")
        }
        let store = try await PostgresTitanicStore(location)
        #expect(try await store.state(of: "A") == .answered(["A done"]))
        #expect(try await store.pending().map(\.id) == ["B"])
    }

    @Test("SQLite: stores opened on one new file at the same moment (a broker pair sharing Titanic) all open, none finds it locked")
    func openedTogether() async throws {
        for _ in 0..<20 {
            let path = temporaryDatabase("titanic-together")
            let opened = await withTaskGroup(of: String?.self) { group in
                for _ in 0..<4 {
                    group.addTask {
                        // Each on a thread of its own, so the openings really overlap.
                        await withCheckedContinuation { continuation in
                            Thread.detachNewThread {
                                do {
                                    _ = try SQLiteTitanicStore(path: path)
                                    continuation.resume(returning: nil)
                                } catch {
                                    continuation.resume(returning: "\(error)")
                                }
                            }
                        }
                    }
                }
                return await group.reduce(into: [String]()) { if let failure = $1 { $0.append(failure) } }
            }
            #expect(opened.isEmpty, "\(opened)")
        }
    }

    @Test("frames survive the blob encoding, empty and large ones too; a damaged blob decodes to nil")
    func coding() {
        let message: Message = ["", Frame([UInt8](repeating: 7, count: 70_000)), "x"]
        #expect(FrameCoding.decode(FrameCoding.encode(message)) == message)
        #expect(FrameCoding.decode(FrameCoding.encode([])) == [])
        #expect(FrameCoding.decode(Data([0, 0, 0, 9, 1])) == nil)
        #expect(FrameCoding.decode(Data([0, 0])) == nil)
    }
}

@Suite("Completed requests (idempotent workers)")
struct CompletedRequestsTests {
    @Test("work runs once per id, a repeat gets the recorded reply, and the record survives reopening")
    func once() async throws {
        let path = temporaryDatabase("completed")
        let runs = Tally()
        do {
            let completed = try CompletedRequests(path: path)
            #expect(try await completed.durability() == SQLiteDurability(journalMode: "wal", synchronous: 2))
            let work: (Message) async throws -> Message = { request in
                runs.add()
                return ["done \(request[1].string ?? "") #\(runs.value)"]
            }
            #expect(try await completed.handle(["rx-1", "aspirin"], by: work) == ["done aspirin #1"])
            #expect(try await completed.handle(["rx-1", "aspirin"], by: work) == ["done aspirin #1"])
            #expect(try await completed.handle(["rx-2", "insulin"], by: work) == ["done insulin #2"])
            #expect(runs.value == 2)
            await #expect(throws: ZMQError.self) { try await completed.handle([], by: work) }
        }
        let completed = try CompletedRequests(path: path)
        #expect(try await completed.count() == 2)
        #expect(try await completed.reply(for: "rx-1") == ["done aspirin #1"])
        #expect(try await completed.record(["other"], for: "rx-2") == ["done insulin #2"], "the first record stands")
    }
}

@Suite("Titanic", .serialized, .timeLimit(.minutes(1)))
struct TitanicTests {
    static func fast(_ titanic: Titanic) -> Titanic {
        var titanic = titanic
        titanic.heartbeat = .milliseconds(100)
        titanic.timeout = .seconds(1)
        titanic.retryInterval = .milliseconds(50)
        return titanic
    }

    static func broker(_ endpoint: String) -> MajordomoBroker {
        var broker = MajordomoBroker(endpoint: endpoint)
        broker.heartbeat = .milliseconds(100)
        return broker
    }

    /// A broker and a Titanic on a memory store, reporting to `log`; cancel the tasks to stop them.
    static func start(_ context: ZMQContext, log: EventLog<TitanicEvent>) -> (endpoint: String, tasks: [Task<Void, any Error>]) {
        let endpoint = temporaryIPCEndpoint("titanic")
        let broker = Task { try await Self.broker(endpoint).run(in: context) }
        var titanic = Self.fast(Titanic(broker: endpoint, store: MemoryTitanicStore()))
        titanic.onEvent = log.handler
        let configured = titanic
        return (endpoint, [broker, Task { try await configured.run(in: context) }])
    }

    /// The reply to `id`, asked for until it is there.
    static func awaitReply(_ client: TitanicClient, _ id: String) async throws -> Message {
        while true {
            if let reply = try await client.reply(to: id) { return reply }
            try await Task.sleep(for: .milliseconds(20))
        }
    }

    @Test("9/TSP: a request is stored and answered; the reply can be fetched again until closed, then the id is unknown")
    func requestReplyClose() async throws {
        try await withContext { context in
            let log = EventLog(of: TitanicEvent.self)
            let (endpoint, tasks) = Self.start(context, log: log)
            defer { for task in tasks { task.cancel() } }
            let worker = Task { try await MajordomoTests.fast(MajordomoWorker(connectingTo: endpoint, service: "echo")).run(in: context) { Message(["echo"] + $0.frames) } }
            defer { worker.cancel() }

            let client = TitanicClient(context, connectingTo: endpoint, timeout: .seconds(2), attempts: 10)
            let id = try await client.submit(service: "echo", ["hello", "world"])
            #expect(id.count == 32 && id.allSatisfy(\.isHexDigit), "9/TSP: 32 hexadecimal digits")
            let reply = try await Self.awaitReply(client, id)
            #expect(reply == ["echo", "hello", "world"])
            #expect(try await client.reply(to: id) == reply, "titanic.reply does not delete")
            try await client.close(id)
            try await client.close(id)  // idempotent: 200 for an unknown id
            let unknown = await #expect(throws: ZMQError.self) { try await client.reply(to: id) }
            #expect(unknown?.code == .unknownRequest, "400 after close")
            #expect(try await client.request(service: "echo", ["again"]) == ["echo", "again"])
            #expect(log.count(.requestStored) == 2 && log.count(.replyStored) == 2)
            await client.closeSockets()
        }
    }

    @Test("a request for a service with no worker stays pending, and is answered once a worker comes")
    func waitsForWorker() async throws {
        try await withContext { context in
            let log = EventLog(of: TitanicEvent.self)
            let (endpoint, tasks) = Self.start(context, log: log)
            defer { for task in tasks { task.cancel() } }
            let client = TitanicClient(context, connectingTo: endpoint, timeout: .seconds(2), attempts: 10)
            let id = try await client.submit(service: "late", ["x"])
            #expect(try await client.reply(to: id) == nil, "300 while pending")
            #expect(log.count(.requestForwarded) == 0, "nothing is sent to a service the broker has no worker for")
            let worker = Task { try await MajordomoTests.fast(MajordomoWorker(connectingTo: endpoint, service: "late")).run(in: context) { $0 } }
            defer { worker.cancel() }
            #expect(try await Self.awaitReply(client, id) == ["x"])
            await client.closeSockets()
        }
    }

    @Test("a service slower than Titanic's timeout still gets its reply stored: the request is sent again on the same socket, and the late reply counts")
    func slowService() async throws {
        try await withContext { context in
            let endpoint = temporaryIPCEndpoint("titanic")
            let broker = Task { try await Self.broker(endpoint).run(in: context) }
            defer { broker.cancel() }
            var titanic = Self.fast(Titanic(broker: endpoint, store: MemoryTitanicStore()))
            titanic.timeout = .milliseconds(100)
            let running = Task { try await titanic.run(in: context) }
            defer { running.cancel() }
            let runs = Tally()
            let worker = Task {
                try await MajordomoTests.fast(MajordomoWorker(connectingTo: endpoint, service: "slow")).run(in: context) { request in
                    runs.add()
                    try await Task.sleep(for: .milliseconds(250))  // the work itself: longer than the timeout
                    return request
                }
            }
            defer { worker.cancel() }
            let client = TitanicClient(context, connectingTo: endpoint, timeout: .seconds(2), attempts: 10)
            let reply = try await client.request(service: "slow", ["x"], pollInterval: .milliseconds(20))
            #expect(reply == ["x"])
            #expect(runs.value <= 2, "sent at most twice before the first reply: \(runs.value) runs")
            await client.closeSockets()
        }
    }

    @Test("Titanic takes at most maxPending unanswered requests: beyond, titanic.request answers 500 until some are answered")
    func pendingBound() async throws {
        try await withContext { context in
            let endpoint = temporaryIPCEndpoint("titanic")
            let broker = Task { try await Self.broker(endpoint).run(in: context) }
            defer { broker.cancel() }
            var titanic = Self.fast(Titanic(broker: endpoint, store: MemoryTitanicStore()))
            titanic.maxPending = 2
            let running = Task { try await titanic.run(in: context) }
            defer { running.cancel() }
            let client = TitanicClient(context, connectingTo: endpoint, timeout: .seconds(2), attempts: 10)
            let first = try await client.submit(service: "later", ["1"])
            _ = try await client.submit(service: "later", ["2"])
            let refused = await #expect(throws: ZMQError.self) { try await client.submit(service: "later", ["3"]) }
            #expect(refused?.code == .serviceFailed)
            let worker = Task { try await MajordomoTests.fast(MajordomoWorker(connectingTo: endpoint, service: "later")).run(in: context) { $0 } }
            defer { worker.cancel() }
            #expect(try await Self.awaitReply(client, first) == ["1"])
            // Answered requests make room (once both are, for certain).
            var third: String?
            while third == nil {
                third = try? await client.submit(service: "later", ["3"])
                if third == nil { try await Task.sleep(for: .milliseconds(20)) }
            }
            #expect(try await Self.awaitReply(client, third!) == ["3"])
            await client.closeSockets()
        }
    }

    @Test("requests waiting for the same service share one 8/MMI question per interval")
    func oneQuestionPerService() async throws {
        try await withContext { context in
            // A stand-in broker that answers mmi.service with 404 and counts the questions.
            let router = try context.socket(.router)
            let endpoint = try await router.bind("tcp://127.0.0.1:*")
            let questions = Tally()
            let answering = Task {
                while true {
                    let message = try await router.receive()
                    questions.add()
                    try await router.send(Message([message[0], "MDPC02", Frame([3]), "mmi.service", "404"]))
                }
            }
            defer { answering.cancel() }
            let client = MajordomoClient(context, connectingTo: endpoint, timeout: .seconds(5), attempts: 1, maxInFlight: 8)
            let services = ServiceAvailability(client: client, freshFor: .seconds(60), alwaysAvailable: false)
            let answers = await withTaskGroup(of: Bool.self) { group in
                for _ in 0..<50 { group.addTask { await services.isAvailable("absent") } }
                return await group.reduce(into: []) { $0.append($1) }
            }
            #expect(answers == Array(repeating: false, count: 50))
            #expect(await services.isAvailable("absent") == false)
            #expect(questions.value == 1)
            await client.close()
            router.close()
        }
    }

    @Test("Titanics sharing a store: one stops holding requests a worker never answered, another takes them up and each reaches the service once", arguments: [nil] + StoreBackEnd.allCases)
    func sharedStore(backEnd: StoreBackEnd?) async throws {
        try await withContext { context in
            let endpoint = temporaryIPCEndpoint("titanic")
            let broker = Task { try await Self.broker(endpoint).run(in: context) }
            defer { broker.cancel() }
            let store = try await TitanicStoreTests.store(backEnd)
            func titanic(_ name: String, log: EventLog<TitanicEvent>) -> Task<Void, any Error> {
                var titanic = Self.fast(Titanic(broker: endpoint, store: store))
                titanic.name = name
                titanic.lease = .milliseconds(300)
                titanic.onEvent = log.handler
                let configured = titanic
                return Task { try await configured.run(in: context) }
            }
            let client = TitanicClient(context, connectingTo: endpoint, timeout: .seconds(2), attempts: 10)
            let firstLog = EventLog(of: TitanicEvent.self)
            let first = titanic("first", log: firstLog)
            var ids: [String] = []
            for index in 0..<6 { ids.append(try await client.submit(service: "later", [Frame("job \(index)")])) }
            #expect(try await store.items().map(\.owner) == Array(repeating: "first", count: 6), "stored held by the Titanic that took them")
            let secondLog = EventLog(of: TitanicEvent.self)
            let second = titanic("second", log: secondLog)
            defer { second.cancel() }
            first.cancel()
            _ = await first.result
            let runs = Tally()
            let worker = Task {
                try await MajordomoTests.fast(MajordomoWorker(connectingTo: endpoint, service: "later")).run(in: context) { request in
                    runs.add()
                    return request
                }
            }
            defer { worker.cancel() }
            for (index, id) in ids.enumerated() {
                #expect(try await Self.awaitReply(client, id) == [Frame("job \(index)")])
            }
            #expect(runs.value == 6, "each request reached the service once: \(runs.value) runs")
            #expect(secondLog.count(.requestTakenUp) == 6)
            await client.closeSockets()
        }
    }

    @Test("stopped and started again on the same SQLite file, Titanic dispatches what was left pending")
    func restart() async throws {
        try await withContext { context in
            let endpoint = temporaryIPCEndpoint("titanic")
            let path = temporaryDatabase("titanic-restart")
            let broker = Task { try await Self.broker(endpoint).run(in: context) }
            defer { broker.cancel() }
            let client = TitanicClient(context, connectingTo: endpoint, timeout: .seconds(2), attempts: 10)
            var ids: [String] = []
            do {
                let first = Task { try await Self.fast(Titanic(broker: endpoint, store: try SQLiteTitanicStore(path: path))).run(in: context) }
                for index in 0..<5 { ids.append(try await client.submit(service: "upper", ["request \(index)"])) }
                first.cancel()
                _ = await first.result
            }
            let worker = Task {
                try await MajordomoTests.fast(MajordomoWorker(connectingTo: endpoint, service: "upper")).run(in: context) {
                    Message($0.frames.map { Frame(($0.string ?? "").uppercased()) })
                }
            }
            defer { worker.cancel() }
            let second = Task { try await Self.fast(Titanic(broker: endpoint, store: try SQLiteTitanicStore(path: path))).run(in: context) }
            defer { second.cancel() }
            for (index, id) in ids.enumerated() {
                #expect(try await Self.awaitReply(client, id) == ["REQUEST \(index)"])
            }
            await client.closeSockets()
        }
    }
}
