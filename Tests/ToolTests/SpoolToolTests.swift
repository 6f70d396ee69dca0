import Foundation
import Testing
import ZMQ
import ZMQPatterns
import ZMQTestSupport

/// `zmq spool` killed (SIGKILL) and restarted, as an operator's machine would do it.
@Suite("zmq spool", .serialized, .timeLimit(.minutes(3)))
struct SpoolToolTests {
    typealias Running = ToolTests.Running

    static func directory() throws -> String {
        let path = NSTemporaryDirectory() + "zmq-tool-spool-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    /// A spool between endpoints in `folder`, keeping its store in `store` (the folder's SQLite file unless given).
    static func spool(_ folder: String, store: String? = nil) throws -> Running {
        try Running(["spool", "--input-type", "PULL", "--input-bind", "ipc://\(folder)/in", "--output-type", "PUSH",
                     "--output-connect", "ipc://\(folder)/out", "--store", store ?? "\(folder)/spool.sqlite"])
    }

    /// `zmq spool status` as a dictionary.
    static func status(_ folder: String, store: String? = nil) async throws -> [String: String] {
        let run = try await ToolTests.run(["spool", "status", "--store", store ?? "\(folder)/spool.sqlite"])
        return Dictionary(uniqueKeysWithValues: run.output.split(separator: "\n").compactMap { line in
            line.split(separator: ": ", maxSplits: 1).map(String.init).count == 2
                ? (String(line.split(separator: ": ")[0]), String(line.split(separator: ": ")[1])) : nil
        })
    }

    /// Waits until the store holds `count` messages.
    static func waitForQueued(_ count: Int, in folder: String, store: String? = nil, spool: Running? = nil) async throws {
        while try await status(folder, store: store)["queued"] != "\(count)" {
            if let spool, !spool.process.isRunning {
                let run = await spool.finish()
                Issue.record("the spool exited: \(run.errors)")
                return
            }
            try await Task.sleep(for: .milliseconds(50))
        }
    }

    @Test("spool status and titanic status read a store of either kind: the totals, then with --list one line per item; a missing file or a bad URL is a usage error", arguments: ["sqlite", "postgres"])
    func statusLists(backEnd: String) async throws {
        let folder = try Self.directory()
        func location(_ name: String) async throws -> String {
            guard backEnd == "postgres" else { return "\(folder)/\(name).sqlite" }
            let database = try await TestPostgres.freshDatabase(name)
            return TestPostgres.url(of: database)
        }
        let spoolAt = try await location("status_spool")
        let spool = try await spoolStore(at: StoreLocation(spoolAt))
        try await spool.append(["one", "three"])
        let spoolRun = try await ToolTests.run(["spool", "status", "--store", spoolAt, "--list"])
        let spoolLines = spoolRun.output.split(separator: "\n").map(String.init)
        #expect(spoolRun.status == 0 && spoolLines.count == 6, "\(spoolRun)")
        #expect(Array(spoolLines.prefix(3)) == ["queued: 2", "octets: 8", "handed-off: 0"])
        #expect(spoolLines[4].hasPrefix("1 octets=3 state=queued queued=20") && spoolLines[5].hasPrefix("2 octets=5 state=queued"), "\(spoolLines)")

        let titanicAt = try await location("status_titanic")
        let titanic = try await titanicStore(at: StoreLocation(titanicAt))
        try await titanic.store(TitanicRequest(id: "A1", service: "echo", body: ["x"]))
        try await titanic.store(TitanicRequest(id: "B2", service: "mmi.echo", body: ["y"]))
        try await titanic.recordAttempt(for: "B2")
        _ = try await titanic.storeReply(["done"], for: "A1")
        let titanicRun = try await ToolTests.run(["titanic", "status", "--store", titanicAt, "--list"])
        let titanicLines = titanicRun.output.split(separator: "\n").map(String.init)
        #expect(titanicRun.status == 0 && titanicLines.count == 6, "\(titanicRun)")
        #expect(Array(titanicLines.prefix(3)) == ["pending: 1", "answered: 1", "closed: 0"])
        #expect(titanicLines[3].hasPrefix("oldest-pending-seconds: "))
        #expect(titanicLines[4].hasPrefix("A1 service=echo state=answered attempts=0 stored=20"), "\(titanicLines)")
        #expect(titanicLines[5].hasPrefix("B2 service=mmi.echo state=pending attempts=1 stored=20"), "\(titanicLines)")

        let missing = try await ToolTests.run(["titanic", "status", "--store", "\(folder)/none.sqlite"])
        #expect(missing.status == 2 && missing.errors.contains("no such file"), "\(missing)")
        let badURL = try await ToolTests.run(["spool", "status", "--store", "postgres://u@h/d?sslmode=sometimes"])
        #expect(badURL.status == 2 && badURL.errors.contains("sslmode must be"), "\(badURL)")
    }

    @Test("messages spilled with no consumer survive a SIGKILL of the spool; after a restart a consumer that comes later gets them all, in order, none twice", arguments: ["sqlite", "postgres"])
    func survivesKill(backEnd: String) async throws {
        let folder = try Self.directory()
        var store: String?
        if backEnd == "postgres" {
            let database = try await TestPostgres.freshDatabase("spool_tool")
            store = TestPostgres.url(of: database)
        }
        let first = try Self.spool(folder, store: store)
        let context = ZMQContext()
        let producer = try context.socket(.push, options: [.linger(.after(.seconds(5)))])
        try await producer.connect("ipc://\(folder)/in")
        for number in 0..<2000 { try await producer.send(Message(Frame("\(number)"))) }
        try await Self.waitForQueued(2000, in: folder, store: store, spool: first)
        let status = try await Self.status(folder, store: store)
        #expect(status["octets"] == "\((0..<2000).reduce(0) { $0 + "\($1)".utf8.count })" && status["handed-off"] == "0")
        kill(first.process.processIdentifier, SIGKILL)
        _ = await first.finish()
        let second = try Self.spool(folder, store: store)
        let consumer = try context.socket(.pull)
        try await consumer.bind("ipc://\(folder)/out")
        var received: [String] = []
        for _ in 0..<2000 { received.append(try await consumer.receive()[0].string ?? "") }
        #expect(received == (0..<2000).map(String.init))
        try await Self.waitForQueued(0, in: folder, store: store, spool: second)
        #expect(try await Self.status(folder, store: store)["handed-off"] == "2000")
        second.process.terminate()
        #expect(await second.finish().status == 0)
        await context.shutdown()
    }

    @Test("killed (SIGKILL) three times while it drains twenty thousand messages to a consumer: what reaches the consumer is in order, nothing twice, and at most the output's queue and one batch is lost per kill")
    func killedWhileDraining() async throws {
        let total = 20_000
        let folder = try Self.directory()
        var spool = try Self.spool(folder)
        let context = ZMQContext()
        let producer = try context.socket(.push, options: [.linger(.after(.seconds(5))), .sendHighWaterMark(0)])
        try await producer.connect("ipc://\(folder)/in")
        for number in 0..<total { try await producer.send(Message(Frame("\(number)"))) }
        try await Self.waitForQueued(total, in: folder)
        let consumer = try context.socket(.pull, options: [.receiveHighWaterMark(50)])
        try await consumer.bind("ipc://\(folder)/out")
        var received: [Int] = []
        var kills = 0
        while true {
            // Once the last spool has drained, two quiet seconds end the run.
            if kills == 3 { try consumer.set(.receiveTimeout(.seconds(2))) }
            guard let message = try? await consumer.receive() else { break }
            received.append(Int(message[0].string ?? "") ?? -1)
            if kills < 3, received.count == (kills + 1) * 4000 {
                kill(spool.process.processIdentifier, SIGKILL)
                _ = await spool.finish()
                kills += 1
                spool = try Self.spool(folder)
            }
        }
        #expect(zip(received, received.dropFirst()).allSatisfy { $0 < $1 }, "in order, none twice")
        #expect(received.count >= total - 3 * (100 + 32) && received.last == total - 1, "\(total - received.count) lost")
        #expect(try await Self.status(folder)["queued"] == "0")
        spool.process.terminate()
        #expect(await spool.finish().status == 0)
        await context.shutdown()
    }

    @Test("usage errors exit 2 and say what is wrong", arguments: [
        (["spool", "--input-type", "PULL", "--input-bind", "ipc:///tmp/x", "--output-type", "PUSH", "--output-connect", "ipc:///tmp/y",
          "--store", "/tmp/s.sqlite", "--when-full", "sometimes"], "--when-full is block, drop-newest or drop-oldest"),
        (["spool", "--input-type", "PUSH", "--input-bind", "ipc:///tmp/x", "--output-type", "PUSH", "--output-connect", "ipc:///tmp/y",
          "--store", "/tmp/s.sqlite"], "the input must be a type that receives"),
        (["spool", "status", "--store", "/nonexistent/spool.sqlite"], "/nonexistent/spool.sqlite: no such file"),
    ])
    func usage(arguments: [String], message: String) async throws {
        let run = try await ToolTests.run(arguments)
        #expect(run.status == 2 && run.errors.contains(message), "\(run.errors)")
    }
}
