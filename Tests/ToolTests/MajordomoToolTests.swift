import Foundation
import Testing
import ZMQ
import ZMQPatterns
import ZMQTestSupport

/// `zmq broker`, `zmq titanic`, `zmq worker` and `zmq request`, run as a user would run them.
@Suite("zmq Majordomo and Titanic commands", .serialized, .timeLimit(.minutes(3)))
struct MajordomoToolTests {
    typealias Running = ToolTests.Running

    static func directory() throws -> String {
        let path = NSTemporaryDirectory() + "zmq-tool-mdp-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    /// Asks until the broker says `service` has a worker (8/MMI), so that requests after it are served.
    static func waitForService(_ service: String, at endpoint: String) async throws {
        while try await ToolTests.run(["request", "--connect", endpoint, "--service", "mmi.service", "--timeout", "5", service]).output != "200\n" {
            try await Task.sleep(for: .milliseconds(20))
        }
    }

    /// SIGTERM (or SIGINT), and the process's end.
    static func stop(_ running: Running, interrupt: Bool = false) async -> ToolTests.Run {
        if interrupt { running.process.interrupt() } else { running.process.terminate() }
        return await running.finish()
    }

    @Test("broker, an --echo worker of each version and an --exec worker: request prints partials and the reply, of either version; SIGINT or SIGTERM ends each with status 0")
    func brokerWorkerRequest() async throws {
        let endpoint = temporaryIPCEndpoint()
        let broker = try Running(["broker", "--bind", endpoint, "--heartbeat", "0.2"])
        let echo = try Running(["worker", "--connect", endpoint, "--service", "echo", "--mdp", "0.1", "--echo", "--heartbeat", "0.2"])
        let upper = try Running(["worker", "--connect", endpoint, "--service", "upper", "--heartbeat", "0.2",
                                 "--exec", "tr a-z A-Z; echo 0xff00"])
        try await Self.waitForService("echo", at: endpoint)
        try await Self.waitForService("upper", at: endpoint)
        for version in ["0.1", "0.2"] {
            let echoed = try await ToolTests.run(["request", "--connect", endpoint, "--service", "echo", "--mdp", version, "--timeout", "10", "hello", "0x0001"])
            #expect(echoed.status == 0, "\(echoed.errors)")
            #expect(echoed.output == "hello\t0x0001\n")
            let upper = try await ToolTests.run(["request", "--connect", endpoint, "--service", "upper", "--mdp", version, "--timeout", "10", "one", "two"])
            #expect(upper.output == "ONE\tTWO\t0xff00\n", "frames in as lines, lines out as frames")
        }
        // A command that prints a line which is not valid hex, and exits without reading: the
        // line is text, and the worker goes on serving.
        let odd = try Running(["worker", "--connect", endpoint, "--service", "odd", "--heartbeat", "0.2", "--exec", "echo 0xabc; exit 0"])
        try await Self.waitForService("odd", at: endpoint)
        for _ in 0..<2 {
            let reply = try await ToolTests.run(["request", "--connect", endpoint, "--service", "odd", "--timeout", "10", "input"])
            #expect(reply.output == "0x3078616263\n", "the text 0xabc, printed as hex since it starts with 0x")
        }
        #expect(await Self.stop(odd).status == 0)
        let unknown = try await ToolTests.run(["request", "--connect", endpoint, "--service", "mmi.service", "nobody"])
        #expect(unknown.output == "404\n")
        // A worker that streams (here a library one): each PARTIAL on a line of its own first.
        let context = ZMQContext()
        var streaming = MajordomoWorker(connectingTo: endpoint, service: "stream")
        streaming.heartbeat = .milliseconds(200)
        let serving = Task {
            try await streaming.run(in: context) { request, partial in
                try partial(["first"])
                try partial(["second"])
                return Message(["done"] + request.frames)
            }
        }
        try await Self.waitForService("stream", at: endpoint)
        let streamed = try await ToolTests.run(["request", "--connect", endpoint, "--service", "stream", "--timeout", "10", "go"])
        #expect(streamed.output == "first\nsecond\ndone\tgo\n")
        serving.cancel()
        try await serving.value
        await context.shutdown()
        for (running, interrupt) in [(echo, true), (upper, false), (broker, true)] {
            let run = await Self.stop(running, interrupt: interrupt)
            #expect(run.status == 0, "\(run.errors)")
        }
    }

    @Test("request exits 1 after its retries when no worker answers, and says so; bad arguments are usage errors")
    func requestGivesUp() async throws {
        let endpoint = temporaryIPCEndpoint()
        let run = try await ToolTests.run(["request", "--connect", endpoint, "--service", "echo", "--timeout", "0.1", "--retries", "2", "anyone?"])
        #expect(run.status == 1)
        #expect(run.output.isEmpty)
        #expect(run.errors.contains("no reply from echo after 2 attempts"), "\(run.errors)")
        let both = try await ToolTests.run(["worker", "--connect", endpoint, "--service", "x", "--echo", "--exec", "cat"])
        #expect(both.status == 2 && both.errors.contains("exactly one of --echo or --exec"), "\(both.errors)")
        let version = try await ToolTests.run(["request", "--connect", endpoint, "--service", "x", "--mdp", "0.3"])
        #expect(version.status == 2 && version.errors.contains("--mdp must be 0.1, 0.2 or majortomo"), "\(version.errors)")
    }

    @Test("worker --once runs the command once per request id and answers a repeat from its record, across restarts; a failed run is not recorded")
    func once() async throws {
        let folder = try Self.directory()
        let endpoint = "ipc://\(folder)/broker.sock"
        let runs = "\(folder)/runs"
        let broker = try Running(["broker", "--bind", endpoint, "--heartbeat", "0.2"])
        let arguments = ["worker", "--connect", endpoint, "--service", "once", "--heartbeat", "0.2", "--once", "\(folder)/once.sqlite",
                         "--exec", "read id; echo \"$id\" >> \(runs); [ \"$id\" != fail ] || exit 3; echo \"done $id\"; wc -l < \(runs)"]
        var worker = try Running(arguments)
        try await Self.waitForService("once", at: endpoint)
        let ask: (String) async throws -> String = { id in
            try await ToolTests.run(["request", "--connect", endpoint, "--service", "once", "--timeout", "10", id, "body"]).output
        }
        #expect(try await ask("a") == "done a\t1\n")
        #expect(try await ask("a") == "done a\t1\n", "the recorded reply; the command did not run")
        #expect(try await ask("b") == "done b\t2\n")
        #expect(try await ask("fail").isEmpty == false)
        #expect(try await ask("fail").isEmpty == false)
        #expect(await Self.stop(worker).status == 0)
        worker = try Running(arguments)
        try await Self.waitForService("once", at: endpoint)
        #expect(try await ask("a") == "done a\t1\n", "the record survives a restart")
        #expect(try String(contentsOfFile: runs, encoding: .utf8) == "a\nb\nfail\nfail\n")
        let completed = try CompletedRequests(path: "\(folder)/once.sqlite")
        #expect(try await completed.count() == 2)
        _ = await Self.stop(worker)
        _ = await Self.stop(broker)
    }

    @Test("broker --titanic: a request through titanic.request is answered by a worker and fetched from titanic.reply")
    func brokerWithTitanic() async throws {
        let folder = try Self.directory()
        let endpoint = "ipc://\(folder)/broker.sock"
        let broker = try Running(["broker", "--bind", endpoint, "--heartbeat", "0.2", "--titanic", "\(folder)/titanic.sqlite"])
        let worker = try Running(["worker", "--connect", endpoint, "--service", "echo", "--echo", "--heartbeat", "0.2"])
        try await Self.waitForService("titanic.request", at: endpoint)
        let stored = try await ToolTests.run(["request", "--connect", endpoint, "--service", "titanic.request", "--timeout", "10", "echo", "hi"])
        let fields = stored.output.dropLast().split(separator: "\t")
        #expect(fields.count == 2 && fields[0] == "200" && fields[1].count == 32, "\(stored.output)")
        let id = String(fields.last ?? "")
        var reply = ""
        repeat {
            reply = try await ToolTests.run(["request", "--connect", endpoint, "--service", "titanic.reply", "--timeout", "10", id]).output
            try await Task.sleep(for: .milliseconds(20))
        } while reply == "300\n"
        #expect(reply == "200\thi\n")
        #expect(try await ToolTests.run(["request", "--connect", endpoint, "--service", "titanic.close", id]).output == "200\n")
        #expect(try await ToolTests.run(["request", "--connect", endpoint, "--service", "titanic.reply", id]).output == "400\n")
        #expect(await Self.stop(worker).status == 0)
        #expect(await Self.stop(broker).status == 0)
    }

    @Test("broker --primary/--backup with Titanic on one store (an SQLite file, or one PostgreSQL database): the active broker killed (SIGKILL) mid-run, the worker and every retried request move to the backup, whose Titanic answers what the primary stored; the restarted primary stands by", arguments: ["sqlite", "postgres"])
    func brokerPair(backEnd: String) async throws {
        let folder = try Self.directory()
        let (front1, front2) = ("ipc://\(folder)/front1.sock", "ipc://\(folder)/front2.sock")
        let (state1, state2) = ("ipc://\(folder)/state1.sock", "ipc://\(folder)/state2.sock")
        var database = "\(folder)/titanic.sqlite"
        if backEnd == "postgres" {
            let server = try await TestPostgres.freshDatabase("titanic_pair")
            database = TestPostgres.url(of: server)
        }
        func broker(_ role: String, bind: String, stateBind: String, stateConnect: String) throws -> (Running, BinaryStarToolTests.Lines) {
            let running = try Running(["broker", "--bind", bind, "--heartbeat", "0.2", role, "--state-bind", stateBind,
                                       "--state-connect", stateConnect, "--state-heartbeat", "0.1", "--titanic", database])
            return (running, BinaryStarToolTests.Lines(running.errors.fileHandleForReading))
        }
        func ask(_ service: String, _ frames: String...) async throws -> ToolTests.Run {
            try await ToolTests.run(["request", "--connect", front1, "--connect", front2, "--service", service,
                                     "--timeout", "0.5", "--retries", "40"] + frames)
        }
        var (primary, primaryLines) = try broker("--primary", bind: front1, stateBind: state1, stateConnect: state2)
        let (backup, backupLines) = try broker("--backup", bind: front2, stateBind: state2, stateConnect: state1)
        #expect(await primaryLines.waitFor("binary-star: ACTIVE").suffix(2) == ["binary-star: PRIMARY", "binary-star: ACTIVE"])
        #expect(await backupLines.waitFor("binary-star: PASSIVE").suffix(2) == ["binary-star: BACKUP", "binary-star: PASSIVE"])
        let echo = try Running(["worker", "--connect", front1, "--connect", front2, "--service", "echo", "--echo", "--heartbeat", "0.2"])
        let one = try await ask("echo", "one")
        #expect(one.status == 0 && one.output == "one\n", "\(one.errors)")
        // Stored by the primary's Titanic, for a service with no worker yet.
        let stored = try await ask("titanic.request", "late", "x")
        let fields = stored.output.dropLast().split(separator: "\t")
        #expect(fields.count == 2 && fields[0] == "200", "\(stored.output) \(stored.errors)")
        let id = String(fields.last ?? "")

        kill(primary.process.processIdentifier, SIGKILL)
        _ = await primary.finish()
        let two = try await ask("echo", "two")
        #expect(two.status == 0 && two.output == "two\n", "\(two.errors)")
        #expect(await backupLines.waitFor("binary-star: ACTIVE").last == "binary-star: ACTIVE")
        let late = try Running(["worker", "--connect", front1, "--connect", front2, "--service", "late", "--echo", "--heartbeat", "0.2"])
        var reply = ""
        repeat {
            reply = try await ask("titanic.reply", id).output
            try await Task.sleep(for: .milliseconds(20))
        } while reply == "300\n"
        #expect(reply == "200\tx\n", "the backup's Titanic took up the request the primary's stored")

        (primary, primaryLines) = try broker("--primary", bind: front1, stateBind: state1, stateConnect: state2)
        #expect(await primaryLines.waitFor("binary-star: PASSIVE").suffix(2) == ["binary-star: PRIMARY", "binary-star: PASSIVE"])
        let three = try await ask("echo", "three")
        #expect(three.status == 0 && three.output == "three\n", "\(three.errors)")
        for running in [late, echo, primary, backup] {
            let run = await Self.stop(running)
            #expect(run.status == 0, "\(run.errors)")
        }
    }

    @Test("across hosts: a Titanic broker pair on two test hosts sharing one PostgreSQL on a third; the active one killed (SIGKILL) with requests acknowledged and not yet answered, the survivor answers each exactly once")
    func brokerPairAcrossHosts() async throws {
        let lan = try TestLAN()
        defer { lan.tearDown() }
        let folder = try Self.directory()
        let server = try await TestPostgres.freshDatabase("titanic_hosts")
        let store = TestPostgres.url(of: server, host: lan.local)
        let (frontA, frontB) = ("tcp://\(lan.hostA):5555", "tcp://\(lan.hostB):5555")
        func broker(_ role: String, host: String, peer: String, namespace: String) throws -> (Running, BinaryStarToolTests.Lines) {
            let running = try Running(["broker", "--bind", "tcp://\(host):5555", "--heartbeat", "0.2", role,
                                       "--state-bind", "tcp://\(host):5556", "--state-connect", "tcp://\(peer):5556",
                                       "--state-heartbeat", "0.1", "--titanic", store], namespace: namespace)
            return (running, BinaryStarToolTests.Lines(running.errors.fileHandleForReading))
        }
        func ask(_ service: String, _ frames: String...) async throws -> ToolTests.Run {
            try await ToolTests.run(["request", "--connect", frontA, "--connect", frontB, "--service", service,
                                     "--timeout", "0.5", "--retries", "40"] + frames)
        }
        let (primary, primaryLines) = try broker("--primary", host: lan.hostA, peer: lan.hostB, namespace: lan.namespaceA)
        let (backup, backupLines) = try broker("--backup", host: lan.hostB, peer: lan.hostA, namespace: lan.namespaceB)
        #expect(await primaryLines.waitFor("binary-star: ACTIVE").last == "binary-star: ACTIVE")
        #expect(await backupLines.waitFor("binary-star: PASSIVE").last == "binary-star: PASSIVE")
        // Acknowledged by the primary's Titanic (on host A), for a service with no worker yet.
        var ids: [String] = []
        for index in 0..<8 {
            let stored = try await ask("titanic.request", "late", "job \(index)")
            let fields = stored.output.dropLast().split(separator: "\t")
            #expect(fields.count == 2 && fields[0] == "200", "\(stored.output) \(stored.errors)")
            ids.append(String(fields.last ?? ""))
        }
        kill(primary.process.processIdentifier, SIGKILL)
        _ = await primary.finish()
        // A client's request is the vote that makes the backup active (on host B): pending there too.
        #expect(try await ask("titanic.reply", ids[0]).output == "300\n")
        #expect(await backupLines.waitFor("binary-star: ACTIVE").last == "binary-star: ACTIVE")
        // The worker keeps a line per request it handles.
        let log = "\(folder)/handled.log"
        let worker = try Running(["worker", "--connect", frontA, "--connect", frontB, "--service", "late",
                                  "--heartbeat", "0.2", "--exec", "tee -a \(log)"])
        for (index, id) in ids.enumerated() {
            var reply = ""
            repeat {
                reply = try await ask("titanic.reply", id).output
                if reply == "300\n" { try await Task.sleep(for: .milliseconds(20)) }
            } while reply == "300\n"
            #expect(reply == "200\tjob \(index)\n", "request \(index): \(reply)")
            #expect(try await ask("titanic.close", id).output == "200\n")
        }
        let handled = try String(contentsOfFile: log, encoding: .utf8).split(separator: "\n").map(String.init)
        #expect(handled.sorted() == (0..<8).map { "job \($0)" }.sorted(), "each request reached the service exactly once")
        let status = try await ToolTests.run(["titanic", "status", "--store", store])
        #expect(status.output.hasPrefix("pending: 0\nanswered: 0\nclosed: 8\n"), "\(status)")
        for running in [worker, backup] {
            let run = await Self.stop(running)
            #expect(run.status == 0, "\(run.errors)")
        }
    }

    @Test("zmq titanic as a process of its own: started before any worker, it keeps the request until one comes; SIGTERM ends it with status 0, and a restart on the same file still answers")
    func titanicProcess() async throws {
        let folder = try Self.directory()
        let endpoint = "ipc://\(folder)/broker.sock"
        let broker = try Running(["broker", "--bind", endpoint, "--heartbeat", "0.2"])
        let database = "\(folder)/titanic.sqlite"
        var titanic = try Running(["titanic", "--connect", endpoint, "--database", database, "--heartbeat", "0.2"])
        try await Self.waitForService("titanic.request", at: endpoint)
        let stored = try await ToolTests.run(["request", "--connect", endpoint, "--service", "titanic.request", "--timeout", "10", "late", "x"])
        let id = String(stored.output.dropLast().split(separator: "\t").last ?? "")
        #expect(try await ToolTests.run(["request", "--connect", endpoint, "--service", "titanic.reply", "--timeout", "10", id]).output == "300\n")
        let stopped = await Self.stop(titanic)
        #expect(stopped.status == 0, "\(stopped.errors)")
        let worker = try Running(["worker", "--connect", endpoint, "--service", "late", "--echo", "--heartbeat", "0.2"])
        titanic = try Running(["titanic", "--connect", endpoint, "--database", database, "--heartbeat", "0.2"])
        try await Self.waitForService("titanic.reply", at: endpoint)
        var reply = ""
        repeat {
            reply = try await ToolTests.run(["request", "--connect", endpoint, "--service", "titanic.reply", "--timeout", "10", id]).output
            try await Task.sleep(for: .milliseconds(20))
        } while reply == "300\n"
        #expect(reply == "200\tx\n")
        for running in [titanic, worker, broker] { #expect(await Self.stop(running).status == 0) }
    }

    @Test("two zmq titanic processes sharing one PostgreSQL store: requests spread over both; one killed (SIGKILL) with requests unanswered, the other takes them up when its lease runs out, and each reaches the service exactly once")
    func sharedTitanics() async throws {
        let folder = try Self.directory()
        let endpoint = "ipc://\(folder)/broker.sock"
        let store = TestPostgres.url(of: try await TestPostgres.freshDatabase("titanic_shared"))
        let broker = try Running(["broker", "--bind", endpoint, "--heartbeat", "0.2"])
        func titanic(_ name: String) throws -> Running {
            try Running(["titanic", "--connect", endpoint, "--database", store, "--heartbeat", "0.2", "--name", name, "--lease", "1"])
        }
        let first = try titanic("first")
        let second = try titanic("second")
        func ask(_ service: String, _ frames: String...) async throws -> String {
            try await ToolTests.run(["request", "--connect", endpoint, "--service", service, "--timeout", "10"] + frames).output
        }
        try await Self.waitForService("titanic.request", at: endpoint)
        // The broker hands titanic.request to each Titanic in turn once both are ready.
        var ids: [String] = []
        var holders: Set<Substring> = []
        while ids.count < 40 && holders.count < 2 || ids.count < 8 {
            let fields = try await ask("titanic.request", "late", "job \(ids.count)").dropLast().split(separator: "\t")
            #expect(fields.count == 2 && fields[0] == "200", "\(fields)")
            ids.append(String(fields.last ?? ""))
            let list = try await ToolTests.run(["titanic", "status", "--store", store, "--list"]).output
            holders = Set(list.split(separator: "\n").compactMap { $0.split(separator: " ").last { $0.hasPrefix("held-by=") } })
        }
        #expect(holders == ["held-by=first", "held-by=second"], "the requests spread over both Titanics")
        kill(first.process.processIdentifier, SIGKILL)
        _ = await first.finish()
        let log = "\(folder)/handled.log"
        let worker = try Running(["worker", "--connect", endpoint, "--service", "late", "--heartbeat", "0.2", "--exec", "tee -a \(log)"])
        for (index, id) in ids.enumerated() {
            var reply = ""
            repeat {
                reply = try await ask("titanic.reply", id)
                if reply == "300\n" { try await Task.sleep(for: .milliseconds(20)) }
            } while reply == "300\n"
            #expect(reply == "200\tjob \(index)\n", "request \(index): \(reply)")
        }
        let handled = try String(contentsOfFile: log, encoding: .utf8).split(separator: "\n").map(String.init)
        #expect(handled.sorted() == ids.indices.map { "job \($0)" }.sorted(), "each request reached the service exactly once")
        let status = try await ToolTests.run(["titanic", "status", "--store", store])
        #expect(status.output.hasPrefix("pending: 0\nanswered: \(ids.count)\n"), "\(status)")
        for running in [worker, second, broker] {
            let run = await Self.stop(running)
            #expect(run.status == 0, "\(run.errors)")
        }
    }

    @Test("demo prescriptions: SIGINT or SIGTERM mid-run stops the broker, Titanic and the worker and exits 1, saying so", arguments: [SIGINT, SIGTERM])
    func prescriptionsInterrupted(signal: Int32) async throws {
        let demo = try Running(["demo", "prescriptions", "--count", "100000", "--kills", "0"])
        let lines = BinaryStarToolTests.Lines(demo.output.fileHandleForReading)
        // Said once the children are started, with the signals caught.
        #expect(await lines.next()?.hasPrefix("Prescriptions: 100000 through Titanic to a pharmacy worker, 0 kills") == true)
        let children = CloneToolTests.children(of: demo.process.processIdentifier)
        #expect(children.count == 2, "the broker and Titanic (the worker starts at half-way)")
        kill(demo.process.processIdentifier, signal)
        #expect(await lines.rest().last == "Interrupted: the broker, Titanic and the worker stopped")
        #expect(await demo.finish().status == 1)
        for child in children {
            #expect(kill(child, 0) == -1 && errno == ESRCH, "child \(child) is still running")
        }
    }

    @Test("prescriptions, exactly once: the broker, Titanic and the worker killed (SIGKILL) and restarted with hundreds of requests in flight; every acknowledged request is answered once, and each prescription recorded once")
    func prescriptions() async throws {
        let folder = try Self.directory()
        let count = 500
        let run = try await ToolTests.run(["demo", "prescriptions", "--count", "\(count)", "--kills", "10", "--doctors", "8", "--directory", folder])
        #expect(run.status == 0, "\(run.output)\n\(run.errors)")
        #expect(run.output.contains("every id answered: "), "\(run.output)")
        #expect(run.output.contains("prescriptions recorded by the pharmacy: \(count) (each once)"), "\(run.output)")
        // Checked here too, from the files the processes left.
        let completed = try CompletedRequests(path: "\(folder)/pharmacy.sqlite")
        #expect(try await completed.count() == count)
        for number in 0..<count {
            let reply = try await completed.reply(for: Frame("rx-\(number)"))
            #expect(reply == ["dispensed", Frame("rx-\(number)"), Frame("drug \(number)")])
        }
        #expect(try await SQLiteTitanicStore(path: "\(folder)/titanic.sqlite").pending().isEmpty, "nothing left pending")
        let runs = try String(contentsOfFile: "\(folder)/runs.log", encoding: .utf8).split(separator: "\n")
        #expect(Set(runs).count == count)
        #expect(runs.count <= count + 10, "at most one run repeated per kill: \(runs.count) runs")
    }
}
