import Foundation
import Testing
import ZMQ
import ZMQPatterns
import ZMQTestSupport

/// The Freelance pattern against libzmq (pyzmq 27.3.0): servers and an agent client written in
/// Python from RFC 10 and the Guide (freelance.py), against ours, each way round.
@Suite("Freelance interop with libzmq", .serialized, .timeLimit(.minutes(2)))
struct FreelanceInteropTests {
    static let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("freelance.py").path

    @Test("our agent client and two Python RFC 10 servers: both are killed mid-run and one comes back on its endpoint, and every request is answered")
    func ourClientPythonServers() async throws {
        try await withContext { context in
            let names = [temporaryIPCEndpoint("a"), temporaryIPCEndpoint("b")]
            let servers = try names.map { try PythonPeer(script: Self.script, ["server3", "--bind", $0, "--timeout", "110"]) }
            for server in servers { _ = try await server.endpoint() }
            let client = try await FreelanceClient(context, servers: names, pingInterval: .milliseconds(100),
                                                   serverTTL: .milliseconds(300), requestTimeout: .seconds(10))
            for index in 0..<5 {
                let reply = try await client.request([Frame("\(index)")])
                #expect(reply == ["OK"])
            }
            servers[0].kill()
            servers[1].kill()
            let restarted = try PythonPeer(script: Self.script, ["server3", "--bind", names[1], "--timeout", "110"])
            _ = try await restarted.endpoint()
            for index in 5..<10 {
                let reply = try await client.request([Frame("\(index)")])
                #expect(reply == ["OK"])
            }
            await client.close()
            restarted.kill()
        }
    }

    @Test("the Python agent client and two of our servers, named by their endpoints: every request is answered")
    func pythonClientOurServers() async throws {
        try await withContext { context in
            let names = [temporaryIPCEndpoint("a"), temporaryIPCEndpoint("b")]
            let servers = names.map { name in
                Task { try await FreelanceServer(bind: name).run(in: context) { $0 } }
            }
            defer { for server in servers { server.cancel() } }
            let client = try PythonPeer(script: Self.script, ["client3", "--connect", names[0], "--connect", names[1], "--count", "10",
                                                              "--ping-ms", "100", "--ttl-ms", "300", "--timeout-ms", "5000"])
            let report = try await client.result()
            #expect(report["replies"] as? Int == 10)
        }
    }

    @Test("the sequential model: our client fails over between two Python REP servers (the Guide's flserver1); one killed mid-run, every request answered")
    func ourSequentialClient() async throws {
        try await withContext { context in
            let names = [temporaryIPCEndpoint("s1"), temporaryIPCEndpoint("s2")]
            let servers = try names.map { try PythonPeer(script: Self.script, ["server1", "--bind", $0, "--timeout", "110"]) }
            for server in servers { _ = try await server.endpoint() }
            let client = LazyPirateClient.failingOver(between: names, in: context, retry: RetryPolicy(timeout: .milliseconds(500), attempts: 4),
                                                       settle: .zero)
            for index in 0..<3 {
                let reply = try await client.request([Frame("\(index)")])
                #expect(reply == [Frame("\(index)")], "flserver1 echoes")
            }
            servers[0].kill()
            for index in 3..<6 {
                let reply = try await client.request([Frame("\(index)")])
                #expect(reply == [Frame("\(index)")])
            }
            await client.close()
            servers[1].kill()
        }
    }

    @Test("the shotgun model: our client and two Python REP servers answering [sequence, OK] (the Guide's flserver2); one killed mid-run, every request answered")
    func ourShotgunClient() async throws {
        try await withContext { context in
            let names = [temporaryIPCEndpoint("g1"), temporaryIPCEndpoint("g2")]
            let servers = try names.map { try PythonPeer(script: Self.script, ["server2", "--bind", $0, "--timeout", "110"]) }
            for server in servers { _ = try await server.endpoint() }
            let client = try await FreelanceShotgunClient(context, servers: names, requestTimeout: .seconds(10))
            for index in 0..<3 {
                let reply = try await client.request([Frame("\(index)")])
                #expect(reply == ["OK"])
            }
            servers[0].kill()
            for index in 3..<6 {
                let reply = try await client.request([Frame("\(index)")])
                #expect(reply == ["OK"])
            }
            await client.close()
            servers[1].kill()
        }
    }

    @Test("the Python sequential and shotgun clients (flclient1, flclient2) against two of our REP servers: every request answered")
    func pythonSequentialAndShotgunClients() async throws {
        try await withContext { context in
            let names = [temporaryIPCEndpoint("r1"), temporaryIPCEndpoint("r2")]
            var serving: [Task<Void, any Error>] = []
            for name in names {
                let rep = try ReplySocket(context)
                _ = try await rep.bind(name)
                serving.append(Task { try await rep.serve { Message($0.frames.prefix(1) + ["OK"]) } })
            }
            defer { for task in serving { task.cancel() } }
            let sequential = try PythonPeer(script: Self.script, ["client1", "--connect", temporaryIPCEndpoint("none"), "--connect", names[0],
                                                                  "--count", "5", "--timeout-ms", "500"])
            let first = try await sequential.result()
            #expect(first["ok"] as? Bool == true && first["replies"] as? Int == 5, "\(first)")
            let shotgun = try PythonPeer(script: Self.script, ["client2", "--connect", names[0], "--connect", names[1], "--count", "5"])
            let second = try await shotgun.result()
            #expect(second["ok"] as? Bool == true && second["replies"] as? Int == 5, "\(second)")
        }
    }
}
