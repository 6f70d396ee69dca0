import ArgumentParser
import Foundation
import Synchronization
import ZMQ
import ZMQPatterns

struct BinaryStarCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "binary-star",
        abstract: "Run one server of a Binary Star pair: answer REQ and DEALER clients while active, fail over to the peer.",
        discussion: """
            The pair's states go over --state-bind (a PUB) and --state-connect (a SUB to the \
            peer's --state-bind), as the Guide's bstar does, so either server may be the Guide's. \
            Each change of state is printed on standard error as "binary-star: STATE" (PRIMARY, \
            BACKUP, ACTIVE, PASSIVE). With --exec, a request's frames go to the command's \
            standard input, one per line, and the lines it prints are the reply's frames. Exits 0 \
            on SIGINT or SIGTERM, and 3 when both servers are active or both passive.
            """
    )

    @Flag(help: "This server is the primary.")
    var primary = false

    @Flag(help: "This server is the backup.")
    var backup = false

    @Option(help: "Bind the clients' endpoint here, e.g. tcp://*:5001.")
    var bind: String

    @Option(help: "Bind the state publisher here, e.g. tcp://*:5003.")
    var stateBind: String

    @Option(help: "Connect to the peer's state publisher, e.g. tcp://backup:5004.")
    var stateConnect: String

    @OptionGroup var answer: AnswerOptions

    @Option(help: "Seconds between state messages; the peer is gone after two of them go missing.")
    var heartbeat: Double = 1

    func validate() throws {
        if primary == backup { throw ValidationError("give exactly one of --primary or --backup") }
        if !(0.001...86_400).contains(heartbeat) { throw ValidationError("--heartbeat must be between 0.001 and 86400 seconds") }
    }

    func run() async throws {
        let context = ZMQContext.forTool()
        var server = BinaryStar(primary: primary, frontend: bind, statePublisher: stateBind, stateSubscriber: stateConnect)
        server.heartbeat = .milliseconds(Int64(heartbeat * 1000))
        let fatal = Mutex<String?>(nil)
        server.onEvent = { event in
            switch event.kind {
            case .stateChanged: standardError("binary-star: \(event.state)")
            case .fatal: fatal.withLock { $0 = event.reason }
            default: break
            }
        }
        let configured = server
        let answer = ShellCommand.answering(answer.exec, tool: "zmq binary-star")
        try await exitingOnSplitBrain(fatal, "zmq binary-star", "servers") {
            try await runUntilSignalled(context, [{ try await configured.run(in: context, handler: answer) }])
        }
    }
}

/// The options that make a broker one half of a Binary Star pair.
struct PairOptions: ParsableArguments {
    @Flag(help: "Run as the primary of a Binary Star pair (with --state-bind and --state-connect).")
    var primary = false

    @Flag(help: "Run as the backup of a Binary Star pair (with --state-bind and --state-connect).")
    var backup = false

    @Option(help: "In a pair: bind the state publisher here, e.g. tcp://*:5556.")
    var stateBind: String?

    @Option(help: "In a pair: connect to the peer's state publisher, e.g. tcp://backup:5557.")
    var stateConnect: String?

    @Option(help: "In a pair: seconds between state messages; the peer is gone after two of them go missing.")
    var stateHeartbeat: Double = 1

    func validate() throws {
        if primary && backup { throw ValidationError("give one of --primary or --backup, not both") }
        let paired = primary || backup
        if paired != (stateBind != nil) || paired != (stateConnect != nil) {
            throw ValidationError("a Binary Star pair needs --primary or --backup with both --state-bind and --state-connect")
        }
        if !(0.001...86_400).contains(stateHeartbeat) { throw ValidationError("--state-heartbeat must be between 0.001 and 86400 seconds") }
        if !paired && stateHeartbeat != 1 { throw ValidationError("--state-heartbeat is for a Binary Star pair: give --primary or --backup") }
    }

    /// The pairing, when one of `--primary` or `--backup` is given.
    var pairing: BinaryStarPairing? {
        guard primary || backup, let stateBind, let stateConnect else { return nil }
        var pairing = BinaryStarPairing(primary: primary, statePublisher: stateBind, stateSubscriber: stateConnect)
        pairing.heartbeat = .milliseconds(Int64(stateHeartbeat * 1000))
        return pairing
    }
}

/// Runs `body`; when it fails after a Binary Star fault was noted in `fatal`, says so and exits 3.
func exitingOnSplitBrain(_ fatal: borrowing Mutex<String?>, _ tool: String, _ servers: String, _ body: () async throws -> Void) async throws {
    do {
        try await body()
    } catch {
        guard let reason = fatal.withLock({ $0 }) else { throw error }
        standardError("\(tool): \(reason): both \(servers) of the pair are \(reason == "dual actives" ? "active" : "passive"); stopping")
        throw ExitCode(3)
    }
}
