import Foundation
import NIOCore
import Testing
import ZMQ
import ZMTP
import ZMQTestSupport

/// CURVE between swift-zmq sockets: encrypted traffic, who gets in, and what a wrong key does.
@Suite("CURVE security", .timeLimit(.minutes(1)))
struct CurveSecurityTests {
    @Test("this test run has CURVE built in (scripts/test builds with the CURVE trait)")
    func built() {
        #expect(CurveAvailability.isBuilt, "run the tests with --traits CURVE, as scripts/test does")
    }

    #if CURVE
    static func serverAndClient(
        _ context: ZMQContext, _ serverType: SocketType, _ clientType: SocketType, transport: Transport,
        serverKeys: CurveKeyPair, clientServerKey: CurvePublicKey, clientKeys: CurveKeyPair? = nil
    ) async throws -> (server: ZMQSocket, client: ZMQSocket, clientEvents: AsyncStream<SocketEvent>, endpoint: String) {
        let server = try context.socket(serverType)
        try server.set(.curveServer(serverKeys))
        let endpoint = try await server.bind(transport.freshEndpoint)
        let client = try context.socket(clientType)
        try client.set(.linger(.zero))
        if let clientKeys { try client.set(.curveKeyPair(clientKeys)) }
        try client.set(.curveServerKey(clientServerKey))
        let events = client.monitor()
        try await client.connect(endpoint)
        return (server, client, events, endpoint)
    }

    @Test("messages of every size cross both ways, multipart intact", arguments: [Transport.tcp, .ipc])
    func roundTrip(transport: Transport) async throws {
        try await withContext { context in
            let serverKeys = try CurveKeyPair.generate()
            let (server, client, _, _) = try await Self.serverAndClient(context, .router, .dealer, transport: transport,
                                                                    serverKeys: serverKeys, clientServerKey: serverKeys.publicKey)
            let big = Frame([UInt8](repeating: 0x5A, count: 300_000))
            try await client.send(["", "hello", big])
            let request = try await server.receive()
            #expect(request.count == 4)
            #expect(request[3] == big)
            try await server.send(Message([request[0], "", "world"]))
            #expect(try await client.receive().strings == ["", "world"])
        }
    }

    @Test("the authenticator sees the client's public key and can refuse it")
    func authenticatorDecides() async throws {
        try await withContext { context in
            let serverKeys = try CurveKeyPair.generate()
            let allowed = try CurveKeyPair.generate()
            let refused = try CurveKeyPair.generate()
            context.authenticate { request in
                request.mechanism == "CURVE" && request.credentials == [allowed.publicKey.bytes] ? .accepted : .denied
            }
            let (pull, push, _, endpoint) = try await Self.serverAndClient(context, .pull, .push, transport: .tcp, serverKeys: serverKeys,
                                                                clientServerKey: serverKeys.publicKey, clientKeys: allowed)
            try await push.send("from the allowed key")
            #expect(try await pull.receive().strings == ["from the allowed key"])

            let other = try context.socket(.push)
            try other.set(.linger(.zero))
            try other.set(.curveKeyPair(refused))
            try other.set(.curveServerKey(serverKeys.publicKey))
            let events = other.monitor()
            try await other.connect(endpoint)
            try await other.send("must not arrive")
            let failure = await nextEvent(events) { $0.kind == .handshakeFailed }?.failure
            #expect(failure?.kind == .authentication && failure?.status == "400", "\(String(describing: failure))")
            #expect(failure?.error == .authenticationFailed(status: "400"))
            #expect(throws: ZMQError.wouldBlock) { try pull.tryReceive() }
        }
    }

    @Test("a client with the wrong server key cannot connect, nothing is delivered, and it backs off")
    func wrongServerKey() async throws {
        try await withContext { context in
            let serverKeys = try CurveKeyPair.generate()
            let impostor = try CurveKeyPair.generate()
            let (pull, push, events, _) = try await Self.serverAndClient(context, .pull, .push, transport: .tcp, serverKeys: serverKeys,
                                                                     clientServerKey: impostor.publicKey)
            let serverEvents = pull.monitor()
            try await push.send("must not arrive")
            let failure = await nextEvent(serverEvents) { $0.kind == .handshakeFailed }?.failure
            #expect(failure?.kind == .protocolError && failure?.error == .boxDidNotOpen("HELLO"), "\(String(describing: failure))")
            // The server closes without a word, as libzmq's does; the client sees its handshake
            // cut short, and each retry waits twice as long as the one before.
            let (clientFailures, delays) = await failuresAndRetryDelays(events, retries: 4)
            #expect(!clientFailures.isEmpty && clientFailures.allSatisfy { $0.kind == .closed }, "\(clientFailures)")
            // 100 ms, 200 ms, 400 ms, 800 ms, each with up to one base interval of jitter.
            #expect(delays[1] >= .milliseconds(200) && delays[3] >= .milliseconds(800), "\(delays)")
            #expect(pull.connectionStatistics.handshakesSucceeded == 0)
            #expect(throws: ZMQError.wouldBlock) { try pull.tryReceive() }
        }
    }

    /// A CURVE client of our own state machine over a plain TCP socket, handshake done, so a
    /// test can put on the wire what no well-behaved client would.
    static func rawCurveClient(port: Int, serverKey: CurvePublicKey) throws -> (RawPeer, Connection) {
        let peer = try RawPeer(port: port)
        var client = Connection(configuration: .init(socketType: .push, security: .curveClient(serverKey: serverKey, keyPair: try CurveKeyPair.generate())))
        peer.send(Array(buffer: client.start()))
        while !client.isOpen {
            let octets = peer.readSome()
            guard !octets.isEmpty else { throw ZMQError.invalidState("the server closed during the handshake") }
            var input = ByteBuffer(bytes: octets)
            loop: while true {
                switch client.receive(&input) {
                case .write(let output): peer.send(Array(buffer: output))
                case .needMoreData: break loop
                case .close(let error, _): throw ZMQError.invalidState("handshake failed: \(error)")
                default: continue
                }
            }
        }
        return (peer, client)
    }

    @Test("a MESSAGE replayed, tampered with or cut short after a real handshake closes that connection with a typed reason; nothing of it is delivered and the server goes on serving",
          arguments: ["replayed", "tampered", "truncated"])
    func brokenTraffic(attack: String) async throws {
        try await withContext { context in
            let serverKeys = try CurveKeyPair.generate()
            let pull = try context.socket(.pull)
            try pull.set(.curveServer(serverKeys))
            let events = pull.monitor()
            let endpoint = try await pull.bind("tcp://127.0.0.1:*")
            let (peer, client) = try await onThread { Result { try Self.rawCurveClient(port: port(of: endpoint), serverKey: serverKeys.publicKey) } }.get()
            var sealer = client
            var first = ByteBuffer()
            sealer.seal(Message(Frame("first")), subscriptionsAsCommands: false, into: &first)
            peer.send(Array(buffer: first))
            #expect(try await pull.receive().strings == ["first"])

            var second = ByteBuffer()
            sealer.seal(Message(Frame("second")), subscriptionsAsCommands: false, into: &second)
            var octets = Array(buffer: second)
            let expected: ZMTPError
            switch attack {
            case "replayed":
                octets = Array(buffer: first)
                expected = .nonceNotIncreasing(received: 3, last: 3)
            case "tampered":
                octets[octets.count - 1] ^= 0x01
                expected = .boxDidNotOpen("MESSAGE")
            default:
                // A MESSAGE too short to hold a nonce and a box.
                octets = [0x00, 20] + [7] + Array("MESSAGE".utf8) + [UInt8](repeating: 0, count: 12)
                expected = .malformedCommand("MESSAGE of 20 octets (at least \(8 + 8 + 16 + 1))")
            }
            peer.send(octets)
            let closed = await nextEvent(events) { $0.kind == .disconnected }
            #expect(closed?.failure?.kind == .protocolError, "\(String(describing: closed))")
            #expect(closed?.failure?.error == expected, "\(String(describing: closed))")
            #expect(throws: ZMQError.wouldBlock) { try pull.tryReceive() }
            #expect(peer.readSome().isEmpty, "the server closed the connection")

            // Still serving.
            let push = try context.socket(.push)
            try push.set(.curveServerKey(serverKeys.publicKey))
            try await push.connect(endpoint)
            try await push.send("legitimate")
            #expect(try await pull.receive().strings == ["legitimate"])
        }
    }

    @Test("subscriptions and heartbeats travel inside the boxes")
    func pubSubWithHeartbeats() async throws {
        try await withContext { context in
            let serverKeys = try CurveKeyPair.generate()
            let pub = try context.socket(.xpub)
            try pub.set(.curveServer(serverKeys))
            try pub.set(.heartbeatInterval(.milliseconds(20)))
            let endpoint = try await pub.bind("tcp://127.0.0.1:*")
            let sub = try context.socket(.sub)
            try sub.set(.curveServerKey(serverKeys.publicKey))
            try sub.set(.heartbeatInterval(.milliseconds(20)))
            try sub.set(.heartbeatTimeout(.milliseconds(200)))
            let events = sub.monitor()
            try sub.subscribe("weather")
            try await sub.connect(endpoint)
            // XPUB hears the subscription, so it reached the publisher through the box.
            #expect(try await pub.receive().bytes(0) == [1] + Array("weather".utf8))
            try await pub.send(["weather", "sunny"])
            try await pub.send(["sport", "not subscribed"])
            try await pub.send(["weather", "rain"])
            #expect(try await sub.receive().strings == ["weather", "sunny"])
            #expect(try await sub.receive().strings == ["weather", "rain"])
            _ = events
        }
    }
    #endif
}

extension Message {
    func bytes(_ index: Int) -> [UInt8] { self[index].bytes }
}
