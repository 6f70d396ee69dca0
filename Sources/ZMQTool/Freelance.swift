import ArgumentParser
import Foundation
import Synchronization
import ZMQ
import ZMQPatterns

struct FreelanceServerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "freelance-server",
        abstract: "Run a Freelance server (10/FLP): answer PING with PONG and each request with itself or a command's output.",
        discussion: """
            The server's routing id is --name, the endpoint its clients connect to (10/FLP names \
            servers by their public endpoint); by default the bind endpoint with * read as \
            localhost, as the Guide's flserver3 does. With --exec, a request's frames go to the \
            command's standard input, one per line, and the lines it prints are the reply's \
            frames. It serves the agent model of zmq freelance-request; for the sequential and \
            shotgun models, use REP servers such as zmq rep. Exits 0 on SIGINT or SIGTERM.
            """
    )

    @Option(help: "Bind here, e.g. tcp://*:5555.")
    var bind: String

    @Option(help: "The endpoint clients connect to, which is the server's name (default: --bind with * as localhost).")
    var name: String?

    @OptionGroup var answer: AnswerOptions

    @Flag(help: "Print each request on standard error.")
    var verbose = false

    func validate() throws {
    }

    func run() async throws {
        let context = ZMQContext.forTool()
        let server = FreelanceServer(bind: bind, name: name)
        let answer = ShellCommand.answering(answer.exec, tool: "zmq freelance-server")
        let verbose = verbose
        standardError("zmq freelance-server: listening on \(bind) as \(server.name)")
        do {
            try await runUntilSignalled(context, [{
                try await server.run(in: context) { request in
                    if verbose { standardError("zmq freelance-server: request \(FrameText.line(request))") }
                    return try await answer(request)
                }
            }])
        } catch let error as ZMQError where [.invalidEndpoint, .addressInUse].contains(error.code) {
            throw UsageError(message: "\(error)")
        }
    }
}

struct FreelanceRequestCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "freelance-request",
        abstract: "Send a request to Freelance servers (brokerless, 10/FLP) and print the reply.",
        discussion: """
            The models are the Guide's: agent (the default; pings every server, sends to the \
            first one alive, and to the next when that one is lost; the servers are zmq \
            freelance-server or any 10/FLP server), sequential (one attempt on each server in \
            turn, three on a lone server) and shotgun (the request to every server at once, the \
            first reply wins); the last two talk to REP servers such as zmq rep, and the \
            shotgun's must answer behind the request's first frame, its sequence number (zmq rep \
            without --reply echoes it, the Guide's flserver2 keeps it). --timeout is \
            the request's timeout in the agent model (default 3 s), each attempt's in the \
            sequential one (1 s) and the shotgun's wait for the first reply (2.5 s). Prints the \
            reply's frames on one line, separated by tabs (0x… for binary), and exits 0; exits 1 \
            when no server answered in time. --count N sends the request N times over one \
            client, a line per reply.
            """
    )

    enum Model: String, ExpressibleByArgument, CaseIterable {
        case sequential, shotgun, agent
    }

    @Option(help: "A server's endpoint; give it once for each server.")
    var connect: [String] = []

    @Option(help: "sequential, shotgun or agent.")
    var model: Model = .agent

    @Option(help: "Seconds: the request's timeout (agent), each attempt's (sequential), the wait for the first reply (shotgun).")
    var timeout: Double?

    @Option(help: "Agent model: seconds between pings to a silent server; one silent for three pings is lost.")
    var ping: Double = 2

    @Option(help: "Send the request this many times, printing each reply.")
    var count = 1

    @Argument(help: "The frames of the request (0x… for hex).")
    var frames: [String] = []

    func validate() throws {
        if connect.isEmpty { throw ValidationError("give --connect ENDPOINT (once for each server)") }
        if let timeout, !(0.001...86_400).contains(timeout) { throw ValidationError("--timeout must be between 0.001 and 86400 seconds") }
        if !(0.001...86_400).contains(ping) { throw ValidationError("--ping must be between 0.001 and 86400 seconds") }
        if count < 1 { throw ValidationError("--count must be at least 1") }
        if frames.isEmpty { throw ValidationError("give the request's frames") }
    }

    func run() async throws {
        let request = Message(try frames.map(FrameText.parse))
        let context = ZMQContext.forTool()
        let seconds = { (value: Double) in Duration.milliseconds(Int64(value * 1000)) }
        let send: (Message) async throws -> Message
        let close: () async -> Void
        do {
            switch model {
            case .agent:
                // A server named otherwise than the endpoint it was reached at is never used: say so, once.
                let told = Mutex<Set<String>>([])
                let client = try await FreelanceClient(context, servers: connect, pingInterval: seconds(ping), serverTTL: seconds(ping * 3),
                                                       requestTimeout: seconds(timeout ?? 3)) { event in
                    guard event.kind == .unknownServer, told.withLock({ $0.insert(event.server ?? "").inserted }) else { return }
                    standardError("zmq freelance-request: a server answered as \(event.server ?? "?"), not as an endpoint given with --connect;"
                                  + " its name must be the endpoint clients connect to (zmq freelance-server --name)")
                }
                (send, close) = ({ try await client.request($0) }, { await client.close() })
            case .sequential:
                // One attempt on each server; Lazy Pirate's three on a lone one.
                let retry = RetryPolicy(timeout: seconds(timeout ?? 1), attempts: connect.count == 1 ? 3 : connect.count)
                let client = LazyPirateClient.failingOver(between: connect, in: context, retry: retry, settle: .zero)
                (send, close) = ({ try await client.request($0) }, { await client.close() })
            case .shotgun:
                let client = try await FreelanceShotgunClient(context, servers: connect, requestTimeout: seconds(timeout ?? 2.5))
                (send, close) = ({ try await client.request($0) }, { await client.close() })
            }
        } catch let error as ZMQError where error.code == .invalidEndpoint {
            throw UsageError(message: "\(error)")
        }
        do {
            for _ in 0..<count { StandardOutput.writeLine(try await send(request)) }
        } catch let error as ZMQError where error.code == .noReply {
            standardError("zmq freelance-request: \(error)")
            await close()
            await context.shutdown()
            throw ExitCode(1)
        } catch let error as ZMQError where error.code == .invalidEndpoint {
            // The sequential and agent models connect on their first request.
            await close()
            await context.shutdown()
            throw UsageError(message: "\(error)")
        }
        await close()
        await context.shutdown()
    }
}
