import Foundation
import Testing
import ZMQ
import ZMQTestSupport

/// Publish-subscribe and DEALER/ROUTER under PLAIN and CURVE against libzmq 4.3.5 (pyzmq 27.3.0),
/// each side as server; a refusal by pyzmq's own authenticator; and certificate files written by
/// each side and used by the other in a live handshake.
@Suite("Secured patterns interop with libzmq", .serialized, .timeLimit(.minutes(2)))
struct SecuredPatternsInteropTests {

    /// The mechanism both sides use.
    enum Security: String, CaseIterable {
        case plain, curve
    }

    static let plainClient = ["--plain-user", "admin", "--plain-password", "secret"]

    @Test("a libzmq SUB subscribes through a swift-zmq XPUB server and gets only its topic", arguments: Security.allCases, Transport.overNetwork)
    func libzmqSubscriber(security: Security, transport: Transport) async throws {
        #if CURVE
        try await withContext { context in
            let xpub = try context.socket(.xpub)
            var peerSecurity = Self.plainClient
            switch security {
            case .plain:
                SecurityInteropTests.installAdmin(on: context)
                try xpub.set(.plainServer(true))
            case .curve:
                let keys = try CurveKeyPair.generate()
                try xpub.set(.curveServer(keys))
                peerSecurity = ["--curve-server-key=" + keys.publicKey.z85]
            }
            let endpoint = try await xpub.bind(transport.freshEndpoint)
            let peer = try PythonPeer(["subscriber", "--type", "SUB", "--connect", endpoint, "--topic", "weather", "--count", "10"] + peerSecurity)
            _ = try await peer.endpoint()
            #expect(try await xpub.receive().bytes(0) == [1] + Array("weather".utf8))
            for index in 0..<10 {
                try await xpub.send(Message(Frame("sport\(index)")))
                try await xpub.send(["weather\(index)", "two frames"])
            }
            #expect(try await peer.result()["received"] as? Int == 10)
        }
        #endif
    }

    @Test("a swift-zmq SUB subscribes through a libzmq XPUB server, then cancels, and the cancel arrives", arguments: Security.allCases, Transport.overNetwork)
    func swiftSubscriber(security: Security, transport: Transport) async throws {
        #if CURVE
        try await withContext { context in
            let sub = try context.socket(.sub)
            var peerSecurity = ["--plain-server", "admin=secret"]
            switch security {
            case .plain:
                try sub.set(.plainUsername("admin"))
                try sub.set(.plainPassword("secret"))
            case .curve:
                let keys = try CurveKeyPair.generate()
                try sub.set(.curveServerKey(keys.publicKey))
                peerSecurity = ["--curve-server=" + keys.secretKey.z85]
            }
            let peer = try PythonPeer(["publisher", "--type", "XPUB", "--bind", transport.freshEndpoint, "--topic", "weather",
                                       "--count", "10", "--expect-cancel"] + peerSecurity)
            try sub.subscribe("weather")
            try await sub.connect(try await peer.endpoint())
            for index in 0..<10 {
                #expect(try await sub.receive().strings == ["weather\(index)"])
            }
            // The cancel goes as a CANCEL command (inside a box under CURVE); libzmq's XPUB hands
            // it to its application as 0x00 + topic.
            try sub.unsubscribe("weather")
            #expect(try await peer.result()["cancelled"] as? Bool == true)
        }
        #endif
    }

    @Test("DEALER and ROUTER under PLAIN, each side as server", arguments: Transport.overNetwork)
    func plainDealerRouter(transport: Transport) async throws {
        try await withContext { context in
            // swift-zmq DEALER client, libzmq ROUTER server.
            let router = try PythonPeer(["router-echo", "--type", "ROUTER", "--bind", transport.freshEndpoint, "--count", "5",
                                         "--plain-server", "admin=secret"])
            let dealer = try context.socket(.dealer)
            try dealer.set(.plainUsername("admin"))
            try dealer.set(.plainPassword("secret"))
            try await dealer.connect(try await router.endpoint())
            for index in 0..<5 {
                try await dealer.send(["request", "\(index)"])
                #expect(try await dealer.receive().strings == ["request", "\(index)"])
            }
            try await router.result()

            // libzmq DEALER client, swift-zmq ROUTER server.
            SecurityInteropTests.installAdmin(on: context)
            let server = try context.socket(.router)
            try server.set(.plainServer(true))
            let endpoint = try await server.bind(transport.freshEndpoint)
            let client = try PythonPeer(["request", "--type", "DEALER", "--routing-id", "libzmq", "--connect", endpoint,
                                         "--count", "5", "--shapes", "1,300"] + Self.plainClient)
            _ = try await client.endpoint()
            for _ in 0..<5 {
                let request = try await server.receive()
                #expect(request[0].string == "libzmq")
                #expect(request.metadata?.userID == "admin")
                try await server.send(request)
            }
            try await client.result()
        }
    }

    #if CURVE
    /// The key pair in a secret certificate file.
    static func keyPair(_ path: String) throws -> CurveKeyPair {
        guard let pair = try Certificate.load(path: path).keyPair else { throw ZMQError.invalidState("\(path) has no secret key") }
        return pair
    }

    @Test("a swift-zmq CURVE client whose key pyzmq's authenticator does not admit is refused with status 400 and backs off")
    func refusedByPyzmqAuthenticator() async throws {
        try await withContext { context in
            let serverKeys = try CurveKeyPair.generate()
            let someoneElse = try CurveKeyPair.generate()
            let peer = try PythonPeer(["recv", "--type", "PULL", "--bind", "tcp://127.0.0.1:*", "--count", "1", "--timeout", "20",
                                       "--curve-server=" + serverKeys.secretKey.z85, "--curve-allow=" + someoneElse.publicKey.z85])
            defer { peer.kill() }
            let push = try context.socket(.push)
            try push.set(.linger(.zero))
            try push.set(.curveServerKey(serverKeys.publicKey))
            let events = push.monitor()
            try await push.connect(try await peer.endpoint())
            try await push.send("must not arrive")
            var failures: [HandshakeFailure] = []
            var delays: [Duration] = []
            for await event in events {
                if let failure = event.failure { failures.append(failure) }
                if event.kind == .connectRetried, let delay = event.delay { delays.append(delay) }
                if delays.count == 3 { break }
            }
            #expect(!failures.isEmpty && failures.allSatisfy { $0.kind == .authentication && $0.status == "400" }, "\(failures)")
            #expect(delays[2] >= .milliseconds(400), "\(delays)")
            #expect(push.connectionStatistics.handshakesSucceeded == 0)
        }
    }

    @Test("certificates from pyzmq's create_certificates serve a swift-zmq server and client, and ours serve libzmq's")
    func certificatesAcross() async throws {
        let directory = NSTemporaryDirectory() + "zmq-certs-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try await withContext { context in
            // pyzmq writes; we read: our server admits the clients in its directory.
            let theirs = directory + "/pyzmq"
            try await PythonPeer(["make-certificates", "--dir", theirs]).result()
            var authenticator = StandardAuthenticator()
            authenticator.curveClients = .only(Set(try Certificate.loadPublicKeys(directory: theirs + "/clients")))
            context.setAuthenticator(authenticator)
            let pull = try context.socket(.pull)
            try pull.set(.curveServer(try Self.keyPair(theirs + "/server.key_secret")))
            let endpoint = try await pull.bind("tcp://127.0.0.1:*")
            let sender = try PythonPeer(["send", "--type", "PUSH", "--connect", endpoint, "--count", "3",
                                        "--client-cert", theirs + "/client.key_secret", "--server-public-cert", theirs + "/server.key"])
            _ = try await sender.endpoint()
            for _ in 0..<3 { _ = try await pull.receive() }
            try await sender.result()
            // And our client with pyzmq's client certificate, to the same server.
            let push = try context.socket(.push)
            try push.set(.curveKeyPair(try Self.keyPair(theirs + "/client.key_secret")))
            try push.set(.curveServerKey(try Certificate.load(path: theirs + "/server.key").publicKey))
            try await push.connect(endpoint)
            try await push.send("ours, with their certificate")
            #expect(try await pull.receive().strings == ["ours, with their certificate"])

            // We write; pyzmq reads: libzmq's server and pyzmq's authenticator use our files.
            let ours = directory + "/swift"
            try FileManager.default.createDirectory(atPath: ours + "/clients", withIntermediateDirectories: true)
            let server = try CurveKeyPair.generate()
            let client = try CurveKeyPair.generate()
            try Certificate(keyPair: server).write(to: ours + "/server.key")
            try Certificate(keyPair: client).write(to: ours + "/clients/client.key")
            let receiver = try PythonPeer(["recv", "--type", "PULL", "--bind", "tcp://127.0.0.1:*", "--count", "1",
                                           "--server-cert", ours + "/server.key_secret", "--allow-dir", ours + "/clients"])
            let ourClient = try context.socket(.push)
            try ourClient.set(.curveKeyPair(try Self.keyPair(ours + "/clients/client.key_secret")))
            try ourClient.set(.curveServerKey(try Certificate.load(path: ours + "/server.key").publicKey))
            try await ourClient.connect(try await receiver.endpoint())
            try await ourClient.send(Pattern.message(0, shapes: Pattern.parse("1")))
            #expect(try await receiver.result()["received"] as? Int == 1)
        }
    }
    #endif
}
