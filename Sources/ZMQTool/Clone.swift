import ArgumentParser
import Foundation
import Synchronization
import ZMQ
import ZMQPatterns

struct CloneServerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "clone-server",
        abstract: "Run a Clone server (12/CHP): a map of keys to values shared by every client.",
        discussion: """
            --bind tcp://*:P binds the snapshot port at P, the publisher at P+1 and the \
            collector at P+2, as 12/CHP says (for ipc, the path, the path+1 and the path+2). \
            With --primary or --backup it is one half of a Binary Star pair: the servers \
            exchange their states over --state-bind and --state-connect, --peer names the other \
            server's snapshot endpoint (its publisher is the next port), the passive server \
            follows the active one's updates, and a client that lost the active server makes \
            the passive one take over by asking it for a snapshot. Each change of state is \
            printed on standard error as "binary-star: STATE". With --store the map is kept in \
            an SQLite file or a PostgreSQL database, one per server (each change on disk before \
            it is published): killed and restarted on the same store, the server serves the same \
            map, its sequence numbers going on. Exits \
            0 on SIGINT or SIGTERM, and 3 when both servers are active or both passive.
            """
    )

    @Option(help: "Bind the snapshot port here, e.g. tcp://*:5556; the publisher and collector take the next two ports.")
    var bind: String

    @Option(help: "Seconds between HUGZ; clients take a server silent for a few of them for gone.")
    var heartbeat: Double = 1

    @Option(help: "In a pair: the other server's snapshot endpoint, e.g. tcp://backup:5566.")
    var peer: String?

    @Option(help: "Keep the map in this store, an SQLite file or a postgres:// URL (one per server): each change is on disk before it is published, and a restart serves it again.")
    var store: String?

    @Flag(help: "Print what happens (updates, snapshots, expiries, dropped messages) on standard error.")
    var verbose = false

    @OptionGroup var pair: PairOptions

    func validate() throws {
        if !(0.001...86_400).contains(heartbeat) { throw ValidationError("--heartbeat must be between 0.001 and 86400 seconds") }
        try pair.validate()
        if (pair.pairing != nil) != (peer != nil) { throw ValidationError("--peer is for a Binary Star pair, and a pair needs it: give both --peer and --primary or --backup") }
    }

    func run() async throws {
        let context = ZMQContext.forTool()
        var server = CloneServer(endpoints: try cloneEndpoints(bind, option: "--bind"))
        server.heartbeat = .milliseconds(Int64(heartbeat * 1000))
        server.onEvent = eventReporter("zmq clone-server", verbose: verbose)
        server.pair = pair.pairing
        server.peer = try peer.map { try cloneEndpoints($0, option: "--peer") }
        do {
            if let store { server.store = try await cloneStore(at: StoreLocation(store)) }
        } catch {
            throw UsageError(message: "cannot use \(store ?? "") for the map: \((error as? ZMQError)?.message ?? "\(error)")")
        }
        let fatal = Mutex<String?>(nil)
        server.onPairEvent = { event in
            switch event.kind {
            case .stateChanged: standardError("binary-star: \(event.state)")
            case .fatal: fatal.withLock { $0 = event.reason }
            default: break
            }
        }
        let configured = server
        standardError("zmq clone-server: listening on \(server.endpoints.snapshot), \(server.endpoints.publisher), \(server.endpoints.collector)"
                      + (store.map { ", the map in \($0)" } ?? ""))
        try await exitingOnSplitBrain(fatal, "zmq clone-server", "servers") {
            try await runUntilSignalled(context, [{ try await configured.run(in: context) }])
        }
    }
}

/// A Clone server's endpoints from one, or a usage error saying what is wrong with it.
func cloneEndpoints(_ endpoint: String, option: String) throws -> CloneEndpoints {
    do {
        return try CloneEndpoints(endpoint)
    } catch let error as ZMQError {
        throw UsageError(message: "\(option) \(endpoint): \(error.message)")
    }
}

struct CloneClientCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "clone",
        abstract: "Read, change and follow the map of Clone servers (12/CHP).",
        discussion: """
            Values print as zmq recv prints a frame: text, or 0x and hex. Give --connect twice \
            for a Binary Star pair of servers (primary first): the client follows whichever is \
            active, and moves to the other when its server falls silent. On SIGINT or SIGTERM, \
            watch exits 0; get and set, interrupted before they are done, exit 1.
            """,
        subcommands: [Get.self, Set.self, Watch.self]
    )

    struct ClientOptions: ParsableArguments {
        @Option(help: "A server's snapshot endpoint, e.g. tcp://localhost:5556 (twice for a pair).")
        var connect: [String] = []

        @Option(help: "Seconds of silence (not even HUGZ) after which a server counts as gone.")
        var serverTimeout: Double = 5

        func validate() throws {
            if connect.isEmpty { throw ValidationError("give --connect ENDPOINT (twice for a pair)") }
            if !(0.001...86_400).contains(serverTimeout) { throw ValidationError("--server-timeout must be between 0.001 and 86400 seconds") }
        }

        /// What starts the client; a bad --connect is a usage error here, before anything runs.
        func client(subtree: String = "") throws -> @Sendable (ZMQContext) async throws -> CloneClient {
            let servers = try connect.map { try cloneEndpoints($0, option: "--connect") }
            let serverTimeout = Duration.milliseconds(Int64(serverTimeout * 1000))
            return { context in try await CloneClient(context, servers: servers, subtree: subtree, serverTimeout: serverTimeout) }
        }
    }

    struct Get: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print the map (or the keys under --subtree) as key=value lines in key order; exit 1 if no server answers within --timeout.")

        @OptionGroup var client: ClientOptions

        @Option(help: "Only the keys that start with this, e.g. /config/.")
        var subtree = ""

        @Option(help: "Seconds to wait for a server's snapshot.")
        var timeout: Double = 30

        func run() async throws {
            let context = ZMQContext.forTool()
            let start = try client.client(subtree: subtree)
            let timeout = timeout
            let outcome = try await resultUnlessSignalled(context) {
                let clone = try await start(context)
                let synchronized = await withDeadline(seconds: timeout) { try await clone.waitUntilSynchronized() }
                await clone.close()
                return synchronized ? clone.values : nil
            }
            guard let outcome else {
                standardError("zmq clone get: interrupted before a server sent its snapshot")
                throw ExitCode(1)
            }
            guard let entries = outcome else {
                standardError("zmq clone get: no server sent its snapshot within \(timeout) seconds")
                throw ExitCode(1)
            }
            for key in entries.keys.sorted() { printEntry(key, entries[key]) }
        }
    }

    struct Set: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Set KEY to VALUE for every client (an empty VALUE deletes it); exit 0 once a server has published it, 1 if none has within --timeout.")

        @OptionGroup var client: ClientOptions

        @Option(help: "Seconds the key lives; the server then deletes it.")
        var ttl: Double?

        @Option(help: "Seconds to wait for a server to publish the update.")
        var timeout: Double = 30

        @Argument(help: "The key, e.g. /config/mode.")
        var key: String

        @Argument(help: "The value: text, or 0x and hex; empty to delete.")
        var value: String

        func validate() throws {
            if let ttl, !(0.001...315_360_000).contains(ttl) { throw ValidationError("--ttl must be between 0.001 and 315360000 seconds") }
            if key.isEmpty || ["ICANHAZ?", "KTHXBAI", "HUGZ"].contains(key) { throw ValidationError("'\(key)' cannot be a key: 12/CHP gives it a meaning of its own") }
        }

        func run() async throws {
            let context = ZMQContext.forTool()
            let start = try client.client()
            let value = try FrameText.parse(self.value)
            let (key, ttl, timeout) = (key, ttl.map { Duration.milliseconds(Int64($0 * 1000)) }, Duration.milliseconds(Int64(timeout * 1000)))
            let outcome = try await resultUnlessSignalled(context) { () async throws -> (any Error)? in
                let clone = try await start(context)
                let failure: (any Error)?
                do {
                    try await clone.set(key, value, ttl: ttl, timeout: timeout)
                    failure = nil
                } catch {
                    failure = error
                }
                await clone.close()
                return failure
            }
            guard let outcome else {
                standardError("zmq clone set: interrupted before a server published \(key)")
                throw ExitCode(1)
            }
            if let failure = outcome {
                standardError("zmq clone set: \((failure as? ZMQError)?.message ?? "\(failure)")")
                throw ExitCode(1)
            }
        }
    }

    struct Watch: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print the map as key=value lines, then a line per change as it happens (key= for a delete); after a fail-over, what differs in the new server's map.")

        @OptionGroup var client: ClientOptions

        @Option(help: "Only the keys that start with this, e.g. /config/.")
        var subtree = ""

        @Option(help: "Exit 0 after this many lines following the first snapshot.")
        var count: Int?

        func validate() throws {
            if let count, count < 1 { throw ValidationError("--count must be at least 1") }
        }

        func run() async throws {
            let context = ZMQContext.forTool()
            let clone = try await client.client(subtree: subtree)(context)
            let changes = clone.changes(includingMap: true)
            let count = count
            try await runUntilSignalled(context, [{
                var printed = 0
                for await change in changes {
                    printEntry(change.key, change.value)
                    if change.snapshot == 1 { continue }
                    printed += 1
                    if let count, printed >= count { break }
                }
                await clone.close()
            }])
        }
    }
}

/// `key=value`, the value as `zmq recv` prints a frame; `key=` for a deleted key.
private func printEntry(_ key: String, _ value: Frame?) {
    var line = Data("\(key)=".utf8)
    if let value, !value.isEmpty { FrameText.write(Message(value)) { line.append(contentsOf: $0) } }
    line.append(10)
    FileHandle.standardOutput.write(line)
}

/// `body`'s result, or nil if SIGINT or SIGTERM came first (it is then cancelled, and what it
/// returns or throws is put aside); either way the context is shut down. It runs with the
/// signals caught, so a signal at any moment finds them caught.
func resultUnlessSignalled<T: Sendable>(_ context: ZMQContext, _ body: @escaping @Sendable () async throws -> T) async throws -> T? {
    let result = Mutex<T?>(nil)
    try await runUntilSignalled(context, [{
        do {
            let value = try await body()
            // Nothing but a signal cancels it.
            if !Task.isCancelled { result.withLock { $0 = value } }
        } catch where Task.isCancelled {}
    }])
    return result.withLock { $0 }
}

/// Whether `body` finished within `seconds` (it is cancelled if not); false also if it threw.
func withDeadline(seconds: Double, _ body: @escaping @Sendable () async throws -> Void) async -> Bool {
    await withTaskGroup(of: Bool.self) { group in
        group.addTask { (try? await body()) != nil }
        group.addTask {
            try? await Task.sleep(for: .milliseconds(Int64(seconds * 1000)))
            return false
        }
        let first = await group.next() ?? false
        group.cancelAll()
        return first
    }
}
