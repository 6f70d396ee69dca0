import Foundation
import Testing
import ZMQ
import ZMQTestSupport

/// swift-zmq against libzmq 4.3.5 (pyzmq 27.3.0), over loopback, in both directions and with
/// either side binding.
@Suite("Interop with libzmq", .serialized, .timeLimit(.minutes(2)))
struct InteropTests {
    enum Binder: String, CaseIterable { case swift, libzmq }
    enum Flow: String, CaseIterable { case swiftPushesToLibzmq, libzmqPushesToSwift, pairEcho }

    /// Empty, short, the largest short frame, the smallest long frame, 1 MiB, and five frames.
    static let shapes = "0;1;255;256;1048576;1,2,3,4,5"

    @Test("pyzmq 27.3.0 with libzmq 4.3.5 is the peer")
    func peerVersion() throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = [PythonPeer.python, "-c", "import zmq; print(zmq.__version__, zmq.zmq_version())"]
        let output = Pipe()
        process.standardOutput = output
        try process.run()
        process.waitUntilExit()
        let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        #expect(text.trimmingCharacters(in: .whitespacesAndNewlines) == "27.3.0 4.3.5")
    }

    @Test("message sizes and multipart", arguments: Transport.overNetwork, Binder.allCases)
    func sizes(transport: Transport, binder: Binder) async throws {
        for flow in Flow.allCases {
            try await exchange(flow: flow, transport: transport, binder: binder, count: 12, shapes: Self.shapes)
        }
    }

    @Test("100,000 messages in order, none lost", arguments: Flow.allCases.filter { $0 != .pairEcho })
    func manyInOrder(flow: Flow) async throws {
        try await exchange(flow: flow, transport: .tcp, binder: flow == .swiftPushesToLibzmq ? .libzmq : .swift, count: 100_000, shapes: "8;0;17")
    }

    func exchange(flow: Flow, transport: Transport, binder: Binder, count: Int, shapes: String) async throws {
        try await withContext { context in
            try await exchange(flow: flow, transport: transport, binder: binder, count: count, shapes: shapes, context: context)
        }
    }

    func exchange(flow: Flow, transport: Transport, binder: Binder, count: Int, shapes: String, context: ZMQContext) async throws {
        let (swiftType, peerType, mode): (SocketType, String, String) = switch flow {
        case .swiftPushesToLibzmq: (.push, "PULL", "recv")
        case .libzmqPushesToSwift: (.pull, "PUSH", "send")
        case .pairEcho: (.pair, "PAIR", "echo")
        }
        let socket = try context.socket(swiftType)
        let local = transport.freshEndpoint
        var arguments = [mode, "--type", peerType, "--count", "\(count)", "--shapes", shapes]
        let peer: PythonPeer
        if binder == .swift {
            let endpoint = try await socket.bind(local)
            peer = try PythonPeer(arguments + ["--connect", endpoint])
            _ = try await peer.endpoint()
        } else {
            arguments += ["--bind", local]
            peer = try PythonPeer(arguments)
            try await socket.connect(try await peer.endpoint())
        }
        let parsed = Pattern.parse(shapes)
        switch flow {
        case .swiftPushesToLibzmq:
            for index in 0..<count { try await socket.send(Pattern.message(index, shapes: parsed)) }
        case .libzmqPushesToSwift:
            for index in 0..<count {
                let message = try await socket.receive()
                guard message == Pattern.message(index, shapes: parsed) else {
                    Issue.record("message \(index) differs: sizes \(message.map(\.count))")
                    break
                }
            }
        case .pairEcho:
            for index in 0..<count { try await socket.send(Pattern.message(index, shapes: parsed)) }
            for index in 0..<count {
                let message = try await socket.receive()
                #expect(message == Pattern.message(index, shapes: parsed), "echo \(index)")
            }
        }
        socket.close()  // linger: everything queued reaches the wire first
        await socket.waitUntilClosed()
        try await peer.result()
    }

    @Test("a killed libzmq peer is reconnected to after it restarts")
    func peerRestart() async throws {
        try await withContext { context in
            let first = try PythonPeer(["recv", "--type", "PULL", "--bind", "tcp://127.0.0.1:*", "--sequence", "--count", "1000000", "--progress", "1000"])
            let endpoint = try await first.endpoint()
            let push = try context.socket(.push)
            try push.set(.reconnectInterval(.milliseconds(20)))
            try push.set(.linger(.zero))
            try await push.connect(endpoint)
            let sender = Task {
                var counter: UInt64 = 0
                while !Task.isCancelled {
                    counter += 1
                    var bytes = [UInt8](repeating: 0, count: 8)
                    for shift in 0..<8 { bytes[shift] = UInt8(truncatingIfNeeded: counter >> (56 - 8 * UInt64(shift))) }
                    try await push.send(Message(Frame(bytes)))
                }
            }
            try await first.waitFor("PROGRESS")
            first.kill()
            // The same port, a new process: swift-zmq must find it by itself.
            let second = try PythonPeer(["recv", "--type", "PULL", "--bind", endpoint, "--sequence", "--count", "1000", "--timeout", "20"])
            _ = try await second.endpoint()
            let report = try await second.result()
            sender.cancel()
            _ = await sender.result
            #expect(report["received"] as? Int == 1000)
        }
    }

    @Test("a silent peer is dropped by heartbeat timeout")
    func heartbeatTimeout() async throws {
        try await withContext { context in
            let push = try context.socket(.push)
            try push.set(.heartbeatInterval(.milliseconds(100)))
            try push.set(.heartbeatTimeout(.milliseconds(300)))
            let endpoint = try await push.bind("tcp://127.0.0.1:*")
            let address = endpoint.replacingOccurrences(of: "tcp://", with: "")
            let peer = try PythonPeer(["silent", "--type", "PULL", "--connect", address, "--timeout", "10"])
            let report = try await peer.result()
            #expect((report["pings"] as? Int ?? 0) >= 1)
            #expect((report["closed_after"] as? Double ?? 99) < 5)
        }
    }

    @Test("a hand-written ZMTP 3.0 peer completes the handshake and exchanges messages")
    func zmtp30Peer() async throws {
        try await withContext { context in
            let pair = try context.socket(.pair)
            let endpoint = try await pair.bind("tcp://127.0.0.1:*")
            let address = endpoint.replacingOccurrences(of: "tcp://", with: "")
            let peer = try PythonPeer(["zmtp30", "--type", "PAIR", "--connect", address])
            let message = try await pair.receive()
            #expect(message.strings == ["hello from 3.0", "second frame"])
            try await pair.send("hello from swift")
            let report = try await peer.result()
            #expect(report["peer_minor"] as? Int == 1)
            #expect(report["socket_type"] as? String == "PAIR")
            #expect(report["message"] as? String == "hello from swift")
        }
    }
}
