import Foundation
import Testing
import ZMQ
import ZMQPatterns
import ZMQTestSupport

/// Clone (12/CHP) against a server and clients written in Python from the RFC (clone.py, on
/// pyzmq), each way round, subtrees and ephemeral keys included; and pyzmq publishers and
/// subscribers through our last value cache.
@Suite("Clone interop", .serialized, .timeLimit(.minutes(2)))
struct CloneInteropTests {
    static let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("clone.py").path

    static func endpoints() -> CloneEndpoints {
        CloneEndpoints(snapshot: temporaryIPCEndpoint("chp-s"), publisher: temporaryIPCEndpoint("chp-p"), collector: temporaryIPCEndpoint("chp-c"))
    }

    static func pythonClient(_ server: CloneEndpoints, _ arguments: [String]) throws -> PythonPeer {
        try PythonPeer(script: script, ["client", "--snapshot", server.snapshot, "--subscriber", server.publisher,
                                        "--publisher", server.collector, "--timeout", "60"] + arguments)
    }

    static func map(_ report: [String: Any]) -> [String: String] {
        report["map"] as? [String: String] ?? [:]
    }

    @Test("our server, RFC clients in Python: their sets reach our client and each other, a subtree client sees only its keys, a ttl expires for all")
    func ourServer() async throws {
        try await withContext { context in
            let endpoints = Self.endpoints()
            var server = CloneServer(endpoints: endpoints)
            server.heartbeat = .milliseconds(100)
            let running = Task { try await server.run(in: context) }
            let ours = try await CloneClient(context, servers: [endpoints], serverTimeout: .seconds(2))
            try await ours.waitUntilSynchronized()
            try await ours.set("/a/ours", "1")
            let writer = try Self.pythonClient(endpoints, ["--set", "/a/py=2", "--set", "/b/py=3", "--set", "/a/temp=4", "--ttl", "/a/temp=0.4",
                                                          "--until-gone", "/a/temp"])
            let written = try await writer.result()
            #expect(Self.map(written) == ["/a/ours": "1", "/a/py": "2", "/b/py": "3"])
            let subtree = try Self.pythonClient(endpoints, ["--subtree", "/a/", "--until", "/a/late=5"])
            try await subtree.waitFor("SNAPSHOT")
            try await ours.set("/b/late", "no")
            try await ours.set("/a/late", "5")
            let filtered = try await subtree.result()
            #expect(Self.map(filtered) == ["/a/ours": "1", "/a/py": "2", "/a/late": "5"])
            #expect(ours.values == ["/a/ours": "1", "/a/py": "2", "/b/py": "3", "/b/late": "no", "/a/late": "5"])
            #expect(filtered["sequence"] as? Int == Int(ours.sequence))
            await ours.close()
            running.cancel()
        }
    }

    @Test("an RFC server in Python, our clients: sets, deletes, a subtree, an ephemeral key; the server's map is ours")
    func theirServer() async throws {
        try await withContext { context in
            let endpoints = Self.endpoints()
            let server = try PythonPeer(script: Self.script, ["server", "--snapshot", endpoints.snapshot, "--publisher", endpoints.publisher,
                                                              "--collector", endpoints.collector, "--heartbeat", "100", "--timeout", "100"])
            try await server.waitFor("READY")
            let writer = try await CloneClient(context, servers: [endpoints], serverTimeout: .seconds(3))
            let onlyB = try await CloneClient(context, servers: [endpoints], subtree: "/b/", serverTimeout: .seconds(3))
            try await writer.waitUntilSynchronized()
            try await onlyB.waitUntilSynchronized()
            let changes = writer.changes()
            try await writer.set("/a/1", "one")
            try await writer.set("/b/1", "two")
            try await writer.set("/a/1", "")
            try await writer.set("/b/session", "alive", ttl: .milliseconds(300))
            for await change in changes where change.key == "/b/session" && change.value == nil { break }
            let more = writer.changes()
            try await onlyB.set("/b/2", "three")
            if writer["/b/2"] == nil { for await change in more where change.key == "/b/2" { break } }
            #expect(writer.values == ["/b/1": "two", "/b/2": "three"])
            #expect(onlyB.values == ["/b/1": "two", "/b/2": "three"])
            let late = try await CloneClient(context, servers: [endpoints], serverTimeout: .seconds(3))
            try await late.waitUntilSynchronized()
            #expect(late.values == writer.values && late.sequence == writer.sequence)
            for client in [writer, onlyB, late] { await client.close() }
            server.terminate()
            let report = try await server.result()
            #expect(Self.map(report) == ["/b/1": "two", "/b/2": "three"] && report["sequence"] as? Int == 6)
        }
    }

    @Test("pyzmq publisher and two pyzmq subscribers of one topic through our last value cache: each late subscriber gets the last value at once, the first again when the second joins")
    func lastValueCache() async throws {
        try await withContext { context in
            let (upstream, downstream) = (temporaryIPCEndpoint("lvc-up"), temporaryIPCEndpoint("lvc-down"))
            let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("lvc_peer.py").path
            let publisher = try PythonPeer(script: script, ["publish", "--bind", upstream, "--messages", "a=1;b=1;a=2;z=end"])
            _ = try await publisher.endpoint()
            let running = Task { try await LastValueCache(frontend: upstream, backend: downstream).run(in: context) }
            // "z" comes last: once it is through the cache (kept, or passing live), so is the rest.
            let marker = try context.socket(.sub)
            try marker.subscribe("z")
            try await marker.connect(downstream)
            #expect(try await marker.receive() == ["z", "end"])
            let late = try PythonPeer(script: script, ["subscribe", "--connect", downstream, "--subscribe", "a", "--count", "2"])
            try await late.waitFor("RECEIVED a 2")
            // A second subscription to "a": the cache hears it too, and sends the last value to both.
            let later = try PythonPeer(script: script, ["subscribe", "--connect", downstream, "--subscribe", "a"])
            #expect(try await later.result()["received"] as? [String] == ["a 2"])
            #expect(try await late.result()["received"] as? [String] == ["a 2", "a 2"])
            publisher.terminate()
            try await publisher.result()
            running.cancel()
        }
    }
}
