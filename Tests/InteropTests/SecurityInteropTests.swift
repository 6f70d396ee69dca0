import Foundation
import Testing
import ZMQ
import ZMQTestSupport

/// PLAIN against libzmq 4.3.5 (pyzmq 27.3.0), whose server side uses pyzmq's own ZAP handler.
@Suite("Security interop with libzmq", .serialized, .timeLimit(.minutes(2)))
struct SecurityInteropTests {

    static let shapes = "0;1;300;1,2,3"

    /// A PLAIN server that admits admin/secret.
    static func installAdmin(on context: ZMQContext, seen: RequestLog? = nil) {
        context.authenticate { request in
            seen?.append(request)
            let credentials = request.plainCredentials
            guard credentials?.username == "admin", credentials?.password == "secret" else { return .denied }
            return AuthenticationReply(statusCode: "200", statusText: "OK", userID: "admin")
        }
    }

    @Test("a libzmq PLAIN client is admitted by a swift-zmq PLAIN server and its messages arrive", arguments: Transport.overNetwork)
    func libzmqClientToSwiftServer(transport: Transport) async throws {
        try await withContext { context in
            let seen = RequestLog()
            Self.installAdmin(on: context, seen: seen)
            let pull = try context.socket(.pull)
            try pull.set(.plainServer(true))
            try pull.set(.zapDomain("interop"))
            let endpoint = try await pull.bind(transport.freshEndpoint)
            let peer = try PythonPeer(["send", "--type", "PUSH", "--connect", endpoint, "--count", "8", "--shapes", Self.shapes,
                                       "--plain-user", "admin", "--plain-password", "secret"])
            _ = try await peer.endpoint()
            let parsed = Pattern.parse(Self.shapes)
            for index in 0..<8 {
                let message = try await pull.receive()
                #expect(message == Pattern.message(index, shapes: parsed), "message \(index)")
                // Each carries the user id our authenticator gave, and what libzmq announced.
                #expect(message.metadata?.userID == "admin")
                #expect(message.metadata?.socketType == "PUSH")
                #expect(message.metadata?.peerAddress == (transport == .tcp ? "127.0.0.1" : nil))
            }
            try await peer.result()
            let request = try #require(seen.requests.first)
            #expect(request.mechanism == "PLAIN")
            #expect(request.domain == "interop")
            #expect(request.plainCredentials?.username == "admin")
            #expect(request.address == (transport == .tcp ? "127.0.0.1" : ""))
        }
    }

    @Test("a swift-zmq PLAIN client is admitted by a libzmq PLAIN server and its messages arrive", arguments: Transport.overNetwork)
    func swiftClientToLibzmqServer(transport: Transport) async throws {
        try await withContext { context in
            let peer = try PythonPeer(["recv", "--type", "PULL", "--bind", transport.freshEndpoint, "--count", "8", "--shapes", Self.shapes,
                                       "--plain-server", "admin=secret"])
            let push = try context.socket(.push)
            try push.set(.plainUsername("admin"))
            try push.set(.plainPassword("secret"))
            try await push.connect(try await peer.endpoint())
            let parsed = Pattern.parse(Self.shapes)
            for index in 0..<8 { try await push.send(Pattern.message(index, shapes: parsed)) }
            let report = try await peer.result()
            #expect(report["received"] as? Int == 8)
        }
    }

    @Test("a libzmq PLAIN server refuses a wrong password: the swift-zmq client sees status 400 and sends nothing")
    func wrongPasswordRefusedByLibzmq() async throws {
        try await withContext { context in
            let peer = try PythonPeer(["recv", "--type", "PULL", "--bind", "tcp://127.0.0.1:*", "--count", "1", "--timeout", "2",
                                       "--plain-server", "admin=secret"])
            let push = try context.socket(.push)
            try push.set(.plainUsername("admin"))
            try push.set(.plainPassword("wrong"))
            try push.set(.linger(.zero))
            let events = push.monitor()
            try await push.connect(try await peer.endpoint())
            try await push.send("must not arrive")
            let failure = await nextEvent(events) { $0.kind == .handshakeFailed }
            guard let reason = failure?.failure else { Issue.record("no handshake failure"); return }
            #expect(reason.kind == .authentication && reason.status == "400", "\(reason)")
            await #expect(throws: PythonPeer.Failure.self) { try await peer.result() }
        }
    }

    /// libzmq closes at once when the mechanisms differ, but its greeting, which names its
    /// mechanism, is sent first: the client reports the mismatch, not a peer that went away.
    @Test("a swift-zmq NULL client of a libzmq PLAIN or CURVE server reports mechanismMismatch", arguments: ["PLAIN", "CURVE"])
    func nullClientOfSecuredLibzmqServer(mechanism: String) async throws {
        try await withContext { context in
            var security = ["--plain-server", "admin=secret"]
            #if CURVE
            if mechanism == "CURVE" { security = ["--curve-server=" + (try CurveKeyPair.generate()).secretKey.z85] }
            #else
            if mechanism == "CURVE" { return }
            #endif
            let peer = try PythonPeer(["recv", "--type", "PULL", "--bind", "tcp://127.0.0.1:*", "--count", "1", "--timeout", "5"] + security)
            let push = try context.socket(.push)
            try push.set(.linger(.zero))
            let events = push.monitor()
            try await push.connect(try await peer.endpoint())
            let failure = await nextEvent(events) { $0.kind == .handshakeFailed }?.failure
            #expect(failure?.kind == .mechanismMismatch, "\(String(describing: failure))")
            #expect(failure?.error == .mechanismMismatch(ours: "NULL", theirs: mechanism))
            peer.kill()
        }
    }

    @Test("a swift-zmq PLAIN server refuses a wrong password: the libzmq client's monitor reports status 400")
    func wrongPasswordRefusedBySwift() async throws {
        try await withContext { context in
            Self.installAdmin(on: context)
            let pull = try context.socket(.pull)
            try pull.set(.plainServer(true))
            let endpoint = try await pull.bind("tcp://127.0.0.1:*")
            let peer = try PythonPeer(["auth-failure", "--type", "PUSH", "--connect", endpoint, "--timeout", "10",
                                       "--plain-user", "admin", "--plain-password", "wrong"])
            _ = try await peer.endpoint()
            let report = try await peer.result()
            #expect(report["status"] as? Int == 400)
            #expect(pull.connectionStatistics.handshakesSucceeded == 0)
            #expect(throws: ZMQError.wouldBlock) { try pull.tryReceive() }
        }
    }
}

/// The authentication requests an authenticator saw.
final class RequestLog: @unchecked Sendable {
    private let lock = NSLock()
    private var stored: [ZAPRequest] = []
    var requests: [ZAPRequest] { lock.withLock { stored } }
    func append(_ request: ZAPRequest) { lock.withLock { stored.append(request) } }
}

/// Waits for the first event that matches, from a monitor opened before the action.
func nextEvent(_ events: AsyncStream<SocketEvent>, where matches: (SocketEvent) -> Bool) async -> SocketEvent? {
    for await event in events where matches(event) { return event }
    return nil
}
