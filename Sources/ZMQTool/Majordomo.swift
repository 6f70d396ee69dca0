import ArgumentParser
import Foundation
import ServiceLifecycle
import Synchronization
import ZMQ
import ZMQPatterns

struct Broker: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run a Majordomo broker (7/MDP 0.1, 18/MDP 0.2 and majortomo's dialect at once, with 8/MMI), optionally with Titanic.",
        discussion: """
            Clients and workers of either version connect to the same endpoint. With --titanic, \
            the titanic.request, titanic.reply and titanic.close services (9/TSP) run in the same \
            process, keeping requests and replies in that store (an SQLite file, or a postgres:// \
            URL); restarted on the same store, it takes up the requests still pending. With --primary or --backup it is one half of \
            a Binary Star pair: the brokers exchange their states over --state-bind and \
            --state-connect, only the active one brokers, and clients and workers given both \
            brokers' endpoints go to the other when theirs falls silent. A pair's Titanic runs \
            beside the active broker only, both brokers naming the same --titanic store (one \
            SQLite file on one host, or one PostgreSQL database for brokers on two hosts); the \
            backup's takes up the requests still pending when it becomes active: the pair's two \
            Titanics share one name (--titanic-name, "zmq broker pair" unless given), so the one \
            becoming active takes up at once what the other held; two pairs sharing one store \
            need a name each. Each \
            change of state is printed on standard error as "binary-star: STATE". Exits 0 on \
            SIGINT or SIGTERM, and 3 when both brokers are active or both passive.
            """
    )

    @Option(help: "Bind to this endpoint, e.g. tcp://*:5555 (repeat for several).")
    var bind: [String]

    @Option(help: "Run Titanic too, with its requests and replies in this store: an SQLite file or a postgres:// URL.")
    var titanic: String?

    @Option(help: "Titanic's name among the Titanics sharing its store (default: this host's, or \"zmq broker pair\" in a pair).")
    var titanicName: String?

    @Option(help: "Seconds Titanic's hold on a request lasts unless renewed: how long the requests of a Titanic that died wait for another.")
    var titanicLease: Double = 10

    @Option(help: "Seconds between heartbeats; workers must use the same.")
    var heartbeat: Double = 2.5

    @Flag(help: "Print what happens (workers joining and leaving, requests) on standard error.")
    var verbose = false

    @OptionGroup var pair: PairOptions

    func validate() throws {
        if bind.isEmpty { throw ValidationError("give --bind ENDPOINT") }
        if heartbeat <= 0 { throw ValidationError("--heartbeat must be positive") }
        if titanicLease <= 0 { throw ValidationError("--titanic-lease must be positive") }
        try pair.validate()
    }

    func run() async throws {
        let context = ZMQContext.forTool()
        // Titanic reaches the broker in-process, whatever the public endpoints are.
        let inproc = "inproc://zmq-broker-titanic"
        var broker = MajordomoBroker(endpoints: bind + (titanic == nil ? [] : [inproc]))
        broker.heartbeat = .seconds(heartbeat)
        broker.onEvent = eventReporter("zmq broker", verbose: verbose)
        broker.pair = pair.pairing
        let (activity, becameActive) = AsyncStream.makeStream(of: Void.self)
        let fatal = Mutex<String?>(nil)
        broker.onPairEvent = { event in
            switch event.kind {
            case .stateChanged:
                standardError("binary-star: \(event.state)")
                if event.state == .active { becameActive.yield() }
            case .fatal: fatal.withLock { $0 = event.reason }
            default: break
            }
        }
        let configured = broker
        var tasks: [@Sendable () async throws -> Void] = [{ try await configured.run(in: context) }]
        if let path = titanic {
            let paired = broker.pair != nil
            let titanic = try await makeTitanic(broker: inproc, database: path, heartbeat: heartbeat,
                                                name: titanicName ?? (paired ? "zmq broker pair" : nil), lease: titanicLease,
                                                report: eventReporter("zmq broker", verbose: verbose))
            tasks.append {
                // A pair's Titanic dispatches beside the active broker only: the passive one's
                // requests would go nowhere, and two dispatchers on one file would do each twice.
                if paired {
                    var waiting = activity.makeAsyncIterator()
                    guard await waiting.next() != nil else { return }
                }
                try await titanic.run(in: context)
            }
        }
        let titanicNote = titanic.map { ", Titanic in \($0)" + (broker.pair == nil ? "" : " while active") } ?? ""
        standardError("zmq broker: listening on \(bind.joined(separator: ", "))" + titanicNote)
        try await exitingOnSplitBrain(fatal, "zmq broker", "brokers") { try await runUntilSignalled(context, tasks) }
    }
}

struct TitanicCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "titanic",
        abstract: "Titanic (9/TSP): run it on a Majordomo broker, or see what its store holds.",
        subcommands: [Run.self, Status.self],
        defaultSubcommand: Run.self
    )

    struct Run: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Run Titanic (9/TSP) as a process of its own, on a Majordomo broker.",
            discussion: """
                Serves titanic.request, titanic.reply and titanic.close through the broker, keeping \
                requests and replies in a store (SQLite or PostgreSQL), and sends each stored request to its service \
                until a worker answers. Restarted on the same store, it takes up the requests still \
                pending. Several Titanics, on several hosts, can share one store (a postgres:// URL, \
                or one SQLite file on one host), each with a --name of its own: each sends the \
                requests it holds, and takes up those of one that died once its --lease has run \
                out. Exits 0 on SIGINT or SIGTERM, letting go of what it holds.
                """
        )

        @Option(help: "Connect to the broker at this endpoint.")
        var connect: String

        @Option(help: "The store for requests and replies: an SQLite file (created if missing) or a postgres:// URL.")
        var database: String

        @Option(help: "This Titanic's name among those sharing its store (default: this host's and the broker's).")
        var name: String?

        @Option(help: "Seconds this Titanic's hold on a request lasts unless renewed: how long the requests of one that died wait for another.")
        var lease: Double = 10

        @Option(help: "Seconds between heartbeats; the broker must use the same.")
        var heartbeat: Double = 2.5

        @Flag(help: "Print what happens (requests stored, dispatched, answered) on standard error.")
        var verbose = false

        func validate() throws {
            if heartbeat <= 0 { throw ValidationError("--heartbeat must be positive") }
            if lease <= 0 { throw ValidationError("--lease must be positive") }
        }

        func run() async throws {
            let titanic = try await makeTitanic(broker: connect, database: database, heartbeat: heartbeat, name: name, lease: lease,
                                                report: eventReporter("zmq titanic", verbose: verbose))
            let context = ZMQContext.forTool()
            standardError("zmq titanic: on the broker at \(connect), requests in \(database)")
            try await runUntilSignalled(context, [{ try await titanic.run(in: context) }])
        }
    }

    struct Status: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print what a Titanic store holds: pending, answered, closed and oldest-pending-seconds, one a line.",
            discussion: """
                Reads the store while Titanic runs, or after it died. With --list, one line per \
                request after the totals: its id, service, state (pending or answered), attempts \
                (sends to its service), the time it was stored (UTC) and, for a pending request a \
                Titanic holds, that Titanic's name.
                """)

        @Option(help: "Titanic's store: an SQLite file or a postgres:// URL.")
        var store: String

        @Flag(help: "Print one line per request too.")
        var list = false

        func run() async throws {
            let location = try existingStore(store)
            do {
                let titanic = try await titanicStore(at: location)
                let summary = try await titanic.summary()
                print("pending: \(summary.pending)\nanswered: \(summary.answered)\nclosed: \(summary.closed)\noldest-pending-seconds: \(secondsSince(summary.oldestPending))")
                guard list else { return }
                for item in try await titanic.items() {
                    let holder = item.owner.map { " held-by=\($0)" } ?? ""
                    print("\(item.id) service=\(item.service) state=\(item.answered ? "answered" : "pending") attempts=\(item.attempts) stored=\(timestamp(item.stored))\(holder)")
                }
            } catch let error as ZMQError {
                throw UsageError(message: "cannot read \(store): \(error.message)")
            }
        }
    }
}

/// The store at `text`, which must exist if it is an SQLite file: reading a store never creates one.
func existingStore(_ text: String) throws -> StoreLocation {
    let location: StoreLocation
    do { location = try StoreLocation(text) } catch { throw UsageError(message: error.message) }
    if case .sqlite(let path) = location, !FileManager.default.fileExists(atPath: path) {
        throw UsageError(message: "\(text): no such file")
    }
    return location
}

/// Seconds from `date` to now, to the millisecond; 0 for none.
func secondsSince(_ date: Date?) -> String {
    date.map { String(format: "%.3f", max(0, Date().timeIntervalSince($0))) } ?? "0"
}

/// `date` in ISO 8601, UTC, to the millisecond.
func timestamp(_ date: Date) -> String {
    date.formatted(.iso8601.year().month().day().time(includingFractionalSeconds: true))
}

/// Titanic on the store at `database` (an SQLite file or a postgres:// URL); a store that cannot
/// be used is a usage error.
func makeTitanic(broker: String, database: String, heartbeat: Double, name: String?, lease: Double,
                 report: @escaping EventHandler<TitanicEvent>) async throws -> Titanic {
    let store: any TitanicStore
    do {
        store = try await titanicStore(at: StoreLocation(database))
    } catch {
        throw UsageError(message: "cannot use \(database) for Titanic: \(error)")
    }
    var titanic = Titanic(broker: broker, store: store)
    titanic.heartbeat = .seconds(heartbeat)
    if let name { titanic.name = name }
    titanic.lease = .seconds(lease)
    titanic.onEvent = report
    return titanic
}

/// Prints each event on standard error after `prefix` when `verbose`; otherwise nothing.
func eventReporter<Event: CustomStringConvertible>(_ prefix: String, verbose: Bool) -> EventHandler<Event> {
    { event in
        if verbose { standardError("\(prefix): \(event)") }
    }
}

struct Worker: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Serve a Majordomo service: echo each request, or answer it with a command's output.",
        discussion: """
            With --exec, each request's frames go to the command's standard input, one per line, \
            and the lines it prints are the reply's frames (0x… for binary, both ways); the \
            command runs through /bin/sh. With --once, requests carry their own id as the first \
            frame, and a request whose id was answered before gets the recorded reply without \
            running anything again (a command that exits non-zero is not recorded). Exits 0 on \
            SIGINT or SIGTERM.
            """
    )

    @Option(help: "Connect to the broker at this endpoint; give it twice for a Binary Star pair of brokers (the next is dialled when the broker falls silent).")
    var connect: [String]

    @Option(help: "The service to serve.")
    var service: String

    @Option(help: "The Majordomo version to speak: 0.1, 0.2, or majortomo (the PyPI package's dialect of 0.2).")
    var mdp: String = "0.2"

    @OptionGroup var answer: AnswerOptions

    @Option(help: "Answer each request id once, recording the replies in this SQLite database.")
    var once: String?

    @Option(help: "Seconds between heartbeats; the broker must use the same.")
    var heartbeat: Double = 2.5

    @Flag(help: "Print each request on standard error.")
    var verbose = false

    func validate() throws {
        if MajordomoVersion(rawValue: mdp) == nil { throw ValidationError("--mdp must be 0.1, 0.2 or majortomo") }
        if connect.isEmpty { throw ValidationError("give --connect ENDPOINT") }
        if heartbeat <= 0 { throw ValidationError("--heartbeat must be positive") }
    }

    func run() async throws {
        let completed: CompletedRequests?
        do {
            completed = try once.map { try CompletedRequests(path: $0) }
        } catch {
            throw UsageError(message: "cannot use \(once ?? "") to record requests: \(error)")
        }
        let context = ZMQContext.forTool()
        var worker = MajordomoWorker(failingOverBetween: connect, service: service)
        worker.version = MajordomoVersion(rawValue: mdp)!
        worker.heartbeat = .seconds(heartbeat)
        worker.reconnectInterval = .seconds(heartbeat)
        let configured = worker
        let command = answer.exec
        let verbose = verbose
        let service = service
        let respond: @Sendable (Message) async throws -> (reply: Message, succeeded: Bool) = { request in
            guard let command else { return (request, true) }
            do {
                return try await ShellCommand.run(command, input: request)
            } catch {
                // The command could not start: say so, answer with nothing, keep serving.
                standardError("zmq worker: cannot run '\(command)': \(error)")
                return (Message([Frame]()), false)
            }
        }
        standardError("zmq worker: serving \(service) at \(connect.joined(separator: ", "))")
        try await runUntilSignalled(context, [{
            try await configured.run(in: context) { request in
                if verbose { standardError("zmq worker: request \(FrameText.line(request))") }
                guard let completed else { return try await respond(request).reply }
                guard let id = request.first else {
                    standardError("zmq worker: a request with no frames has no id; answered with nothing")
                    return Message([Frame]())
                }
                // The record failing (a full disk) stops the worker, and with it every answer
                // given as done without being recorded.
                if let recorded = try await completed.reply(for: id) { return recorded }
                let (reply, succeeded) = try await respond(request)
                return succeeded ? try await completed.record(reply, for: id) : reply
            }
        }])
    }
}

struct Request: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Send a request to a Majordomo service and print its reply; retried on a fresh socket when none comes.",
        discussion: """
            Prints any partial replies (18/MDP), then the final reply, one line each, frames \
            separated by tabs (0x… for binary), and exits 0; exits 1 when no reply has come after \
            --retries attempts of --timeout seconds.
            """
    )

    @Option(help: "Connect to the broker at this endpoint; give it again for each broker of a Binary Star pair (after a timeout, the next attempt goes to the next).")
    var connect: [String]

    @Option(help: "The service to ask, e.g. echo, or mmi.service, or titanic.request.")
    var service: String

    @Option(help: "The Majordomo version to speak: 0.1, 0.2, or majortomo (the PyPI package's dialect of 0.2).")
    var mdp: String = "0.2"

    @Option(help: "Seconds to wait for each reply.")
    var timeout: Double = 2.5

    @Option(help: "How many times to send the request in all (over all brokers together) before giving up; through a Binary Star pair, enough to outlast a failover (two of the pair's heartbeats, then the workers' three).")
    var retries: Int = 3

    @Argument(help: "The frames of the request (0x… for hex).")
    var frames: [String] = []

    func validate() throws {
        if MajordomoVersion(rawValue: mdp) == nil { throw ValidationError("--mdp must be 0.1, 0.2 or majortomo") }
        if connect.isEmpty { throw ValidationError("give --connect ENDPOINT") }
        if timeout <= 0 { throw ValidationError("--timeout must be positive") }
        if retries < 1 { throw ValidationError("--retries must be at least 1") }
    }

    func run() async throws {
        let request = Message(try frames.map(FrameText.parse))
        let context = ZMQContext.forTool()
        let client = MajordomoClient.failingOver(between: connect, in: context, version: MajordomoVersion(rawValue: mdp)!,
                                                 retry: RetryPolicy(timeout: .milliseconds(Int64(timeout * 1000)), attempts: retries))
        defer { Task { await client.close() } }
        do {
            let (partials, final) = try await client.requestWithPartials(service: service, request)
            for partial in partials { StandardOutput.writeLine(partial) }
            StandardOutput.writeLine(final)
        } catch let error as ZMQError where error.code == .noReply {
            standardError("zmq request: \(error)")
            await client.close()
            await context.shutdown()
            throw ExitCode(1)
        } catch let error as ZMQError where error.code == .invalidEndpoint {
            throw UsageError(message: "\(error)")
        }
        await client.close()
        await context.shutdown()
    }
}

/// A shell command that answers a request: its frames in, one per line; its lines out.
enum ShellCommand {
    /// The most output taken from one run, the library's default maximum message size.
    static let outputLimit = 64 << 20

    /// Runs `command` through /bin/sh. Cancelling the task terminates the command. A line of
    /// output that is not valid `0x…` hex is taken as text; output beyond `outputLimit` is cut
    /// off and the run counts as failed.
    static func run(_ command: String, input: Message) async throws -> (reply: Message, succeeded: Bool) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/sh")
        process.arguments = ["-c", command]
        let stdin = Pipe()
        let stdout = Pipe()
        process.standardInput = stdin
        process.standardOutput = stdout
        let text = input.frames.map { FrameText.line(Message($0)) + "\n" }.joined()
        try process.run()
        // Written, read and waited for on threads of their own: blocking calls, which must not
        // hold the cooperative pool (the worker's heartbeats run there), and a command that
        // prints before it has read all its input must not block on a full pipe meanwhile.
        Thread.detachNewThread {
            try? stdin.fileHandleForWriting.write(contentsOf: Data(text.utf8))
            try? stdin.fileHandleForWriting.close()
        }
        let (output, truncated, status) = await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<(Data, Bool, Int32), Never>) in
                Thread.detachNewThread {
                    var output = Data()
                    var truncated = false
                    while case let chunk = stdout.fileHandleForReading.availableData, !chunk.isEmpty {
                        if output.count + chunk.count > outputLimit {
                            truncated = true
                            process.terminate()
                            break
                        }
                        output.append(chunk)
                    }
                    process.waitUntilExit()
                    continuation.resume(returning: (output, truncated, process.terminationStatus))
                }
            }
        } onCancel: {
            process.terminate()
        }
        let lines = String(decoding: output, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: false)
        let frames = lines.dropLast(lines.last == "" ? 1 : 0).map { line in (try? FrameText.parse(String(line))) ?? Frame(String(line)) }
        if truncated { standardError("zmq worker: '\(command)' printed more than \(outputLimit) octets; stopped") }
        if status != 0 { standardError("zmq worker: '\(command)' exited with status \(status)") }
        return (Message(frames), status == 0 && !truncated)
    }
}

/// How a server answers: --echo, or --exec COMMAND (exactly one).
struct AnswerOptions: ParsableArguments {
    @Flag(help: "Answer each request with itself.")
    var echo = false

    @Option(help: "Answer each request with this shell command's output.")
    var exec: String?

    func validate() throws {
        if echo == (exec != nil) { throw ValidationError("give exactly one of --echo or --exec COMMAND") }
    }
}

extension ShellCommand {
    /// The answer of a server run with --echo (`command` nil) or --exec COMMAND: the request
    /// itself, or the command's output. A command that cannot start is reported on standard
    /// error under `tool`'s name and answered with no frames, and the server goes on.
    static func answering(_ command: String?, tool: String) -> @Sendable (Message) async throws -> Message {
        { request in
            guard let command else { return request }
            do {
                return try await run(command, input: request).reply
            } catch {
                standardError("\(tool): cannot run '\(command)': \(error)")
                return Message([Frame]())
            }
        }
    }
}

extension FrameText {
    /// A message as the tool prints it, as a string.
    static func line(_ message: Message) -> String {
        var bytes: [UInt8] = []
        write(message) { bytes.append(contentsOf: $0) }
        return String(decoding: bytes, as: UTF8.self)
    }
}

func standardError(_ line: String) {
    FileHandle.standardError.write(Data((line + "\n").utf8))
}

/// Runs `tasks` until one ends or SIGINT/SIGTERM arrives; then stops the rest and the context.
func runUntilSignalled(_ context: ZMQContext, _ tasks: [@Sendable () async throws -> Void]) async throws {
    let services = tasks.map {
        ServiceGroupConfiguration.ServiceConfiguration(service: TaskService(body: $0), successTerminationBehavior: .gracefullyShutdownGroup)
    }
    let group = ServiceGroup(configuration: ServiceGroupConfiguration(
        services: [.init(service: context)] + services,
        gracefulShutdownSignals: [.sigterm, .sigint],
        logger: ZMQContext.silentLogger))
    try await group.run()
}

/// A task as a service: cancelled when the group shuts down gracefully.
struct TaskService: Service {
    let body: @Sendable () async throws -> Void

    func run() async throws {
        try await cancelWhenGracefulShutdown { try await body() }
    }
}
