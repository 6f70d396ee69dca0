import Foundation
import Testing
import ZMQ
import ZMQPatterns
import ZMQTestSupport

/// Binary Star against libzmq (pyzmq 27.3.0): a server written in Python from the Guide's bstar.c
/// (bstar.py) paired with ours, each way round, with the active server killed mid-run.
@Suite("Binary Star interop with libzmq", .serialized, .timeLimit(.minutes(2)))
struct BinaryStarInteropTests {
    static let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("bstar.py").path

    /// A Python server of the pair, its endpoints read, its first state line read.
    static func pythonServer(primary: Bool, frontend: String, stateBind: String, stateConnect: String) async throws -> PythonPeer {
        let peer = try PythonPeer(script: script, ["server", primary ? "--primary" : "--backup", "--frontend", frontend,
                                                   "--state-bind", stateBind, "--state-connect", stateConnect,
                                                   "--heartbeat", "100", "--timeout", "110"])
        for _ in 0..<3 { _ = try await peer.endpoint() }
        return peer
    }

    /// Our server of the pair; its events as a stream.
    static func ourServer(primary: Bool, frontend: String, stateBind: String, stateConnect: String, in context: ZMQContext)
        -> (Task<Void, any Error>, AsyncStream<BinaryStarEvent>) {
        var server = BinaryStar(primary: primary, frontend: frontend, statePublisher: stateBind, stateSubscriber: stateConnect)
        server.heartbeat = .milliseconds(100)
        let (events, continuation) = AsyncStream.makeStream(of: BinaryStarEvent.self)
        server.onEvent = { continuation.yield($0) }
        let configured = server
        return (Task { try await configured.run(in: context) { Message(["swift"] + $0.frames) } }, events)
    }

    static func waitFor(_ state: BinaryStarState, in events: AsyncStream<BinaryStarEvent>) async {
        for await event in events where event.kind == .stateChanged && event.state == state { return }
    }

    static func client(_ frontends: [String], in context: ZMQContext) -> LazyPirateClient {
        .failingOver(between: frontends, in: context, retry: RetryPolicy(timeout: .milliseconds(300), attempts: 20), settle: .milliseconds(100))
    }

    @Test("our primary and a Python backup: the primary serves, dies, the Python backup takes over on the client's vote, and our restarted primary stands by")
    func ourPrimaryPythonBackup() async throws {
        try await withContext { context in
            let (front1, front2, state1, state2) = (temporaryIPCEndpoint("f1"), temporaryIPCEndpoint("f2"), temporaryIPCEndpoint("s1"), temporaryIPCEndpoint("s2"))
            let backup = try await Self.pythonServer(primary: false, frontend: front2, stateBind: state2, stateConnect: state1)
            var (primary, events) = Self.ourServer(primary: true, frontend: front1, stateBind: state1, stateConnect: state2, in: context)
            await Self.waitFor(.active, in: events)
            try await backup.waitFor("STATE PASSIVE")
            let client = Self.client([front1, front2], in: context)
            for index in 0..<5 {
                let reply = try await client.request(["\(index)"])
                #expect(reply == ["swift", Frame("\(index)")])
            }
            primary.cancel()
            _ = await primary.result
            for index in 5..<10 {
                let reply = try await client.request(["\(index)"])
                #expect(reply == [Frame("\(index)"), "python"])
            }
            try await backup.waitFor("STATE ACTIVE")
            (primary, events) = Self.ourServer(primary: true, frontend: front1, stateBind: state1, stateConnect: state2, in: context)
            defer { primary.cancel() }
            await Self.waitFor(.passive, in: events)
            let last = try await client.request(["10"])
            #expect(last == ["10", "python"])
            await client.close()
            backup.kill()
        }
    }

    @Test("a Python primary and our backup: the Python primary is killed mid-run, our backup takes over, and a restarted Python primary stands by")
    func pythonPrimaryOurBackup() async throws {
        try await withContext { context in
            let (front1, front2, state1, state2) = (temporaryIPCEndpoint("f1"), temporaryIPCEndpoint("f2"), temporaryIPCEndpoint("s1"), temporaryIPCEndpoint("s2"))
            var primary = try await Self.pythonServer(primary: true, frontend: front1, stateBind: state1, stateConnect: state2)
            let (backup, events) = Self.ourServer(primary: false, frontend: front2, stateBind: state2, stateConnect: state1, in: context)
            defer { backup.cancel() }
            await Self.waitFor(.passive, in: events)
            try await primary.waitFor("STATE ACTIVE")
            let client = Self.client([front1, front2], in: context)
            for index in 0..<5 {
                let reply = try await client.request(["\(index)"])
                #expect(reply == [Frame("\(index)"), "python"])
            }
            primary.kill()  // SIGKILL: no goodbye
            for index in 5..<10 {
                let reply = try await client.request(["\(index)"])
                #expect(reply == ["swift", Frame("\(index)")])
            }
            await Self.waitFor(.active, in: events)
            primary = try await Self.pythonServer(primary: true, frontend: front1, stateBind: state1, stateConnect: state2)
            try await primary.waitFor("STATE PASSIVE")
            let last = try await client.request(["10"])
            #expect(last == ["swift", "10"])
            await client.close()
            primary.kill()
        }
    }
}
