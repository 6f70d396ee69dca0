import NIOCore
import Testing
@testable import ZMTP

/// 24/ZMTP-PLAIN through the connection state machine, octet by octet, without a socket.
@Suite("PLAIN mechanism")
struct PlainMechanismTests {
    static let client = Connection.Configuration(socketType: .push, security: .plainClient(username: "admin", password: "secret"))
    static let server = Connection.Configuration(socketType: .pull, security: .plainServer)

    /// The octets of a command frame: short COMMAND flag, size, body.
    static func command(_ body: [UInt8]) -> [UInt8] { [0x04, UInt8(body.count)] + body }

    static func plainGreeting(asServer: Bool) -> ByteBuffer {
        Greeting(minor: 1, mechanism: "PLAIN", asServer: asServer).encoded
    }

    // Written out from the RFC's grammar, not produced by our encoder.
    static let hello = command([5] + ascii("HELLO") + [5] + ascii("admin") + [6] + ascii("secret"))
    static let welcome = command([7] + ascii("WELCOME"))
    static let initiatePush = command([8] + ascii("INITIATE") + [11] + ascii("Socket-Type") + [0, 0, 0, 4] + ascii("PUSH"))
    static let readyPull = command([5] + ascii("READY") + [11] + ascii("Socket-Type") + [0, 0, 0, 4] + ascii("PULL"))

    @Test("the greeting names PLAIN; the server sets as-server, the client does not")
    func greetings() {
        let clientGreeting = bytes(Connection(configuration: Self.client).start())
        let serverGreeting = bytes(Connection(configuration: Self.server).start())
        #expect(Array(clientGreeting[12..<17]) == ascii("PLAIN"))
        #expect(clientGreeting[32] == 0)
        #expect(serverGreeting[32] == 1)
    }

    @Test("client: HELLO after the greeting, INITIATE after WELCOME, open after READY", arguments: [nil, 1, 5] as [Int?])
    func clientHandshake(chunkSize: Int?) throws {
        var client = Connection(configuration: Self.client)
        // libzmq's servers leave as-server at zero: the role comes from our configuration alone.
        var actions = feed(&client, Self.plainGreeting(asServer: false), chunkSize: chunkSize)
        #expect(actions.count == 1)
        #expect(actions.first.flatMap(\.written).map(bytes) == Self.hello)

        actions = feed(&client, buffer(Self.welcome), chunkSize: chunkSize)
        #expect(actions.count == 1)
        #expect(actions.first.flatMap(\.written).map(bytes) == Self.initiatePush)
        #expect(!client.isOpen)

        actions = feed(&client, buffer(Self.readyPull), chunkSize: chunkSize)
        let peer = try #require(actions.first?.peerInfo)
        #expect(peer.socketType == .pull)
        #expect(peer.mechanism == "PLAIN")
        #expect(peer.authentication == nil)
        #expect(client.isOpen)
    }

    @Test("server: HELLO's credentials go to the authenticator; WELCOME on 200; READY after INITIATE")
    func serverHandshake() throws {
        var server = Connection(configuration: Self.server)
        var input = Self.plainGreeting(asServer: false)
        input.writeBytes(Self.hello)
        var actions = feed(&server, input)
        // Nothing is sent before the client speaks: the first action is the authentication request.
        #expect(actions.count == 1)
        let request = try #require(actions.first?.authenticationRequest)
        #expect(request == AuthenticationRequest(mechanism: "PLAIN", credentials: [ascii("admin"), ascii("secret")]))

        let reply = AuthenticationReply(statusCode: "200", statusText: "OK", userID: "admin")
        actions = answer(&server, with: reply)
        #expect(actions.count == 1)
        #expect(actions.first.flatMap(\.written).map(bytes) == Self.welcome)
        #expect(!server.isOpen)

        actions = feed(&server, buffer(Self.initiatePush))
        #expect(actions.count == 2)
        #expect(actions.first.flatMap(\.written).map(bytes) == Self.readyPull)
        let peer = try #require(actions.last?.peerInfo)
        #expect(peer.socketType == .push)
        #expect(peer.authentication == reply)
        #expect(server.isOpen)
    }

    @Test("client and server complete the handshake back to back and messages flow", arguments: [nil, 1, 3] as [Int?])
    func backToBack(chunkSize: Int?) throws {
        var seen: [AuthenticationRequest] = []
        var link = Link(Self.client, Self.server, chunkSize: chunkSize) { request in
            seen.append(request)
            return .accepted
        }
        #expect(seen.count == 1)
        #expect(link.a.isOpen && link.b.isOpen)
        #expect(link.aEvents.count == 1 && link.bEvents.count == 1)
        let actions = link.sendAToB(Message([Frame(ascii("job")), Frame(ascii("42"))]), chunkSize: chunkSize)
        #expect(actions.first?.message?.count == 2)
    }

    @Test("a refusal with 400 or 500 sends ERROR with the status code in libzmq's PLAIN form; the client closes with it", arguments: ["400", "500"])
    func refused(status: String) throws {
        var server = Connection(configuration: Self.server)
        var input = Self.plainGreeting(asServer: false)
        input.writeBytes(Self.hello)
        _ = feed(&server, input)
        let actions = answer(&server, with: AuthenticationReply(statusCode: status))
        #expect(actions.count == 1)
        #expect(actions.first?.closeError == .authenticationRefused(status: status))
        let farewell = try #require(actions.first?.farewell ?? nil)
        // As libzmq 4.3.5's PLAIN server sends it (seen on the wire): 0x5E "RROR", not 5 "ERROR".
        #expect(bytes(farewell) == [0x04, 9, 0x5E] + ascii("RROR") + [3] + ascii(status))

        // The client hears the code as an authentication failure, not a protocol error.
        var client = Connection(configuration: Self.client)
        var toClient = Self.plainGreeting(asServer: true)
        toClient.writeImmutableBuffer(farewell)
        let clientActions = feed(&client, toClient)
        #expect(clientActions.last?.closeError == .authenticationFailed(status: status))
        #expect(clientActions.last?.farewell == .some(nil), "no ERROR answers an ERROR")
        #expect(!client.isOpen)
    }

    @Test("the client takes an ERROR in the RFC's form as well as libzmq's", arguments: [
        command([5] + ascii("ERROR") + [3] + ascii("400")),
        [0x04, 9, 0x5E] + ascii("RROR") + [3] + ascii("400"),
    ])
    func bothErrorForms(error: [UInt8]) {
        var client = Connection(configuration: Self.client)
        var input = Self.plainGreeting(asServer: true)
        input.writeBytes(error)
        let actions = feed(&client, input)
        #expect(actions.last?.closeError == .authenticationFailed(status: "400"))
    }

    @Test("a 300 (temporary failure) closes without ERROR, as libzmq does")
    func temporaryFailure() {
        var server = Connection(configuration: Self.server)
        var input = Self.plainGreeting(asServer: false)
        input.writeBytes(Self.hello)
        _ = feed(&server, input)
        let actions = answer(&server, with: AuthenticationReply(statusCode: "300"))
        #expect(actions.first?.closeError == .authenticationRefused(status: "300"))
        #expect(actions.first?.farewell == .some(nil))
    }

    @Test("a greeting with another mechanism is answered with ERROR and closed")
    func mechanismMismatch() throws {
        var server = Connection(configuration: Self.server)
        let actions = feed(&server, Greeting(minor: 1, mechanism: "NULL", asServer: false).encoded)
        #expect(actions.last?.closeError == .mechanismMismatch(ours: "PLAIN", theirs: "NULL"))
        let farewell = try #require(actions.last?.farewell ?? nil)
        #expect(try parseCommandFrame(farewell) == .error(reason: "Security mechanism mismatch"))
    }

    @Test("malformed or out-of-turn commands close the connection with a reason", arguments: [
        (server, command([5] + ascii("HELLO") + [5] + ascii("admin") + [6] + ascii("secret") + [0]), "after the password"),
        (server, command([5] + ascii("HELLO") + [9] + ascii("admin")), "overrun"),
        (server, command([5] + ascii("HELLO")), "overrun"),
        (server, readyPull, "unexpected command READY"),
        (server, initiatePush, "unexpected command INITIATE"),
        (client, hello, "unexpected command HELLO"),
        (client, readyPull, "unexpected command READY"),
        (client, command([7] + ascii("WELCOME") + [1]), "WELCOME carries 1 octets"),
        (server, [0x00, 0x03] + ascii("abc"), "before the handshake"),
    ] as [(Connection.Configuration, [UInt8], String)])
    func malformed(configuration: Connection.Configuration, input: [UInt8], reason: String) {
        var connection = Connection(configuration: configuration)
        var octets = Self.plainGreeting(asServer: false)
        octets.writeBytes(input)
        let actions = feed(&connection, octets)
        let error = actions.last?.closeError
        #expect(error.map { "\($0)".contains(reason) } == true, "\(String(describing: error))")
        #expect(!connection.isOpen)
    }

    @Test("INITIATE from an incompatible socket type gets ERROR, not READY")
    func incompatibleInitiate() throws {
        var server = Connection(configuration: Self.server)
        var input = Self.plainGreeting(asServer: false)
        input.writeBytes(Self.hello)
        _ = feed(&server, input)
        _ = answer(&server, with: .accepted)
        let initiatePull = Self.command([8] + ascii("INITIATE") + [11] + ascii("Socket-Type") + [0, 0, 0, 4] + ascii("PULL"))
        let actions = feed(&server, buffer(initiatePull))
        #expect(actions.count == 1)
        #expect(actions.first?.closeError == .incompatibleSocketType(ours: "PULL", theirs: "PULL"))
        let farewell = try #require(actions.first?.farewell ?? nil)
        #expect(try parseCommandFrame(farewell) == .error(reason: "Invalid socket type"))
    }

    @Test("an authentication reply nobody asked for closes the connection")
    func unexpectedReply() {
        var client = Connection(configuration: Self.client)
        _ = feed(&client, Self.plainGreeting(asServer: true))
        let actions = answer(&client, with: .accepted)
        #expect(actions.first?.closeError == .unexpectedAuthentication)
    }
}
