import Foundation
import Testing
import ZMQ
import ZMQTestSupport

/// `zmq freelance-server` and `zmq freelance-request` in the Guide's three models, run as a user would run them.
@Suite("zmq freelance", .serialized, .timeLimit(.minutes(2)))
struct FreelanceToolTests {
    typealias Running = ToolTests.Running

    static func server(_ bind: String, _ answer: [String]) async throws -> Running {
        let running = try Running(["freelance-server", "--bind", bind] + answer)
        let lines = BinaryStarToolTests.Lines(running.errors.fileHandleForReading)
        _ = await lines.waitFor("zmq freelance-server: listening on \(bind) as \(bind)")
        return running
    }

    @Test("the agent model: two servers (--echo, --exec), --count 3 over one client; one server killed (SIGKILL), the other answers; SIGTERM ends a server with 0")
    func agent() async throws {
        let (a, b) = (temporaryIPCEndpoint(), temporaryIPCEndpoint())
        let echo = try await Self.server(a, ["--echo"])
        let upper = try await Self.server(b, ["--exec", "tr a-z A-Z"])
        let asked = try await ToolTests.run(["freelance-request", "--connect", a, "--connect", b, "--ping", "0.1", "--count", "3", "hello", "world"])
        #expect(asked.status == 0, "\(asked.errors)")
        let lines = asked.output.split(separator: "\n")
        #expect(lines.count == 3 && lines.allSatisfy { $0 == "hello\tworld" || $0 == "HELLO\tWORLD" }, "\(asked.output)")
        kill(echo.process.processIdentifier, SIGKILL)
        _ = await echo.finish()
        let after = try await ToolTests.run(["freelance-request", "--connect", a, "--connect", b, "--ping", "0.1", "--count", "2", "again"])
        #expect(after.status == 0 && after.output == "AGAIN\nAGAIN\n", "\(after.errors)")
        upper.process.terminate()
        #expect(await upper.finish().status == 0)
    }

    @Test("a server whose --name is not the endpoint the client dials is never used: the request times out with exit 1, not a hang")
    func misnamed() async throws {
        let endpoint = temporaryIPCEndpoint()
        let server = try Running(["freelance-server", "--bind", endpoint, "--name", "tcp://elsewhere:1", "--echo"])
        let asked = try await ToolTests.run(["freelance-request", "--connect", endpoint, "--ping", "0.1", "--timeout", "0.5", "hi"])
        #expect(asked.status == 1 && asked.errors.contains("no server answered"), "\(asked.errors)")
        server.process.terminate()
        #expect(await server.finish().status == 0)
    }

    @Test("the shotgun model against two zmq rep servers: one line per reply though both answer; the sequential model passes over a silent server")
    func shotgunAndSequential() async throws {
        let (one, two, silent) = (temporaryIPCEndpoint(), temporaryIPCEndpoint(), temporaryIPCEndpoint())
        let reps = try [one, two].map { try Running(["rep", "--bind", $0]) }
        let shot = try await ToolTests.run(["freelance-request", "--model", "shotgun", "--connect", one, "--connect", two, "--count", "3", "shot"])
        #expect(shot.status == 0 && shot.output == "shot\nshot\nshot\n", "\(shot.errors)")
        let context = ZMQContext()
        let router = try context.socket(.router)
        try await router.bind(silent)  // takes requests and never answers
        let sequential = try await ToolTests.run(["freelance-request", "--model", "sequential", "--connect", silent, "--connect", one,
                                                  "--timeout", "0.3", "--count", "2", "seq"])
        #expect(sequential.status == 0 && sequential.output == "seq\nseq\n", "\(sequential.errors)")
        let nobody = try await ToolTests.run(["freelance-request", "--model", "sequential", "--connect", silent, "--timeout", "0.1", "x"])
        #expect(nobody.status == 1 && nobody.errors.contains("no reply after 3 attempts"), "\(nobody.errors)")
        for rep in reps {
            rep.process.terminate()
            #expect(await rep.finish().status == 0)
        }
        await context.shutdown()
    }

    @Test("usage errors: no server, no frames, both --echo and --exec, an unknown model", arguments: [
        (["freelance-request", "hi"], "give --connect ENDPOINT"),
        (["freelance-request", "--connect", "tcp://localhost:1"], "give the request's frames"),
        (["freelance-server", "--bind", "tcp://*:1", "--echo", "--exec", "cat"], "exactly one of --echo or --exec"),
        (["freelance-request", "--connect", "tcp://localhost:1", "--model", "brutal", "hi"], "brutal"),
        (["freelance-request", "--model", "sequential", "--connect", "nonsense", "hi"], "invalid endpoint"),
        (["freelance-request", "--model", "agent", "--connect", "nonsense", "hi"], "invalid endpoint"),
        (["broker", "--bind", "tcp://*:1", "--state-heartbeat", "0.5"], "--state-heartbeat is for a Binary Star pair"),
        (["broker", "--bind", "tcp://*:1", "--primary"], "needs --primary or --backup with both --state-bind and --state-connect"),
    ])
    func usage(arguments: [String], message: String) async throws {
        let run = try await ToolTests.run(arguments)
        #expect(run.status == 2 && run.errors.contains(message), "\(run.errors)")
    }
}
