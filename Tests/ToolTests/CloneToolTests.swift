import Foundation
import Testing
import ZMQ
import ZMQPatterns
import ZMQTestSupport

/// `zmq clone-server` and `zmq clone get|set|watch`, run as a user would run them.
@Suite("zmq clone", .serialized, .timeLimit(.minutes(2)))
struct CloneToolTests {
    typealias Running = ToolTests.Running
    typealias Lines = BinaryStarToolTests.Lines

    static func directory() throws -> String {
        let path = NSTemporaryDirectory() + "zmq-tool-clone-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    /// The map `key=value` lines leave, replayed in order (`key=` deletes).
    static func replay(_ lines: [String]) -> [String: String] {
        var map: [String: String] = [:]
        for line in lines {
            guard let equals = line.firstIndex(of: "=") else { continue }
            let value = String(line[line.index(after: equals)...])
            map[String(line[..<equals])] = value.isEmpty ? nil : value
        }
        return map
    }

    @Test("set, get and watch against one server: get prints key=value in key order, watch prints the snapshot then each change, a ttl deletes; SIGTERM ends the server with 0")
    func oneServer() async throws {
        let endpoint = "ipc://\(try Self.directory())/clone"
        let server = try Running(["clone-server", "--bind", endpoint, "--heartbeat", "0.1"])
        #expect(try await ToolTests.run(["clone", "set", "--connect", endpoint, "/b", "two"]).status == 0)
        #expect(try await ToolTests.run(["clone", "set", "--connect", endpoint, "/a", "0x00ff"]).status == 0)
        let watcher = try Running(["clone", "watch", "--connect", endpoint, "--count", "3"])
        let lines = Lines(watcher.output.fileHandleForReading)
        #expect(await lines.waitFor("/b=two") == ["/a=0x00ff", "/b=two"], "the snapshot, in key order")
        let set = try await ToolTests.run(["clone", "set", "--connect", endpoint, "--ttl", "0.3", "/session", "alive"])
        #expect(set.status == 0, "\(set.errors)")
        #expect(try await ToolTests.run(["clone", "set", "--connect", endpoint, "/b", ""]).status == 0, "an empty value deletes")
        #expect(await lines.rest().sorted() == ["/b=", "/session=", "/session=alive"], "three lines after the snapshot, then it exits")
        #expect(await watcher.finish().status == 0)
        let got = try await ToolTests.run(["clone", "get", "--connect", endpoint])
        #expect(got.status == 0 && got.output == "/a=0x00ff\n")
        #expect(try await ToolTests.run(["clone", "get", "--connect", endpoint, "--subtree", "/b"]).output == "")
        server.process.terminate()
        #expect(await server.finish().status == 0)
        let nobody = try await ToolTests.run(["clone", "set", "--connect", endpoint, "--timeout", "0.3", "/k", "v"])
        #expect(nobody.status == 1 && nobody.errors.contains("no Clone server published /k within"), "\(nobody.errors)")
        let silent = try await ToolTests.run(["clone", "get", "--connect", endpoint, "--timeout", "0.3"])
        #expect(silent.status == 1 && silent.errors.contains("no server sent its snapshot"), "\(silent.errors)")
    }

    @Test("clone-server --store: killed (SIGKILL) and restarted on the same store (an SQLite file or a PostgreSQL database), it serves the same map and its sequence goes on", arguments: ["sqlite", "postgres"])
    func storeSurvivesKill(backEnd: String) async throws {
        let folder = try Self.directory()
        let endpoint = "ipc://\(folder)/clone"
        let store = backEnd == "postgres" ? TestPostgres.url(of: try await TestPostgres.freshDatabase("clone_kill")) : "\(folder)/clone.sqlite"
        let arguments = ["clone-server", "--bind", endpoint, "--heartbeat", "0.1", "--store", store]
        let first = try Running(arguments)
        for (key, value) in [("/x", "1"), ("/y", "2"), ("/x", "3")] {
            #expect(try await ToolTests.run(["clone", "set", "--connect", endpoint, key, value]).status == 0)
        }
        kill(first.process.processIdentifier, SIGKILL)
        _ = await first.finish()
        let second = try Running(arguments)
        #expect(try await ToolTests.run(["clone", "get", "--connect", endpoint]).output == "/x=3\n/y=2\n")
        let watcher = try Running(["clone", "watch", "--connect", endpoint, "--count", "1"])
        let lines = Lines(watcher.output.fileHandleForReading)
        #expect(await lines.waitFor("/y=2") == ["/x=3", "/y=2"])
        // A client reads the sequence: a server that started again from 0 would give its
        // updates numbers that clients already hold, and they would drop them.
        let context = ZMQContext()
        let follower = try await CloneClient(context, servers: [try CloneEndpoints(endpoint)])
        try await follower.waitUntilSynchronized()
        #expect(follower.sequence == 3, "the snapshot is at the third update, as before the kill")
        var changes = follower.changes().makeAsyncIterator()
        #expect(try await ToolTests.run(["clone", "set", "--connect", endpoint, "/z", "4"]).status == 0)
        #expect(await lines.rest() == ["/z=4"])
        #expect(await watcher.finish().status == 0)
        #expect(await changes.next() == CloneChange(key: "/z", value: "4", sequence: 4))
        await follower.close()
        await context.shutdown()
        second.process.terminate()
        #expect(await second.finish().status == 0)
        let unusable = try await ToolTests.run(["clone-server", "--bind", endpoint, "--store", "\(folder)/no/such/dir/x.sqlite"])
        #expect(unusable.status == 2 && unusable.errors.contains("cannot use \(folder)/no/such/dir/x.sqlite for the map"), "\(unusable.errors)")
    }

    @Test("demo clone: clients write through a Binary Star pair of Clone servers, the primary is killed, every client converges")
    func demo() async throws {
        let run = try await ToolTests.run(["demo", "clone", "--clients", "3", "--updates", "30"])
        #expect(run.status == 0, "\(run.output)\(run.errors)")
        #expect(run.output.contains("killing the primary (SIGKILL)"))
        #expect(run.output.contains("PASS  every client converged: 31 keys, the backup's map at sequence 91"), "\(run.output)")
    }

    @Test("demo clone: SIGINT or SIGTERM mid-run stops both clone-server children and exits 1, saying so", arguments: [SIGINT, SIGTERM])
    func demoInterrupted(signal: Int32) async throws {
        let demo = try Running(["demo", "clone", "--clients", "2", "--updates", "100000"])
        let lines = Lines(demo.output.fileHandleForReading)
        // Said once both servers are started, with the signals caught.
        #expect(await lines.waitFor("Clone: 2 clients, 100000 updates each, through a primary and a backup server; the primary killed mid-run").count == 1)
        let children = Self.children(of: demo.process.processIdentifier)
        #expect(children.count == 2, "the primary and the backup")
        kill(demo.process.processIdentifier, signal)
        #expect(await lines.rest() == ["Interrupted: both servers stopped"])
        #expect(await demo.finish().status == 1)
        for child in children {
            #expect(kill(child, 0) == -1 && errno == ESRCH, "clone-server \(child) is still running")
        }
    }

    /// The processes whose parent is `pid`.
    static func children(of pid: pid_t) -> [pid_t] {
        let pgrep = Process()
        let output = Pipe()
        pgrep.executableURL = URL(fileURLWithPath: "/usr/bin/pgrep")
        pgrep.arguments = ["-P", "\(pid)"]
        pgrep.standardOutput = output
        guard (try? pgrep.run()) != nil else { return [] }
        let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        pgrep.waitUntilExit()
        return text.split(separator: "\n").compactMap { pid_t($0) }
    }

    @Test("get and set interrupted (SIGINT) before a server answers exit 1 and say so; watch and clone-server exit 0 on SIGINT")
    func interrupted() async throws {
        let folder = try Self.directory()
        let silent = try CloneEndpoints("ipc://\(folder)/silent")
        let context = ZMQContext()
        // A server's publisher that never publishes: a client waits for its first message
        // before it asks for a snapshot. Verbose, to hear each client's subscription to everything.
        let publisher = try context.socket(.xpub, options: [.linger(.zero), .xpubVerbose(true)])
        try await publisher.bind(silent.publisher)
        for (command, said) in [(["get"], "zmq clone get: interrupted before a server sent its snapshot"),
                                (["set", "/k", "v"], "zmq clone set: interrupted before a server published /k")] {
            let running = try Running(["clone"] + command + ["--connect", silent.snapshot])
            // Its subscription shows the client running, so with the signals caught.
            while try await publisher.receive() != [Frame([1])] {}
            running.process.interrupt()
            let run = await running.finish()
            #expect(run.status == 1 && run.errors.contains(said), "\(run.errors)")
        }
        await context.shutdown()

        let endpoint = "ipc://\(folder)/clone"
        let server = try Running(["clone-server", "--bind", endpoint, "--heartbeat", "0.1"])
        #expect(try await ToolTests.run(["clone", "set", "--connect", endpoint, "/a", "1"]).status == 0)
        let watcher = try Running(["clone", "watch", "--connect", endpoint])
        #expect(await Lines(watcher.output.fileHandleForReading).waitFor("/a=1") == ["/a=1"])
        watcher.process.interrupt()
        #expect(await watcher.finish().status == 0)
        server.process.interrupt()
        #expect(await server.finish().status == 0)
    }

    @Test("usage errors exit 2 and say what is wrong", arguments: [
        (["clone", "set", "--connect", "ipc:///tmp/x", "HUGZ", "v"], "'HUGZ' cannot be a key"),
        (["clone", "get"], "give --connect ENDPOINT"),
        (["clone", "get", "--connect", "udp://host:5556"], "--connect udp://host:5556: "),
        (["clone-server", "--bind", "tcp://*:5556", "--peer", "tcp://b:5566"], "--peer is for a Binary Star pair"),
        (["clone-server", "--bind", "tcp://*:5556", "--primary", "--state-bind", "tcp://*:5003", "--state-connect", "tcp://b:5004"], "a pair needs it"),
        (["clone", "set", "--connect", "ipc:///tmp/x", "--ttl", "0", "k", "v"], "--ttl must be"),
    ])
    func usage(arguments: [String], message: String) async throws {
        let run = try await ToolTests.run(arguments)
        #expect(run.status == 2 && run.errors.contains(message), "\(run.errors)")
    }

    /// The endpoints of a clone-server pair in `folder`: each server's snapshot endpoint.
    struct Pair {
        let folder: String
        var first: String { "ipc://\(folder)/first" }
        var second: String { "ipc://\(folder)/second" }

        /// Starts the primary (on `first`) or the backup (on `second`); its standard error, where it says its states.
        func start(primary: Bool) throws -> (Running, Lines) {
            let (bind, peer) = primary ? (first, second) : (second, first)
            let (stateBind, stateConnect) = primary ? ("state1", "state2") : ("state2", "state1")
            let running = try Running(["clone-server", "--bind", bind, "--heartbeat", "0.1", primary ? "--primary" : "--backup",
                                       "--state-bind", "ipc://\(folder)/\(stateBind)", "--state-connect", "ipc://\(folder)/\(stateConnect)",
                                       "--state-heartbeat", "0.1", "--peer", peer])
            return (running, Lines(running.errors.fileHandleForReading))
        }
    }

    @Test("a clone-server pair: the active server killed (SIGKILL) while several clients write; every write lands, and each watcher's output replays to the survivor's map")
    func pairKilled() async throws {
        let pair = Pair(folder: try Self.directory())
        let (first, second) = (pair.first, pair.second)
        let (primary, primaryLines) = try pair.start(primary: true)
        let (backup, backupLines) = try pair.start(primary: false)
        #expect(await primaryLines.waitFor("binary-star: ACTIVE").last == "binary-star: ACTIVE")
        #expect(await backupLines.waitFor("binary-star: PASSIVE").last == "binary-star: PASSIVE")
        let both = ["--connect", first, "--connect", second, "--server-timeout", "0.5"]
        let watchers = try (0..<2).map { _ in try Running(["clone", "watch"] + both) }
        let watcherLines = watchers.map { Lines($0.output.fileHandleForReading) }
        try await withThrowingTaskGroup(of: Void.self) { group in
            for writer in 0..<3 {
                group.addTask {
                    for round in 0..<12 {
                        let set = try await ToolTests.run(["clone", "set"] + both + ["/w\(writer)/\(round % 4)", "\(round)"])
                        #expect(set.status == 0, "\(set.errors)")
                        if writer == 0, round == 4 {
                            kill(primary.process.processIdentifier, SIGKILL)
                            _ = await primary.finish()
                        }
                    }
                }
            }
            try await group.waitForAll()
        }
        #expect(await backupLines.waitFor("binary-star: ACTIVE").last == "binary-star: ACTIVE")
        #expect(try await ToolTests.run(["clone", "set"] + both + ["/done", "yes"]).status == 0)
        let survivor = try await ToolTests.run(["clone", "get", "--connect", second])
        let expected = Self.replay(survivor.output.split(separator: "\n").map(String.init))
        #expect(expected.count == 13 && expected["/w2/3"] == "11", "\(expected)")
        for (watcher, lines) in zip(watchers, watcherLines) {
            let seen = await lines.waitFor("/done=yes")
            #expect(Self.replay(seen) == expected)
            watcher.process.terminate()
            #expect(await watcher.finish().status == 0)
        }
        backup.process.terminate()
        #expect(await backup.finish().status == 0)
    }
    @Test("get with --connect given twice asks whichever server is active: the primary, then the backup once the primary is dead, and still the backup once the primary is back and passive")
    func getFromPair() async throws {
        let pair = Pair(folder: try Self.directory())
        let both = ["--connect", pair.first, "--connect", pair.second, "--server-timeout", "0.5"]
        var (primary, primaryLines) = try pair.start(primary: true)
        let (backup, backupLines) = try pair.start(primary: false)
        #expect(await primaryLines.waitFor("binary-star: ACTIVE").last == "binary-star: ACTIVE")
        #expect(await backupLines.waitFor("binary-star: PASSIVE").last == "binary-star: PASSIVE")
        #expect(try await ToolTests.run(["clone", "set"] + both + ["/a", "1"]).status == 0)
        #expect(try await ToolTests.run(["clone", "get"] + both).output == "/a=1\n")

        kill(primary.process.processIdentifier, SIGKILL)
        _ = await primary.finish()
        // The primary is silent: get turns to the backup, and its request is the vote that makes it active.
        let fromBackup = try await ToolTests.run(["clone", "get"] + both)
        #expect(fromBackup.status == 0 && fromBackup.output == "/a=1\n", "\(fromBackup.errors)")
        #expect(await backupLines.waitFor("binary-star: ACTIVE").last == "binary-star: ACTIVE")

        (primary, primaryLines) = try pair.start(primary: true)
        #expect(await primaryLines.waitFor("binary-star: PASSIVE").last == "binary-star: PASSIVE")
        #expect(try await ToolTests.run(["clone", "set"] + both + ["/b", "2"]).status == 0)
        // The passive primary answers no snapshot request: get moves on to the active backup.
        let passiveFirst = try await ToolTests.run(["clone", "get"] + both)
        #expect(passiveFirst.status == 0 && passiveFirst.output == "/a=1\n/b=2\n", "\(passiveFirst.errors)")
        for server in [primary, backup] {
            server.process.terminate()
            #expect(await server.finish().status == 0)
        }
    }

    @Test("watch on a pair learns from the new server's snapshot what changed while it was away: after the fail-over it prints key= for a key deleted meanwhile and key=value for one set")
    func watchDiffAfterFailOver() async throws {
        let pair = Pair(folder: try Self.directory())
        let both = ["--connect", pair.first, "--connect", pair.second, "--server-timeout", "0.5"]
        let (primary, primaryLines) = try pair.start(primary: true)
        let (backup, backupLines) = try pair.start(primary: false)
        #expect(await primaryLines.waitFor("binary-star: ACTIVE").last == "binary-star: ACTIVE")
        #expect(await backupLines.waitFor("binary-star: PASSIVE").last == "binary-star: PASSIVE")
        for (key, value) in [("/gone", "1"), ("/keep", "1")] {
            #expect(try await ToolTests.run(["clone", "set"] + both + [key, value]).status == 0)
        }
        let watcher = try Running(["clone", "watch"] + both + ["--count", "2"])
        let lines = Lines(watcher.output.fileHandleForReading)
        #expect(await lines.waitFor("/keep=1") == ["/gone=1", "/keep=1"])
        // Stopped, the watcher is connected to no publisher but the primary's while the primary
        // dies and the backup publishes the changes: it can only learn them from the backup's snapshot.
        kill(watcher.process.processIdentifier, SIGSTOP)
        kill(primary.process.processIdentifier, SIGKILL)
        _ = await primary.finish()
        for (key, value) in [("/gone", ""), ("/new", "1")] {
            #expect(try await ToolTests.run(["clone", "set", "--connect", pair.second, "--server-timeout", "0.5", key, value]).status == 0)
        }
        #expect(await backupLines.waitFor("binary-star: ACTIVE").last == "binary-star: ACTIVE")
        kill(watcher.process.processIdentifier, SIGCONT)
        #expect(await lines.rest() == ["/gone=", "/new=1"], "the deletion first, then what was set")
        #expect(await watcher.finish().status == 0)
        backup.process.terminate()
        #expect(await backup.finish().status == 0)
    }
}

/// `zmq send --stamp` and `zmq recv --max-lag` (the Suicidal Snail), and `zmq lvc`.
@Suite("zmq slow subscribers and last value cache", .serialized, .timeLimit(.minutes(1)))
struct ReliablePubSubToolTests {
    typealias Running = ToolTests.Running

    @Test("send --stamp adds the sending time as a last frame of 8 octets that a LagGuard accepts")
    func sendStamps() async throws {
        let context = ZMQContext()
        let subscriber = try context.socket(.sub, options: [.linger(.zero)])
        try subscriber.subscribe()
        let endpoint = try await subscriber.bind("tcp://127.0.0.1:*")
        let running = try Running(["send", "--type", "PUB", "--connect", endpoint, "--stamp"])
        // Fed a line every 20 ms until the subscriber has one: a PUB drops what it sends before
        // the subscription arrives.
        let feeding = Task.detached {
            while running.process.isRunning {
                guard (try? running.input.fileHandleForWriting.write(contentsOf: Data("news\n".utf8))) != nil else { return }
                try? await Task.sleep(for: .milliseconds(20))
            }
        }
        let message = try await subscriber.receive()
        #expect(message.count == 2 && message.last?.count == 8)
        #expect(try LagGuard(maxLag: .seconds(30)).check(message) == ["news"])
        feeding.cancel()
        try? running.input.fileHandleForWriting.close()
        #expect(await running.finish().status == 0)
        await context.shutdown()
    }

    @Test("recv --max-lag prints a message in time without its stamp, and exits 3 saying so when one arrives too late")
    func receiveTooLate() async throws {
        let endpoint = temporaryIPCEndpoint()
        let running = try Running(["recv", "--type", "SUB", "--bind", endpoint, "--max-lag", "0.5", "--count", "5"])
        let context = ZMQContext()
        let publisher = try context.socket(.xpub, options: [.linger(.zero)])
        try await publisher.connect(endpoint)
        _ = try await publisher.receive()
        try await publisher.send(LagGuard.stamped(["fresh"]))
        try await publisher.send(LagGuard.stamped(["stale"], at: Date().addingTimeInterval(-2)))
        let run = await running.finish()
        #expect(run.status == 3 && run.output == "fresh\n")
        #expect(run.errors.contains("after it was sent, more than the 0.5 seconds allowed; stopping after 1 message(s)"), "\(run.errors)")
        await context.shutdown()
    }

    @Test("lvc: a subscriber started after the publisher's updates gets the last of each of its topics at once")
    func lastValueCache() async throws {
        let (upstream, downstream) = (temporaryIPCEndpoint(), temporaryIPCEndpoint())
        let context = ZMQContext()
        let publisher = try context.socket(.xpub, options: [.linger(.zero)])
        try await publisher.bind(upstream)
        let cache = try Running(["lvc", "--frontend", upstream, "--backend", downstream, "--verbose"])
        let said = BinaryStarToolTests.Lines(cache.errors.fileHandleForReading)
        _ = try await publisher.receive()
        // A first subscriber, to know the updates have passed through the cache.
        let first = try Running(["recv", "--type", "SUB", "--connect", downstream, "--count", "3"])
        _ = await said.waitFor("zmq lvc: subscribed topic  count 0")
        for message: Message in [["a", "1"], ["b", "1"], ["a", "2"]] { try await publisher.send(message) }
        #expect(await first.finish().output == "a\t1\nb\t1\na\t2\n")
        let late = try await ToolTests.run(["recv", "--type", "SUB", "--connect", downstream, "--subscribe", "a", "--count", "1"])
        #expect(late.status == 0 && late.output == "a\t2\n")
        cache.process.terminate()
        #expect(await cache.finish().status == 0)
        await context.shutdown()
    }
}
