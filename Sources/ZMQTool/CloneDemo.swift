import ArgumentParser
import Foundation
import ZMQ
import ZMQPatterns

/// The Guide's Clone model 6, run for real: clients in this process share a map through a
/// Binary Star pair of `zmq clone-server` processes, and the active server is killed (SIGKILL)
/// while they write.
struct CloneDemo: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "clone",
        abstract: "Shared state that survives a server: clients write to a map through a Binary Star pair of Clone servers while the active one is killed.",
        discussion: """
            Starts a primary and a backup `zmq clone-server` as child processes, has --clients \
            clients each set --updates keys while the primary is killed (SIGKILL), restarts the \
            primary once the backup has taken over, then checks that every client holds the same map as the surviving server. Exits 0 \
            only if every client converged. On SIGINT or SIGTERM it stops both servers and exits 1.
            """
    )

    @Option(help: "Clients writing at the same time.")
    var clients = 4

    @Option(help: "Updates each client sends.")
    var updates = 60

    @Option(help: "Keep the servers' logs in this directory (default: a temporary one, removed at the end).")
    var directory: String?

    func validate() throws {
        if clients < 1 || updates < 3 { throw ValidationError("--clients must be at least 1 and --updates at least 3") }
    }

    func run() async throws {
        let folder = directory ?? NSTemporaryDirectory() + "zmq-clone-demo-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        defer { if directory == nil { try? FileManager.default.removeItem(atPath: folder) } }
        let (clients, updates) = (clients, updates)
        // The servers start and stop inside, with the signals caught: a signal cancels the run,
        // and the servers, in process groups of their own that a terminal's ^C does not reach,
        // are stopped as it unwinds.
        let context = ZMQContext.forTool()
        let converged = try await resultUnlessSignalled(context) {
            try await Self.exercise(clients: clients, updates: updates, folder: folder, context: context)
        }
        guard let converged else {
            say("Interrupted: both servers stopped")
            throw ExitCode(1)
        }
        if !converged { throw ExitCode(1) }
    }

    /// The run itself: whether every client converged (it says so, PASS or FAIL).
    private static func exercise(clients: Int, updates: Int, folder: String, context: ZMQContext) async throws -> Bool {
        let (first, second) = ("ipc://\(folder)/primary", "ipc://\(folder)/backup")
        func server(_ role: String, bind: String, state: (String, String), peer: String) throws -> Child {
            try Child(["clone-server", "--bind", bind, "--heartbeat", "0.1", role, "--state-bind", "ipc://\(folder)/\(state.0).state",
                       "--state-connect", "ipc://\(folder)/\(state.1).state", "--state-heartbeat", "0.1", "--peer", peer, "--verbose"],
                      log: "\(folder)/\(role.dropFirst(2)).log")
        }
        let primary = try server("--primary", bind: first, state: ("primary", "backup"), peer: second)
        defer { primary.stop() }
        let backup = try server("--backup", bind: second, state: ("backup", "primary"), peer: first)
        defer { backup.stop() }
        say("Clone: \(clients) clients, \(updates) updates each, through a primary and a backup server; the primary killed mid-run")
        // A backup takes over only from a primary it has heard active: wait for the pair to form.
        guard try await waitForLine("binary-star: PASSIVE", in: "\(folder)/backup.log") else {
            say("FAIL  the backup did not hear the primary within 10 seconds (logs in \(folder))")
            return false
        }

        let servers = [try CloneEndpoints(first), try CloneEndpoints(second)]
        var members: [CloneClient] = []
        for _ in 0..<clients { members.append(try await CloneClient(context, servers: servers, serverTimeout: .milliseconds(500))) }
        let failovers = members.map { $0.events() }
        try await withThrowingTaskGroup(of: Void.self) { group in
            for (index, client) in members.enumerated() {
                group.addTask {
                    for update in 0..<updates {
                        try await client.set("/client\(index)/\(update % 10)", Frame("\(update)"), timeout: .seconds(20))
                        if index == 0, update == updates / 3 {
                            say("  killing the primary (SIGKILL) after \(update + 1) updates from client 0")
                            try primary.kill(restart: false)
                        }
                    }
                }
            }
            try await group.waitForAll()
        }
        // Restarted only now that the backup has taken over: a primary restarted at once could
        // take the clients back before it hears the backup, with an empty map.
        say("  restarting the primary: it hears the backup active and stands by")
        try primary.start()
        try await members[0].set("/done", "yes", timeout: .seconds(20))
        let survivor = try await CloneClient(context, servers: [servers[1]], serverTimeout: .seconds(2))
        let synchronized = await withDeadline(seconds: 10) { try await survivor.waitUntilSynchronized() }
        var converged = synchronized
        for (index, client) in members.enumerated() {
            var changes = client.changes().makeAsyncIterator()
            var waited = 0
            while client["/done"] == nil, waited < 1000, await changes.next() != nil { waited += 1 }
            let same = client.values == survivor.values
            let moved = await Self.failedOver(failovers[index])
            say("  client \(index): \(client.values.count) keys at sequence \(client.sequence)\(moved ? ", failed over to the backup" : "")\(same ? "" : ", DIFFERENT from the backup's map")")
            converged = converged && same
        }
        for client in members + [survivor] { await client.close() }
        if converged {
            say("PASS  every client converged: \(survivor.values.count) keys, the backup's map at sequence \(survivor.sequence)")
        } else {
            say("FAIL  not every client holds the surviving server's map (logs in \(folder))")
        }
        return converged
    }

    /// Whether `line` appears in the log file at `path` within 10 seconds.
    private static func waitForLine(_ line: String, in path: String) async throws -> Bool {
        for _ in 0..<200 {
            if let text = try? String(contentsOfFile: path, encoding: .utf8), text.split(separator: "\n").contains(Substring(line)) { return true }
            try await Task.sleep(for: .milliseconds(50))
        }
        return false
    }

    /// Whether the client said it failed over, among the events it has reported so far.
    private static func failedOver(_ events: AsyncStream<CloneClientEvent>) async -> Bool {
        await withDeadline(seconds: 0.1) {
            for await event in events where event.kind == .failedOver { return }
            throw CancellationError()
        }
    }
}

/// A line on standard output at once, even into a pipe: a demo's progress as it happens.
func say(_ line: String) {
    FileHandle.standardOutput.write(Data((line + "\n").utf8))
}
