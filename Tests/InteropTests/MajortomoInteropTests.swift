import Foundation
import Testing
import ZMQ
import ZMQPatterns
import ZMQTestSupport

/// The majortomo dialect against the real majortomo 0.2.0 (PyPI, on pyzmq), whose broker,
/// client and worker majortomo_peer.py runs: its client and worker through our broker, and our
/// client and worker (`.majortomo`) through its broker.
@Suite("Majordomo interop with majortomo", .serialized, .timeLimit(.minutes(2)))
struct MajortomoInteropTests {
    static let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("majortomo_peer.py").path

    @Test("majortomo's client and worker through our broker, partial replies included")
    func theirPeersOurBroker() async throws {
        try await withContext { context in
            let endpoint = temporaryIPCEndpoint()
            var broker = MajordomoBroker(endpoint: endpoint)
            broker.heartbeat = .milliseconds(200)
            let log = EventLog(of: MajordomoBrokerEvent.self)
            broker.onEvent = log.handler
            let running = Task { try await broker.run(in: context) }
            defer { running.cancel() }
            let worker = try PythonPeer(script: Self.script, ["worker", "--connect", endpoint, "--service", "echo", "--count", "3",
                                                              "--partials", "2", "--heartbeat-interval", "0.2"])
            _ = try await worker.endpoint()
            while log.count(.workerReady) < 1 { try await Task.sleep(for: .milliseconds(5)) }
            let client = try PythonPeer(script: Self.script, ["client", "--connect", endpoint, "--service", "echo", "--count", "3"])
            _ = try await client.endpoint()
            let replies = try await client.result()["replies"] as? [[String: Any]] ?? []
            #expect(replies.count == 3)
            for (index, reply) in replies.enumerated() {
                #expect(reply["final"] as? [String] == ["python", "request \(index)"])
                #expect(reply["partials"] as? [[String]] == [["partial 0"], ["partial 1"]])
            }
            #expect(try await worker.result()["served"] as? Int == 3)
            // majortomo's worker says DISCONNECT when it closes: the broker forgets it.
            while log.count(.workerLost) < 1 { try await Task.sleep(for: .milliseconds(5)) }
        }
    }

    @Test("majortomo's client served by our 18/MDP worker, through our broker")
    func theirClientOurWorker() async throws {
        try await withContext { context in
            let endpoint = temporaryIPCEndpoint()
            let running = Task { try await MajordomoBroker(endpoint: endpoint).run(in: context) }
            defer { running.cancel() }
            let serving = Task {
                try await MajordomoWorker(connectingTo: endpoint, service: "upper").run(in: context) { request, partial in
                    try partial(["busy"])
                    return Message(request.frames.map { Frame(($0.string ?? "").uppercased()) })
                }
            }
            defer { serving.cancel() }
            let client = try PythonPeer(script: Self.script, ["client", "--connect", endpoint, "--service", "upper", "--count", "2"])
            _ = try await client.endpoint()
            let replies = try await client.result()["replies"] as? [[String: Any]] ?? []
            #expect(replies.map { $0["final"] as? [String] } == [["REQUEST 0"], ["REQUEST 1"]])
            #expect(replies.map { $0["partials"] as? [[String]] } == [[["busy"]], [["busy"]]])
        }
    }

    @Test("our client (several requests in flight) and worker in the majortomo dialect, through majortomo's broker")
    func ourPeersTheirBroker() async throws {
        try await withContext { context in
            let broker = try PythonPeer(script: Self.script, ["broker", "--bind", temporaryIPCEndpoint(), "--heartbeat-interval", "0.2", "--count", "6"])
            let endpoint = try await broker.endpoint()
            var worker = MajordomoWorker(connectingTo: endpoint, service: "upper")
            worker.version = .majortomo
            worker.heartbeat = .milliseconds(200)
            let serving = Task {
                try await worker.run(in: context) { request, partial in
                    try partial(["busy"])
                    return Message(request.frames.map { Frame(($0.string ?? "").uppercased()) })
                }
            }
            defer { serving.cancel() }
            // majortomo has no MMI; its broker keeps a request until a worker of its service comes.
            let client = MajordomoClient(context, connectingTo: endpoint, version: .majortomo, timeout: .seconds(20), attempts: 1, maxInFlight: 3)
            let (partials, final) = try await client.requestWithPartials(service: "upper", ["hello"])
            #expect(partials == [["busy"]])
            #expect(final == ["HELLO"])
            let replies = try await withThrowingTaskGroup(of: (Int, Message).self) { group in
                for index in 0..<5 { group.addTask { (index, try await client.request(service: "upper", ["request \(index)"])) } }
                return try await group.reduce(into: [:]) { $0[$1.0] = $1.1 }
            }
            for (index, reply) in replies { #expect(reply == ["REQUEST \(index)"]) }
            await client.close()
            let report = try await broker.result()
            #expect(report["replies"] as? Int == 6 && report["partials"] as? Int == 6)
            #expect((report["warnings"] as? [Any])?.isEmpty != false, "majortomo found nothing to complain about: \(report)")
        }
    }
}
