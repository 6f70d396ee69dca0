import Foundation
import Testing
import ZMQ
import ZMQTestSupport

/// CURVE against libzmq 4.3.5 (pyzmq 27.3.0), each side as server and as client, with pyzmq's own
/// authenticator on its side and ours on ours.
@Suite("CURVE interop with libzmq", .serialized, .timeLimit(.minutes(2)))
struct CurveInteropTests {

    @Test("this test run has CURVE built in")
    func built() {
        #expect(CurveAvailability.isBuilt, "run the tests with --traits CURVE, as scripts/test does")
    }

    #if CURVE
    static let shapes = "0;1;300;70000;1,2,3"

    @Test("a libzmq CURVE client's messages reach a swift-zmq CURVE server that admits its key", arguments: Transport.overNetwork)
    func libzmqClientToSwiftServer(transport: Transport) async throws {
        try await withContext { context in
            let serverKeys = try CurveKeyPair.generate()
            let clientKeys = try CurveKeyPair.generate()
            let seen = RequestLog()
            context.authenticate { request in
                seen.append(request)
                return request.credentials == [clientKeys.publicKey.bytes] ? .accepted : .denied
            }
            let pull = try context.socket(.pull)
            try pull.set(.curveServer(serverKeys))
            let endpoint = try await pull.bind(transport.freshEndpoint)
            let peer = try PythonPeer(["send", "--type", "PUSH", "--connect", endpoint, "--count", "10", "--shapes", Self.shapes,
                                       "--curve-server-key=" + serverKeys.publicKey.z85, "--curve-secret=" + clientKeys.secretKey.z85])
            _ = try await peer.endpoint()
            let parsed = Pattern.parse(Self.shapes)
            for index in 0..<10 {
                #expect(try await pull.receive() == Pattern.message(index, shapes: parsed), "message \(index)")
            }
            try await peer.result()
            #expect(seen.requests.first?.mechanism == "CURVE")
        }
    }

    @Test("a swift-zmq CURVE client's messages reach a libzmq CURVE server whose authenticator admits its key", arguments: Transport.overNetwork)
    func swiftClientToLibzmqServer(transport: Transport) async throws {
        try await withContext { context in
            let serverKeys = try CurveKeyPair.generate()
            let clientKeys = try CurveKeyPair.generate()
            let peer = try PythonPeer(["recv", "--type", "PULL", "--bind", transport.freshEndpoint, "--count", "10",
                                       "--shapes", Self.shapes, "--curve-server=" + serverKeys.secretKey.z85,
                                       "--curve-allow=" + clientKeys.publicKey.z85])
            let push = try context.socket(.push)
            try push.set(.curveKeyPair(clientKeys))
            try push.set(.curveServerKey(serverKeys.publicKey))
            try await push.connect(try await peer.endpoint())
            let parsed = Pattern.parse(Self.shapes)
            for index in 0..<10 { try await push.send(Pattern.message(index, shapes: parsed)) }
            let report = try await peer.result()
            #expect(report["received"] as? Int == 10)
        }
    }

    @Test("a libzmq SUB with heartbeats subscribes through a swift-zmq CURVE XPUB and gets only its topic")
    func libzmqSubscriber() async throws {
        try await withContext { context in
            let serverKeys = try CurveKeyPair.generate()
            let xpub = try context.socket(.xpub)
            try xpub.set(.curveServer(serverKeys))
            try xpub.set(.heartbeatInterval(.milliseconds(30)))
            let endpoint = try await xpub.bind("tcp://127.0.0.1:*")
            let peer = try PythonPeer(["subscriber", "--type", "SUB", "--connect", endpoint, "--topic", "weather", "--count", "20",
                                       "--heartbeat", "30", "--curve-server-key=" + serverKeys.publicKey.z85])
            _ = try await peer.endpoint()
            // The SUBSCRIBE command arrived in a box and became XPUB's subscription message.
            #expect(try await xpub.receive().bytes(0) == [1] + Array("weather".utf8))
            // Half a second of silence: libzmq times out after 300 ms unless our boxed PINGs and
            // PONGs reach it, and would then disconnect.
            try await Task.sleep(for: .milliseconds(500))
            #expect(xpub.connectionStatistics.disconnections == 0)
            for index in 0..<20 {
                try await xpub.send(Message(Frame("sport\(index)")))
                try await xpub.send(["weather\(index)", "more than one frame"])
            }
            let report = try await peer.result()
            #expect(report["received"] as? Int == 20)
        }
    }

    @Test("a swift-zmq SUB subscribes through a libzmq CURVE XPUB, with heartbeats both ways")
    func swiftSubscriber() async throws {
        try await withContext { context in
            let serverKeys = try CurveKeyPair.generate()
            let peer = try PythonPeer(["publisher", "--type", "XPUB", "--bind", "tcp://127.0.0.1:*", "--topic", "weather", "--count", "20",
                                       "--heartbeat", "30", "--curve-server=" + serverKeys.secretKey.z85])
            let sub = try context.socket(.sub)
            try sub.set(.curveServerKey(serverKeys.publicKey))
            try sub.set(.heartbeatInterval(.milliseconds(30)))
            try sub.set(.heartbeatTimeout(.milliseconds(300)))
            try sub.subscribe("weather")
            try await sub.connect(try await peer.endpoint())
            for index in 0..<20 {
                #expect(try await sub.receive().strings == ["weather\(index)"])
            }
            try await peer.result()
        }
    }

    @Test("DEALER and ROUTER under CURVE, each side as server", arguments: Transport.overNetwork)
    func dealerRouter(transport: Transport) async throws {
        try await withContext { context in
            let serverKeys = try CurveKeyPair.generate()
            // swift-zmq DEALER client, libzmq ROUTER server.
            let router = try PythonPeer(["router-echo", "--type", "ROUTER", "--bind", transport.freshEndpoint, "--count", "5",
                                         "--curve-server=" + serverKeys.secretKey.z85])
            let dealer = try context.socket(.dealer)
            try dealer.set(.curveServerKey(serverKeys.publicKey))
            try await dealer.connect(try await router.endpoint())
            for index in 0..<5 {
                try await dealer.send(["request", "\(index)"])
                #expect(try await dealer.receive().strings == ["request", "\(index)"])
            }
            try await router.result()

            // libzmq DEALER client, swift-zmq ROUTER server.
            let server = try context.socket(.router)
            try server.set(.curveServer(serverKeys))
            let endpoint = try await server.bind(transport.freshEndpoint)
            let client = try PythonPeer(["request", "--type", "DEALER", "--routing-id", "libzmq", "--connect", endpoint,
                                         "--count", "5", "--shapes", "1,300", "--curve-server-key=" + serverKeys.publicKey.z85])
            _ = try await client.endpoint()
            for _ in 0..<5 {
                let request = try await server.receive()
                #expect(request[0].string == "libzmq")
                try await server.send(request)
            }
            try await client.result()
        }
    }

    @Test("a libzmq client whose key our authenticator refuses sees status 400; one with the wrong server key gets nothing through")
    func refusals() async throws {
        try await withContext { context in
            let serverKeys = try CurveKeyPair.generate()
            context.authenticate { _ in .denied }
            let pull = try context.socket(.pull)
            try pull.set(.curveServer(serverKeys))
            let events = pull.monitor()
            let endpoint = try await pull.bind("tcp://127.0.0.1:*")
            let refused = try PythonPeer(["auth-failure", "--type", "PUSH", "--connect", endpoint, "--timeout", "10",
                                          "--curve-server-key=" + serverKeys.publicKey.z85])
            _ = try await refused.endpoint()
            #expect(try await refused.result()["status"] as? Int == 400)

            let impostor = try CurveKeyPair.generate()
            // Lingering forever, it keeps dialling (and is killed when the test ends).
            let wrongKey = try PythonPeer(["send", "--type", "PUSH", "--connect", endpoint, "--count", "1",
                                           "--curve-server-key=" + impostor.publicKey.z85])
            _ = try await wrongKey.endpoint()
            // Every event until the one expected, so a failure says what happened instead.
            var seen: [SocketEvent] = []
            let failure = await nextEvent(events) {
                seen.append($0)
                return $0.failure?.error == .boxDidNotOpen("HELLO")
            }
            #expect(failure != nil, "events: \(seen)")
            #expect(pull.connectionStatistics.handshakesSucceeded == 0)
            #expect(throws: ZMQError.wouldBlock) { try pull.tryReceive() }
        }
    }
    #endif
}

extension Message {
    func bytes(_ index: Int) -> [UInt8] { self[index].bytes }
}
