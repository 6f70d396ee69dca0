import Foundation
import Testing
@testable import ZMQ
import ZMQTestSupport

/// PLAIN between swift-zmq sockets: who gets in, who does not, and how a refused client retries.
@Suite("PLAIN security", .timeLimit(.minutes(1)))
struct PlainSecurityTests {
    static func admitAdmin(_ context: ZMQContext) {
        context.authenticate { request in
            request.plainCredentials.map { $0 == ("admin", "secret") } == true ? .accepted : .denied
        }
    }

    static func plainPair(
        _ context: ZMQContext, transport: Transport, password: String
    ) async throws -> (pull: ZMQSocket, push: ZMQSocket, pushEvents: AsyncStream<SocketEvent>) {
        let pull = try context.socket(.pull)
        try pull.set(.plainServer(true))
        let endpoint = try await pull.bind(transport.freshEndpoint)
        let push = try context.socket(.push)
        try push.set(.plainUsername("admin"))
        try push.set(.plainPassword(password))
        try push.set(.linger(.zero))
        let events = push.monitor()
        try await push.connect(endpoint)
        return (pull, push, events)
    }

    @Test("the right password gets in and messages flow", arguments: [Transport.tcp, .ipc])
    func admitted(transport: Transport) async throws {
        try await withContext { context in
            Self.admitAdmin(context)
            let (pull, push, _) = try await Self.plainPair(context, transport: transport, password: "secret")
            try await push.send(["job", "42"])
            #expect(try await pull.receive().strings == ["job", "42"])
            #expect(pull.connectionStatistics.handshakesSucceeded == 1)
        }
    }

    @Test("a wrong password is refused with status 400, nothing is delivered, and retries back off")
    func refusedAndBacksOff() async throws {
        try await withContext { context in
            Self.admitAdmin(context)
            let (pull, push, events) = try await Self.plainPair(context, transport: .tcp, password: "wrong")
            try await push.send("must not arrive")
            let (failures, delays) = await failuresAndRetryDelays(events, retries: 4)
            #expect(!failures.isEmpty && failures.allSatisfy { $0.kind == .authentication && $0.status == "400" }, "\(failures)")
            #expect(failures.first?.error == .authenticationFailed(status: "400"))
            // 100 ms, 200 ms, 400 ms, 800 ms, each with up to half again of jitter.
            #expect(delays[3] >= .milliseconds(800), "\(delays)")
            #expect(delays[1] >= .milliseconds(200))
            #expect(pull.connectionStatistics.handshakesSucceeded == 0)
            #expect(throws: ZMQError.wouldBlock) { try pull.tryReceive() }
        }
    }

    @Test("a refused client with reconnectIntervalMax set backs off only up to it, as libzmq's maximum is a maximum")
    func refusedBacksOffToTheMaximum() async throws {
        try await withContext { context in
            Self.admitAdmin(context)
            let pull = try context.socket(.pull)
            try pull.set(.plainServer(true))
            let endpoint = try await pull.bind("tcp://127.0.0.1:*")
            let push = try context.socket(.push, options: [.plainUsername("admin"), .plainPassword("wrong"), .linger(.zero),
                                                           .reconnectInterval(.milliseconds(20)), .reconnectIntervalMax(.milliseconds(80))])
            let events = push.monitor()
            try await push.connect(endpoint)
            let (failures, delays) = await failuresAndRetryDelays(events, retries: 6)
            #expect(failures.allSatisfy { $0.kind == .authentication })
            // 20, 40, 80, 80, … ms, each with up to one base interval of jitter.
            #expect(delays.allSatisfy { $0 < .milliseconds(100) }, "\(delays)")
            #expect(delays[2...].allSatisfy { $0 >= .milliseconds(80) }, "\(delays)")
        }
    }

    @Test("without an authenticator a PLAIN server refuses every client, as libzmq does")
    func noAuthenticator() async throws {
        try await withContext { context in
            let pull = try context.socket(.pull)
            try pull.set(.plainServer(true))
            let serverEvents = pull.monitor()
            let endpoint = try await pull.bind("tcp://127.0.0.1:*")
            let push = try context.socket(.push)
            try push.set(.plainUsername("admin"))
            try push.set(.linger(.zero))
            try await push.connect(endpoint)
            let event = await nextEvent(serverEvents) { $0.kind == .handshakeFailed }
            #expect(event.map { "\($0)".contains("no authenticator is installed") } == true, "\(String(describing: event))")
        }
    }

    @Test("a NULL client and a PLAIN server do not connect: each side sees a mechanism mismatch")
    func mechanismMismatch() async throws {
        try await withContext { context in
            Self.admitAdmin(context)
            let pull = try context.socket(.pull)
            try pull.set(.plainServer(true))
            let endpoint = try await pull.bind("tcp://127.0.0.1:*")
            let push = try context.socket(.push)
            try push.set(.linger(.zero))
            let events = push.monitor()
            try await push.connect(endpoint)
            let event = await nextEvent(events) { $0.kind == .handshakeFailed }
            #expect(event.map { "\($0)".contains("mechanism mismatch") } == true, "\(String(describing: event))")
            #expect(event?.failure?.kind == .mechanismMismatch)
        }
    }

    @Test("PLAIN credentials longer than 255 octets are refused when set")
    func longCredentials() throws {
        let context = ZMQContext()
        let socket = try context.socket(.push)
        let long = String(repeating: "x", count: 256)
        #expect(throws: ZMQError.invalidOption(name: "plainUsername", reason: "must be at most 255 octets of UTF-8, not 256")) {
            try socket.set(.plainUsername(long))
        }
        #expect(throws: ZMQError.self) { try socket.set(.plainPassword(long)) }
        #expect(throws: ZMQError.self) { try socket.set(.zapDomain(long)) }
    }
}

/// The ready-made authenticator's rules, and NULL sockets that ask it.
@Suite("Standard authenticator", .timeLimit(.minutes(1)))
struct StandardAuthenticatorTests {
    static func request(_ mechanism: String, _ credentials: [[UInt8]] = [], address: String = "10.0.0.1") -> ZAPRequest {
        ZAPRequest(domain: "", address: address, identity: [], mechanism: mechanism, credentials: credentials)
    }

    @Test("addresses are denied or allowed before credentials are looked at")
    func addresses() {
        var auth = StandardAuthenticator()
        auth.plainUsers = ["admin": "secret"]
        let good = Self.request("PLAIN", [Array("admin".utf8), Array("secret".utf8)])
        #expect(auth.decide(good).statusCode == "200")
        #expect(auth.decide(good).userID == "admin")
        auth.deniedAddresses = ["10.0.0.1"]
        #expect(auth.decide(good).statusCode == "400")
        auth.deniedAddresses = []
        auth.allowedAddresses = ["10.0.0.2"]
        #expect(auth.decide(good).statusCode == "400")
        #expect(auth.decide(Self.request("PLAIN", [Array("admin".utf8), Array("secret".utf8)], address: "10.0.0.2")).statusCode == "200")
        #expect(auth.decide(Self.request("PLAIN", [Array("admin".utf8), Array("wrong".utf8)], address: "10.0.0.2")).statusCode == "400")
    }

    @Test("CURVE keys from a list, or any key")
    func curveKeys() throws {
        let known = try CurvePublicKey(z85: "rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7")
        var auth = StandardAuthenticator()
        #expect(auth.decide(Self.request("CURVE", [known.bytes])).statusCode == "400")
        auth.curveClients = .only([known])
        #expect(auth.decide(Self.request("CURVE", [known.bytes])).statusCode == "200")
        #expect(auth.decide(Self.request("CURVE", [[UInt8](repeating: 1, count: 32)])).statusCode == "400")
        auth.curveClients = .any
        #expect(auth.decide(Self.request("CURVE", [[UInt8](repeating: 1, count: 32)])).statusCode == "200")
    }

    @Test("a password file of user=password lines, with comments")
    func passwordFile() throws {
        let path = NSTemporaryDirectory() + "zmq-passwords-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        try "# who may log in\nadmin=secret\n\nguest=a=b\n".write(toFile: path, atomically: true, encoding: .utf8)
        defer { unlink(path) }
        #expect(try StandardAuthenticator.loadPasswords(path: path) == ["admin": "secret", "guest": "a=b"])
        try "no equals sign\n".write(toFile: path, atomically: true, encoding: .utf8)
        #expect(throws: ZMQError.self) { try StandardAuthenticator.loadPasswords(path: path) }
    }

    @Test("a NULL socket with a ZAP domain asks the authenticator, which can refuse by address")
    func nullWithDomain() async throws {
        try await withContext { context in
            var auth = StandardAuthenticator()
            auth.deniedAddresses = ["127.0.0.1"]
            context.setAuthenticator(auth)
            let pull = try context.socket(.pull)
            try pull.set(.zapDomain("global"))
            let endpoint = try await pull.bind("tcp://127.0.0.1:*")
            let push = try context.socket(.push)
            try push.set(.linger(.zero))
            let events = push.monitor()
            try await push.connect(endpoint)
            let failure = await nextEvent(events) { $0.kind == .handshakeFailed }
            #expect(failure.map { "\($0)".contains("status 400") } == true, "\(String(describing: failure))")

            // Without a domain, the same authenticator is not asked.
            let open = try context.socket(.pull)
            let openEndpoint = try await open.bind("tcp://127.0.0.1:*")
            let other = try context.socket(.push)
            try await other.connect(openEndpoint)
            try await other.send("in")
            #expect(try await open.receive().strings == ["in"])
        }
    }
}

/// A ZAP handler served the libzmq way, by an ordinary socket on inproc://zeromq.zap.01.
@Suite("ZAP handler on inproc", .timeLimit(.minutes(1)))
struct ZAPHandlerTests {
    /// Answers every request as 27/ZAP says: admits admin/secret, refuses anything else.
    static func serve(_ handler: ZMQSocket, router: Bool, seen: RequestFrames, allowedCurveKey: CurvePublicKey? = nil) -> Task<Void, Never> {
        Task {
            while let request = try? await handler.receive() {
                // A ROUTER sees the routing id and the empty delimiter first; a REP does not.
                let envelope = router ? Array(request.prefix(2)) : []
                let frames = Array(request.dropFirst(envelope.count))
                seen.append(frames.map(\.bytes))
                let admitted = frames.count == 8 && frames[5].string == "PLAIN" && frames[6].string == "admin" && frames[7].string == "secret"
                    || frames.count == 7 && frames[5].string == "CURVE" && allowedCurveKey.map { frames[6].bytes == $0.bytes } == true
                // The user id and a property (ZMTP metadata: name length, name, value length, value).
                let department = [10] + Array("Department".utf8) + [0, 0, 0, 3] + Array("ops".utf8)
                let reply: [Frame] = ["1.0", frames[1], admitted ? "200" : "400", admitted ? "OK" : "no",
                                      admitted ? "admin" : "", admitted ? Frame(department) : Frame()]
                try? await handler.send(Message(envelope + reply))
            }
        }
    }

    @Test("a REP or ROUTER handler decides for a PLAIN server", arguments: [false, true])
    func handler(router: Bool) async throws {
        try await withContext { context in
            let handler = try context.socket(router ? .router : .rep)
            try await handler.bind("inproc://zeromq.zap.01")
            let seen = RequestFrames()
            let serving = Self.serve(handler, router: router, seen: seen)
            defer { serving.cancel() }

            let pull = try context.socket(.pull)
            try pull.set(.plainServer(true))
            try pull.set(.zapDomain("test"))
            try pull.set(.routingID(Array("server".utf8)))
            let endpoint = try await pull.bind("tcp://127.0.0.1:*")
            let good = try context.socket(.push)
            try good.set(.plainUsername("admin"))
            try good.set(.plainPassword("secret"))
            try await good.connect(endpoint)
            try await good.send("admitted")
            let received = try await pull.receive()
            #expect(received.strings == ["admitted"])
            // What the handler said of the peer travels with every message from it.
            #expect(received.metadata?.userID == "admin")
            #expect(received.metadata?["Department"] == "ops")
            #expect(received.metadata?.peerAddress == "127.0.0.1")

            let bad = try context.socket(.push)
            try bad.set(.plainUsername("admin"))
            try bad.set(.plainPassword("wrong"))
            try bad.set(.linger(.zero))
            let events = bad.monitor()
            try await bad.connect(endpoint)
            let failure = await nextEvent(events) { $0.kind == .handshakeFailed }
            #expect(failure.map { "\($0)".contains("status 400") } == true, "\(String(describing: failure))")

            // The request's frames, as RFC 27 lists them (the id is ours to choose).
            let first = try #require(seen.frames.first)
            #expect(first.count == 8)
            #expect(first[0] == Array("1.0".utf8))
            #expect(first[2] == Array("test".utf8))
            #expect(first[3] == Array("127.0.0.1".utf8))
            #expect(first[4] == Array("server".utf8), "libzmq sends the server socket's routing id")
            #expect(first[5] == Array("PLAIN".utf8))
        }
    }
}

extension ZAPHandlerTests {
    @Test("a REP handler decides for a CURVE server by the client's public key")
    func curveHandler() async throws {
        try await withContext { context in
            let serverKeys = try CurveKeyPair.generate()
            let allowed = try CurveKeyPair.generate()
            let handler = try context.socket(.rep)
            try await handler.bind("inproc://zeromq.zap.01")
            let serving = Self.serve(handler, router: false, seen: RequestFrames(), allowedCurveKey: allowed.publicKey)
            defer { serving.cancel() }
            let (pull, push, _, endpoint) = try await CurveSecurityTests.serverAndClient(
                context, .pull, .push, transport: .tcp, serverKeys: serverKeys, clientServerKey: serverKeys.publicKey, clientKeys: allowed)
            try await push.send("from the allowed key")
            let received = try await pull.receive()
            #expect(received.strings == ["from the allowed key"])
            #expect(received.metadata?.userID == "admin")

            let stranger = try context.socket(.push)
            try stranger.set(.linger(.zero))
            try stranger.set(.curveServerKey(serverKeys.publicKey))
            let events = stranger.monitor()
            try await stranger.connect(endpoint)
            let failure = await nextEvent(events) { $0.kind == .handshakeFailed }?.failure
            #expect(failure?.kind == .authentication && failure?.status == "400", "\(String(describing: failure))")
        }
    }
}

@Suite("Authenticators by domain", .timeLimit(.minutes(1)))
struct DomainAuthenticatorTests {
    @Test("each socket's ZAP domain picks its authenticator; a domain without one is refused")
    func domains() async throws {
        try await withContext { context in
            var admins = StandardAuthenticator()
            admins.plainUsers = ["admin": "secret"]
            var guests = StandardAuthenticator()
            guests.plainUsers = ["guest": "guest"]
            context.setAuthenticator(DomainAuthenticator(["admins": admins, "guests": guests]))

            func server(domain: String) async throws -> (ZMQSocket, String) {
                let pull = try context.socket(.pull)
                try pull.set(.plainServer(true))
                try pull.set(.zapDomain(domain))
                return (pull, try await pull.bind("tcp://127.0.0.1:*"))
            }
            func client(_ user: String, _ password: String, to endpoint: String) async throws -> (ZMQSocket, AsyncStream<SocketEvent>) {
                let push = try context.socket(.push)
                try push.set(.linger(.zero))
                try push.set(.plainUsername(user))
                try push.set(.plainPassword(password))
                let events = push.monitor()
                try await push.connect(endpoint)
                return (push, events)
            }
            let (adminServer, adminEndpoint) = try await server(domain: "admins")
            let (guestServer, guestEndpoint) = try await server(domain: "guests")
            let (_, unknownEndpoint) = try await server(domain: "nobody")

            let (admin, _) = try await client("admin", "secret", to: adminEndpoint)
            try await admin.send("admin in")
            #expect(try await adminServer.receive().strings == ["admin in"])
            let (guest, _) = try await client("guest", "guest", to: guestEndpoint)
            try await guest.send("guest in")
            #expect(try await guestServer.receive().strings == ["guest in"])

            // The guest's password means nothing in the admins' domain, nor anything in one with no authenticator.
            for endpoint in [adminEndpoint, unknownEndpoint] {
                let (_, events) = try await client("guest", "guest", to: endpoint)
                let failure = await nextEvent(events) { $0.kind == .handshakeFailed }?.failure
                #expect(failure?.kind == .authentication && failure?.status == "400", "\(String(describing: failure))")
            }
        }
    }

    @Test("NULL with a ZAP domain and no authenticator installed lets every peer in, as libzmq does")
    func nullDomainWithoutAuthenticator() async throws {
        try await withContext { context in
            let pull = try context.socket(.pull)
            try pull.set(.zapDomain("global"))
            let endpoint = try await pull.bind("tcp://127.0.0.1:*")
            let push = try context.socket(.push)
            try await push.connect(endpoint)
            try await push.send("in")
            #expect(try await pull.receive().strings == ["in"])
        }
    }
}

/// The frames of the requests a handler saw.
final class RequestFrames: @unchecked Sendable {
    private let lock = NSLock()
    private var stored: [[[UInt8]]] = []
    var frames: [[[UInt8]]] { lock.withLock { stored } }
    func append(_ request: [[UInt8]]) { lock.withLock { stored.append(request) } }
}

@Suite("Authenticator answers", .timeLimit(.minutes(1)))
struct AuthenticatorAnswerTests {
    @Test("a status other than 200, 300, 400 or 500 becomes 500, so nothing else reaches the peer")
    func sanitised() {
        #expect(ZMTPEngine.sanitised(AuthenticationReply(statusCode: "400 bad password for bob")).statusCode == "500")
        #expect(ZMTPEngine.sanitised(AuthenticationReply(statusCode: "300")).statusCode == "300")
        #expect(ZMTPEngine.sanitised(.accepted) == .accepted)
    }

    @Test("a ZAP request prints without its credentials")
    func quietRequest() {
        let request = ZAPRequest(domain: "d", address: "10.0.0.1", identity: [], mechanism: "PLAIN", credentials: [Array("u".utf8), Array("hunter2".utf8)])
        #expect(!"\(request)".contains("hunter2"))
    }
}
