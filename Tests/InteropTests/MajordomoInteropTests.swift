import Foundation
import Testing
import ZMQ
import ZMQPatterns
import ZMQTestSupport

/// Majordomo against libzmq (pyzmq 27.3.0): clients and workers written in Python from 7/MDP and
/// 18/MDP (mdp.py) through our broker, of each version, and our worker serving Python clients.
@Suite("Majordomo interop with libzmq", .serialized, .timeLimit(.minutes(2)))
struct MajordomoInteropTests {
    static let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("mdp.py").path

    @Test("Python clients and workers of both versions, through our broker", arguments: MajordomoVersion.rfc, MajordomoVersion.rfc)
    func pythonPeers(client: MajordomoVersion, worker: MajordomoVersion) async throws {
        try await withContext { context in
            let endpoint = temporaryIPCEndpoint()
            var broker = MajordomoBroker(endpoint: endpoint)
            broker.heartbeat = .milliseconds(200)
            let log = EventLog(of: MajordomoBrokerEvent.self)
            broker.onEvent = log.handler
            let running = Task { try await broker.run(in: context) }
            defer { running.cancel() }
            let partials = worker == .v02 ? 2 : 0
            let workerPeer = try PythonPeer(script: Self.script, ["worker", "--connect", endpoint, "--service", "echo", "--count", "3",
                                                                  "--version", worker.rawValue, "--partials", "\(partials)", "--heartbeat", "200"])
            _ = try await workerPeer.endpoint()
            while log.count(.workerReady) < 1 { try await Task.sleep(for: .milliseconds(5)) }
            let clientPeer = try PythonPeer(script: Self.script, ["client", "--connect", endpoint, "--service", "echo", "--count", "3",
                                                                  "--version", client.rawValue])
            _ = try await clientPeer.endpoint()
            let report = try await clientPeer.result()
            let replies = report["replies"] as? [Any] ?? []
            #expect(replies.count == 3)
            for (index, reply) in replies.enumerated() {
                if client == .v01 {
                    #expect(reply as? [String] == ["python", "request \(index)"])
                } else {
                    let reply = reply as? [String: Any]
                    #expect(reply?["final"] as? [String] == ["python", "request \(index)"])
                    // A 0.2 client sees a 0.2 worker's partials; a 0.1 worker has none.
                    #expect((reply?["partials"] as? [[String]])?.count == partials)
                }
            }
            #expect(try await workerPeer.result()["served"] as? Int == 3)
        }
    }

    @Test("our worker of each version serves Python clients of each version", arguments: MajordomoVersion.rfc)
    func ourWorker(version: MajordomoVersion) async throws {
        try await withContext { context in
            let endpoint = temporaryIPCEndpoint()
            let running = Task { try await MajordomoBroker(endpoint: endpoint).run(in: context) }
            defer { running.cancel() }
            var worker = MajordomoWorker(connectingTo: endpoint, service: "upper")
            worker.version = version
            let serving = Task { try await worker.run(in: context) { Message($0.frames.map { Frame(($0.string ?? "").uppercased()) }) } }
            defer { serving.cancel() }
            for clientVersion in MajordomoVersion.rfc {
                let clientPeer = try PythonPeer(script: Self.script, ["client", "--connect", endpoint, "--service", "upper", "--count", "2",
                                                                      "--version", clientVersion.rawValue])
                _ = try await clientPeer.endpoint()
                let replies = try await clientPeer.result()["replies"] as? [Any] ?? []
                let finals = replies.map { ($0 as? [String]) ?? (($0 as? [String: Any])?["final"] as? [String]) ?? [] }
                #expect(finals == [["REQUEST 0"], ["REQUEST 1"]])
            }
        }
    }

    @Test("our clients (synchronous and asynchronous) and workers of each version through a Python broker written from the RFCs", arguments: MajordomoVersion.rfc)
    func pythonBroker(version: MajordomoVersion) async throws {
        try await withContext { context in
            let broker = try PythonPeer(script: Self.script, ["broker", "--bind", temporaryIPCEndpoint(), "--heartbeat", "200", "--count", "9"])
            let endpoint = try await broker.endpoint()
            var worker = MajordomoWorker(connectingTo: endpoint, service: "upper")
            worker.version = version
            worker.heartbeat = .milliseconds(200)
            let serving = Task {
                try await worker.run(in: context) { request, partial in
                    try partial(["working"])
                    return Message(request.frames.map { Frame(($0.string ?? "").uppercased()) })
                }
            }
            defer { serving.cancel() }
            let client = MajordomoClient(context, connectingTo: endpoint, version: version, timeout: .seconds(10), maxInFlight: 4)
            while try await !client.hasService("upper") { try await Task.sleep(for: .milliseconds(20)) }
            #expect(try await !client.hasService("nobody"))
            let (partials, final) = try await client.requestWithPartials(service: "upper", ["hello"])
            #expect(final == ["HELLO"])
            // A 0.1 client sees only the final reply; a 0.2 client also the partial, from a 0.2 worker.
            #expect(partials == (version == .v02 ? [["working"]] : []))
            let replies = try await withThrowingTaskGroup(of: (Int, Message).self) { group in
                for index in 0..<8 { group.addTask { (index, try await client.request(service: "upper", ["request \(index)"])) } }
                return try await group.reduce(into: [:]) { $0[$1.0] = $1.1 }
            }
            for (index, reply) in replies { #expect(reply == ["REQUEST \(index)"]) }
            // The broker stops after forwarding its 9 replies, and reports.
            await client.close()
            let report = try await broker.result()
            #expect(report["forwarded"] as? Int == 9)
            #expect(report["workers_seen"] as? [String] == ["upper"])
        }
    }
}
