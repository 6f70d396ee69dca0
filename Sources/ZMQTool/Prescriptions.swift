import ArgumentParser
import Foundation
import ZMQ
import ZMQPatterns

/// The Guide's "every prescription must be processed exactly once", run for real: doctors (in
/// this process) submit prescriptions with ids of their own through Titanic; a pharmacy worker
/// records each by id (`zmq worker --once`); the broker, Titanic and the worker are separate
/// processes that get killed (SIGKILL) and restarted while it runs.
struct Prescriptions: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Exactly once, end to end: prescriptions through Titanic to an idempotent worker, with the broker, Titanic and the worker killed and restarted at random.",
        discussion: """
            Starts `zmq broker`, `zmq titanic` and `zmq worker --once` as child processes, submits \
            the prescriptions while killing (SIGKILL) and restarting them, then waits for every \
            reply and prints the counts. Exits 0 only if every prescription was answered, with its own \
            reply, and recorded exactly once. On SIGINT or SIGTERM it stops its three processes and \
            exits 1.
            """
    )

    @Option(help: "Prescriptions to submit.")
    var count = 200

    @Option(help: "Doctors submitting at the same time.")
    var doctors = 4

    @Option(help: "How many times to kill the broker, Titanic or the worker.")
    var kills = 6

    @Option(help: "Keep the databases and logs in this directory (default: a temporary one, removed at the end).")
    var directory: String?

    @Option(help: "Seed for the choice of what to kill and when (default: random).")
    var seed: UInt64?

    func validate() throws {
        if count < 1 || doctors < 1 { throw ValidationError("--count and --doctors must be at least 1") }
        if kills < 0 { throw ValidationError("--kills must not be negative") }
    }

    func run() async throws {
        let folder = directory ?? NSTemporaryDirectory() + "zmq-prescriptions-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        defer { if directory == nil { try? FileManager.default.removeItem(atPath: folder) } }
        // The children start and stop inside, with the signals caught: a signal cancels the run,
        // and the children, in process groups of their own that a terminal's ^C does not reach,
        // are stopped as it unwinds.
        let command = self
        let context = ZMQContext.forTool()
        let passed = try await resultUnlessSignalled(context) { try await command.exercise(in: folder, context: context) }
        guard let passed else {
            say("Interrupted: the broker, Titanic and the worker stopped")
            throw ExitCode(1)
        }
        if !passed { throw ExitCode(1) }
    }

    /// The run itself: whether every check passed (it prints each, PASS or FAIL).
    private func exercise(in folder: String, context: ZMQContext) async throws -> Bool {
        let endpoint = "ipc://\(folder)/broker.sock"
        let runs = "\(folder)/runs.log"
        var random = SeededRandom(seed: seed ?? UInt64.random(in: 0...UInt64.max))

        let broker = try Child(["broker", "--bind", endpoint, "--heartbeat", "0.2"], log: "\(folder)/broker.log")
        let titanic = try Child(["titanic", "--connect", endpoint, "--database", "\(folder)/titanic.sqlite", "--heartbeat", "0.2"],
                                log: "\(folder)/titanic.log")
        // The pharmacy: notes each run of the command, and answers "dispensed" with the prescription.
        let pharmacy = #"read id; read drug; echo "$id" >> "$RUNS"; echo dispensed; echo "$id"; echo "$drug""#
        // The pharmacy opens when half the prescriptions are in: Titanic holds them meanwhile,
        // so hundreds are stored and unanswered when the kills come.
        let worker = try Child(["worker", "--connect", endpoint, "--service", "pharmacy", "--heartbeat", "0.2",
                                "--once", "\(folder)/pharmacy.sqlite", "--exec", pharmacy],
                               log: "\(folder)/worker.log", environment: ["RUNS": runs], startNow: false)
        let children = [("broker", broker), ("Titanic", titanic), ("worker", worker)]
        defer { for (_, child) in children { child.stop() } }
        // Said once the broker and Titanic are running (the worker starts at half-way).
        say("Prescriptions: \(count) through Titanic to a pharmacy worker, \(kills) kills (seed \(random.seed))")

        let client = TitanicClient(context, connectingTo: endpoint, timeout: .milliseconds(500), attempts: 1, maxInFlight: doctors)
        let progress = Progress()
        // Kills spread over the submissions, and the last ones while replies are still due.
        let killAt = (0..<kills).map { index in (count * (index + 1)) / (kills + 1) }
        // Several doctors at once, so that hundreds of prescriptions are in flight at a kill.
        let submitting = Task {
            try await withThrowingTaskGroup(of: [(prescription: Int, id: String)].self) { group in
                for doctor in 0..<doctors {
                    group.addTask {
                        var tickets: [(prescription: Int, id: String)] = []
                        for prescription in stride(from: doctor, to: count, by: doctors) {
                            tickets.append((prescription, try await submit(prescription, by: client, progress)))
                        }
                        return tickets
                    }
                }
                return try await group.reduce(into: []) { $0 += $1 }
            }
        }
        // An interrupted run stops submitting too.
        defer { submitting.cancel() }
        var killed: [String: Int] = [:]
        var inFlight: [Int] = []
        for threshold in killAt {
            if threshold >= count / 2, !worker.started {
                try await progress.wait(untilSubmitted: count / 2)
                try worker.start()
            }
            try await progress.wait(untilSubmitted: threshold)
            let running = children.filter { $0.1.started }
            let (name, child) = running[Int(random.next() % UInt64(running.count))]
            try child.kill()
            killed[name, default: 0] += 1
            // What Titanic holds and has not answered yet, read from its database.
            inFlight.append((try? await SQLiteTitanicStore(path: "\(folder)/titanic.sqlite").pending().count) ?? 0)
        }
        let tickets = try await withTaskCancellationHandler { try await submitting.value } onCancel: { submitting.cancel() }
        if !worker.started { try worker.start() }
        say("  \(count) prescriptions acknowledged by Titanic under \(tickets.count) ids (\(progress.resubmissions) submissions repeated after no acknowledgement)")
        say("  killed (SIGKILL) and restarted: " + children.map { name, _ in "the \(name) \(killed[name] ?? 0) times" }.joined(separator: ", "))
        say("  requests stored and not yet answered at each kill: " + inFlight.map(String.init).joined(separator: ", "))

        var wrong: [String] = []
        // Everything is running again: a reply that has not come in two minutes is lost.
        let deadline = ContinuousClock.now + .seconds(120)
        for (prescription, id) in tickets {
            var reply = try await fetch(id, from: client)
            while reply == nil, ContinuousClock.now < deadline {
                try await Task.sleep(for: .milliseconds(50))
                reply = try await fetch(id, from: client)
            }
            if reply != ["dispensed", Frame("rx-\(prescription)"), Frame("drug \(prescription)")] { wrong.append(id) }
            // Asked again: the same reply, never a second answer.
            if try await fetch(id, from: client) != reply { wrong.append(id) }
        }
        await client.closeSockets()

        let recorded = try await CompletedRequests(path: "\(folder)/pharmacy.sqlite").count()
        let commandRuns = (try? String(contentsOfFile: runs, encoding: .utf8))?.split(separator: "\n") ?? []
        say("  every id answered: \(tickets.count - Set(wrong).count) of \(tickets.count)")
        say("  prescriptions recorded by the pharmacy: \(recorded) (each once)")
        say("  pharmacy command runs: \(commandRuns.count) for \(Set(commandRuns).count) prescriptions (a run cut short by a kill before its record is run again)")
        let checks = [
            ("every acknowledged prescription got its own reply, the same each time it was asked", wrong.isEmpty),
            ("the pharmacy recorded each prescription exactly once", recorded == count && Set(commandRuns).count == count),
            // The worker handles one request at a time, so a kill cuts at most one run short;
            // any other repeat was answered from the record.
            ("the pharmacy's command ran again only for runs a kill cut short", commandRuns.count - count <= killed["worker", default: 0]),
        ]
        say("")
        for (name, passed) in checks { say("\(passed ? "PASS" : "FAIL")  \(name)") }
        return checks.allSatisfy(\.1)
    }

    /// Submits prescription `number` until Titanic acknowledges it. A lost acknowledgement means
    /// submitting again: the request may then be stored twice, under two Titanic ids, and the
    /// pharmacy's record is what makes it once.
    private func submit(_ number: Int, by client: TitanicClient, _ progress: Progress) async throws -> String {
        while true {
            do {
                let id = try await client.submit(service: "pharmacy", ["rx-\(number)", "drug \(number)"])
                progress.submitted()
                return id
            } catch let error as ZMQError where error.code == .noReply || error.code == .serviceFailed {
                progress.resubmitted()
            }
        }
    }

    /// The reply to `id`, or nil while pending; nil too when the broker is not there to ask.
    private func fetch(_ id: String, from doctor: TitanicClient) async throws -> Message? {
        do {
            return try await doctor.reply(to: id)
        } catch let error as ZMQError where error.code == .noReply {
            return nil
        }
    }
}

/// How far the doctor has got, for the killer to wait on.
final class Progress: @unchecked Sendable {
    private let lock = NSLock()
    private var count = 0
    private var repeats = 0

    func submitted() { lock.withLock { count += 1 } }
    func resubmitted() { lock.withLock { repeats += 1 } }
    var resubmissions: Int { lock.withLock { repeats } }

    /// Throws when the task is cancelled (the run was interrupted).
    func wait(untilSubmitted threshold: Int) async throws {
        while lock.withLock({ count < threshold }) { try await Task.sleep(for: .milliseconds(5)) }
    }
}

/// A child `zmq` process that can be killed and started again with the same arguments.
final class Child: @unchecked Sendable {
    private let arguments: [String]
    private let log: FileHandle
    private let environment: [String: String]
    private var process: Process?

    init(_ arguments: [String], log path: String, environment: [String: String] = [:], startNow: Bool = true) throws {
        _ = FileManager.default.createFile(atPath: path, contents: nil)
        self.arguments = arguments
        log = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
        self.environment = environment
        if startNow { try start() }
    }

    var started: Bool { process != nil }

    func start() throws {
        process = try Self.start(arguments, log: log, environment: environment)
    }

    /// SIGKILL, then (unless told not to) the same command again.
    func kill(restart: Bool = true) throws {
        guard let process else { return }
        Foundation.kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
        if restart { try start() }
    }

    func stop() {
        process?.terminate()
        process?.waitUntilExit()
    }

    private static func start(_ arguments: [String], log: FileHandle, environment: [String: String]) throws -> Process {
        let process = Process()
        process.executableURL = Bundle.main.executableURL ?? URL(fileURLWithPath: CommandLine.arguments[0])
        process.arguments = arguments
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        process.standardOutput = log
        process.standardError = log
        try process.run()
        return process
    }
}

/// A small reproducible generator (SplitMix64), so that a run can be repeated with its seed.
struct SeededRandom: RandomNumberGenerator {
    let seed: UInt64
    private var state: UInt64

    init(seed: UInt64) {
        self.seed = seed
        state = seed
    }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
