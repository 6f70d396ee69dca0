import Foundation
import Testing
import ZMQ
import ZMQPatterns

/// The Freelance pattern against libzmq (pyzmq 27.3.0): servers and an agent client written in
/// Python from RFC 10 and the Guide (freelance.py), against ours, each way round.
@Suite("Freelance interop with libzmq", .serialized, .timeLimit(.minutes(2)))
struct FreelanceInteropTests {
    static let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("freelance.py").path

    static func endpoint(_ name: String) -> String {
        "ipc://\(NSTemporaryDirectory())zmq-fl-\(name)-\(UUID().uuidString.prefix(8)).sock"
    }

    @Test("our agent client and two Python RFC 10 servers: both are killed mid-run and one comes back on its endpoint, and every request is answered")
    func ourClientPythonServers() async throws {
        try await withInteropContext { context in
            let names = [Self.endpoint("a"), Self.endpoint("b")]
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
        try await withInteropContext { context in
            let names = [Self.endpoint("a"), Self.endpoint("b")]
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
}
