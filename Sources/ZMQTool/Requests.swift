import ArgumentParser
import Foundation
import ZMQ
import ZMQPatterns

struct Req: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "req",
        abstract: "Send a request and print its reply; with no reply in time, send it again on a fresh socket (Lazy Pirate).",
        discussion: """
            Prints the reply's frames on one line, separated by tabs (0x… for binary), and exits 0; \
            exits 1 when no reply has come after --retries attempts of --timeout seconds. Any REP \
            or ROUTER server answers it: the request carries a sequence number in its envelope, as \
            libzmq's REQ_CORRELATE writes it. Given --connect more than once, each attempt goes to \
            one server, the next one in turn after a timeout (a Binary Star pair, or Freelance \
            servers tried one after another), and --retries counts the attempts over all of them.
            """
    )

    @Option(help: "Connect to this endpoint, e.g. tcp://localhost:5555; more than once to fail over between servers.")
    var connect: [String] = []

    @Option(help: "With several --connect: seconds to wait before trying the next server.")
    var settle: Double = 0

    @Option(help: "Seconds to wait for each reply.")
    var timeout: Double = 2.5

    @Option(help: "How many times to send the request in all before giving up.")
    var retries: Int = 3

    @Argument(help: "The frames of the request (0x… for hex).")
    var frames: [String]

    func validate() throws {
        if timeout <= 0 { throw ValidationError("--timeout must be positive") }
        if retries < 1 { throw ValidationError("--retries must be at least 1") }
        if settle < 0 { throw ValidationError("--settle must not be negative") }
        if connect.isEmpty { throw ValidationError("give --connect ENDPOINT") }
        if frames.isEmpty { throw ValidationError("give the request's frames") }
    }

    func run() async throws {
        let request = Message(try frames.map(FrameText.parse))
        let context = ZMQContext.forTool()
        let retry = RetryPolicy(timeout: .milliseconds(Int64(timeout * 1000)), attempts: retries)
        let client = connect.count == 1
            ? LazyPirateClient(context, connectingTo: connect, retry: retry)
            : LazyPirateClient.failingOver(between: connect, in: context, retry: retry, settle: .milliseconds(Int64(settle * 1000)))
        do {
            StandardOutput.writeLine(try await client.request(request))
        } catch let error as ZMQError where error.code == .noReply {
            FileHandle.standardError.write(Data("zmq req: \(error)\n".utf8))
            await client.close()
            await context.shutdown()
            throw ExitCode(1)
        }
        await client.close()
        await context.shutdown()
    }
}

struct Rep: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rep",
        abstract: "Answer requests on a REP socket: print each, and reply with the given frames, or echo it.",
        discussion: "Each request is printed on a line, frames separated by tabs (0x… for binary). Exits 0 on SIGINT or SIGTERM."
    )

    @Option(help: "Bind to this endpoint, e.g. tcp://*:5555.")
    var bind: String

    @Option(help: "Exit after answering this many requests (default: run until interrupted).")
    var count: Int?

    @Option(parsing: .upToNextOption, help: "The reply's frames (0x… for hex); without them each request is echoed.")
    var reply: [String] = []

    func validate() throws {
        if let count, count < 1 { throw ValidationError("--count must be at least 1") }
    }

    func run() async throws {
        let answer = reply.isEmpty ? nil : Message(try reply.map(FrameText.parse))
        let context = ZMQContext.forTool()
        let socket = try ReplySocket(context)
        let endpoint = try await socket.bind(bind)
        FileHandle.standardError.write(Data("zmq rep: listening on \(endpoint)\n".utf8))
        let count = count
        // Until --count requests are answered, or SIGINT/SIGTERM (then it exits 0 too).
        try await runUntilSignalled(context, [{
            var answered = 0
            for try await request in socket.messages {
                StandardOutput.writeLine(request)
                try await socket.send(answer ?? request)
                answered += 1
                if let count, answered == count { break }
            }
            socket.close()
        }])
    }
}
