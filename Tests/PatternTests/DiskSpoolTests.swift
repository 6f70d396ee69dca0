import Foundation
import GRDB
import MetricsTestKit
import Testing
import ZMQ
@testable import ZMQPatterns
import ZMQTestSupport

@Suite("Disk spool", .timeLimit(.minutes(1)))
struct DiskSpoolTests {
    @Test("the store: appended in order, taken oldest first, counted", arguments: StoreBackEnd.allCases)
    func store(backEnd: StoreBackEnd) async throws {
        let store = try await spoolStore(at: backEnd.freshLocation("spool-store"))
        try await store.append(["one", ["two", Frame([0, 255])], "three"])
        let backlog = try await store.backlog()
        #expect(backlog.messages == 3 && backlog.octets == 13 && backlog.handedOff == 0 && backlog.oldest != nil)
        #expect(try await store.takeOldest(2) == ["one", ["two", Frame([0, 255])]])
        try await store.append(["four"])
        #expect(try await store.takeOldest(10) == ["three", "four"])
        #expect(try await store.backlog() == SpoolBacklog(messages: 0, octets: 0, oldest: nil, handedOff: 4))
    }

    @Test("SQLite: WAL with synchronous FULL")
    func sqliteDurability() async throws {
        let store = try SQLiteSpoolStore(path: temporaryDatabase("spool-store"))
        #expect(try await store.durability() == SQLiteDurability(journalMode: "wal", synchronous: 2))
    }

    @Test("PostgreSQL: spools sharing one database never take the same message, and together take them all")
    func sharedPostgres() async throws {
        let location = try await TestPostgres.freshDatabase("spool_shared")
        let writer = try await PostgresSpoolStore(location)
        let all = Self.numbers(0..<600)
        for start in stride(from: 0, to: 600, by: 50) { try await writer.append(Array(all[start..<start + 50])) }
        let takers = try await withThrowingTaskGroup(of: [Message].self) { group in
            for _ in 0..<4 {
                let store = try await PostgresSpoolStore(location)
                group.addTask {
                    var taken: [Message] = []
                    while case let batch = try await store.takeOldest(7), !batch.isEmpty { taken += batch }
                    return taken
                }
            }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        let taken = takers.flatMap { $0 }
        #expect(taken.count == 600)
        #expect(Set(taken.map { $0[0].string ?? "" }) == Set(all.map { $0[0].string ?? "" }), "each message taken once")
        for part in takers {
            let numbers = part.compactMap { $0[0].string.flatMap(Int.init) }
            #expect(numbers == numbers.sorted(), "each taker gets its messages oldest first")
        }
        #expect(try await writer.backlog().handedOff == 600)
    }

    @Test("another program's SQLite database, or a file that is not SQLite, is refused and left as it was")
    func foreignStores() throws {
        let foreign = temporaryDatabase("foreign")
        let queue = try DatabaseQueue(path: foreign)
        try queue.write { try $0.execute(sql: "CREATE TABLE invoices (id INTEGER PRIMARY KEY, total REAL); INSERT INTO invoices VALUES (1, 9.5)") }
        let error = #expect(throws: ZMQError.self) { try SQLiteSpoolStore(path: foreign) }
        #expect(error?.code == .invalidFile && error?.message.contains("another program's database (tables invoices)") == true, "\(String(describing: error))")
        let (journal, tables) = try queue.read { db in
            (try String.fetchOne(db, sql: "PRAGMA journal_mode"), try String.fetchAll(db, sql: "SELECT name FROM sqlite_master WHERE type = 'table'"))
        }
        #expect(journal == "delete" && tables == ["invoices"], "not turned to WAL, no table added")
        let text = temporaryDatabase("not-sqlite")
        let content = Data("just some notes, not a database\n".utf8) + Data(repeating: 65, count: 200)
        try content.write(to: URL(fileURLWithPath: text))
        #expect(#expect(throws: ZMQError.self) { try SQLiteSpoolStore(path: text) }?.code == .invalidFile)
        #expect(try Data(contentsOf: URL(fileURLWithPath: text)) == content)
    }

    /// A spool from a PUSH the test sends with to a PULL endpoint nobody has bound yet.
    static func spool(_ context: ZMQContext, whenFull: DiskSpool.WhenFull = .block, maxMessages: Int = 1_000_000, maxOctets: Int = 1 << 30,
                      backEnd: StoreBackEnd = .sqlite, feed: EventFeed<DiskSpoolEvent>) async throws -> (producer: ZMQSocket, consumerEndpoint: String, running: Task<Void, any Error>) {
        let (input, output) = (temporaryIPCEndpoint("spool-in"), temporaryIPCEndpoint("spool-out"))
        var spool = DiskSpool(input: SocketPlan(.pull, bind: [input]), output: SocketPlan(.push, connect: [output]),
                              store: try await spoolStore(at: backEnd.freshLocation("spool")))
        spool.whenFull = whenFull
        spool.maxMessages = maxMessages
        spool.maxOctets = maxOctets
        spool.onEvent = feed.handler
        let running = Task { try await spool.run(in: context) }
        let producer = try context.socket(.push, options: [.sendHighWaterMark(0)])
        try await producer.connect(input)
        return (producer, output, running)
    }

    static func numbers(_ range: Range<Int>) -> [Message] { range.map { Message(Frame("\($0)")) } }

    @Test("with no consumer every message goes to disk; a consumer that comes later gets them all, in order, and the spool goes straight through again", arguments: StoreBackEnd.allCases)
    func spillAndDrain(backEnd: StoreBackEnd) async throws {
        try await withContext { context in
            let feed = EventFeed<DiskSpoolEvent>()
            let (producer, endpoint, running) = try await Self.spool(context, backEnd: backEnd, feed: feed)
            for message in Self.numbers(0..<500) { try await producer.send(message) }
            var events = feed.stream.makeAsyncIterator()
            #expect(await events.next()?.kind == .spillStarted)
            let consumer = try context.socket(.pull)
            try await consumer.bind(endpoint)
            var received: [Message] = []
            for _ in 0..<500 { received.append(try await consumer.receive()) }
            #expect(received == Self.numbers(0..<500))
            while let event = await events.next(), event.kind != .spillStopped {}
            try await producer.send("after")
            #expect(try await consumer.receive() == "after")
            running.cancel()
            _ = await running.result
        }
    }

    @Test("the backlog is a pair of gauges: zmq_spool_messages and zmq_spool_octets, named, up while spilling and back to 0 once drained")
    func gauges() async throws {
        try await withContext { context in
            let metrics = TestMetrics()
            let (input, output) = (temporaryIPCEndpoint("gauge-in"), temporaryIPCEndpoint("gauge-out"))
            var spool = DiskSpool(input: SocketPlan(.pull, bind: [input]), output: SocketPlan(.push, connect: [output]),
                                  store: try SQLiteSpoolStore(path: temporaryDatabase("spool-gauges")))
            spool.name = "orders"
            spool.metrics = metrics
            let running = Task { try await spool.run(in: context) }
            let producer = try context.socket(.push, options: [.sendHighWaterMark(0)])
            try await producer.connect(input)
            for message in Self.numbers(0..<100) { try await producer.send(message) }
            let dimensions = [("name", "orders")]
            func last(_ label: String) -> Double? {
                (try? metrics.expectGauge(label, dimensions))?.lastValue
            }
            while last("zmq_spool_messages") != 100 { try await Task.sleep(for: .milliseconds(5)) }
            #expect(last("zmq_spool_octets") == Double(Self.numbers(0..<100).reduce(0) { $0 + $1.byteCount }))
            let consumer = try context.socket(.pull)
            try await consumer.bind(output)
            for _ in 0..<100 { _ = try await consumer.receive() }
            while last("zmq_spool_messages") != 0 { try await Task.sleep(for: .milliseconds(5)) }
            #expect(last("zmq_spool_octets") == 0)
            running.cancel()
            _ = await running.result
        }
    }

    @Test("a store whose disk fills stops the input and says so, keeps the batch it refused, and once the consumer drains the disk takes the rest: every message arrives, in order")
    func diskFull() async throws {
        try await withContext { context in
            let store = try SQLiteSpoolStore(path: temporaryDatabase("spool-full"))
            try await store.limitPages(try await store.pageCount() + 16)  // 64 KiB more, as a nearly full disk
            let (input, output) = (temporaryIPCEndpoint("full-in"), temporaryIPCEndpoint("full-out"))
            var spool = DiskSpool(input: SocketPlan(.pull, bind: [input]), output: SocketPlan(.push, connect: [output]), store: store)
            let feed = EventFeed<DiskSpoolEvent>()
            spool.onEvent = feed.handler
            let running = Task { try await spool.run(in: context) }
            let producer = try context.socket(.push, options: [.sendHighWaterMark(0)])
            try await producer.connect(input)
            let all = (0..<400).map { Message([Frame("\($0)"), Frame([UInt8](repeating: 7, count: 1000))]) }
            for message in all { try await producer.send(message) }
            var events = feed.stream.makeAsyncIterator()
            #expect(await events.next()?.kind == .spillStarted)
            let full = await events.next()
            #expect(full?.kind == .storeFull && full?.reason?.contains("disk is full") == true, "\(String(describing: full))")
            let consumer = try context.socket(.pull)
            try await consumer.bind(output)
            var received: [Message] = []
            for _ in 0..<400 { received.append(try await consumer.receive()) }
            #expect(received == all)
            var kinds: [DiskSpoolEvent.Kind] = []
            while let event = await events.next() {
                kinds.append(event.kind)
                if event.kind == .spillStopped { break }
            }
            #expect(kinds.contains(.inputResumed), "\(kinds)")
            running.cancel()
            _ = await running.result
        }
    }

    @Test("at the maximum, of messages or of octets: drop-newest keeps the first, drop-oldest the last, each drop counted; block stops reading and resumes with room, losing none", arguments: [
        DiskSpool.WhenFull.dropNewest, .dropOldest, .block,
    ], ["messages", "octets"])
    func atTheMaximum(policy: DiskSpool.WhenFull, limit: String) async throws {
        try await withContext { context in
            let feed = EventFeed<DiskSpoolEvent>()
            // Thirty messages of 4 octets; the store holds ten, by count or by size.
            let (producer, endpoint, running) = try await Self.spool(context, whenFull: policy, maxMessages: limit == "messages" ? 10 : 1_000_000,
                                                                     maxOctets: limit == "octets" ? 40 : 1 << 30, feed: feed)
            func numbers(_ range: Range<Int>) -> [Message] { range.map { Message(Frame(String(1000 + $0))) } }
            for message in numbers(0..<30) { try await producer.send(message) }
            var dropped = 0
            for await event in feed.stream {
                if event.kind == .dropped { dropped += event.count ?? 0 }
                if policy == .block ? event.kind == .inputBlocked : dropped == 20 { break }
            }
            let consumer = try context.socket(.pull)
            try await consumer.bind(endpoint)
            let expected = policy == .dropNewest ? numbers(0..<10) : policy == .dropOldest ? numbers(20..<30) : numbers(0..<30)
            var received: [Message] = []
            for _ in expected { received.append(try await consumer.receive()) }
            #expect(received == expected)
            running.cancel()
            _ = await running.result
        }
    }
}
