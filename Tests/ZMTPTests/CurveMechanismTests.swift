import NIOCore
import Testing
@testable import ZMTP

/// CURVE through the connection state machine, without a socket: the handshake between our
/// client and server, the layout of what goes on the wire, and every way a box can be refused.
@Suite("CURVE mechanism")
struct CurveMechanismTests {
    #if CURVE
    static let serverKeys = try! CurveKeyPair.generate()
    static let clientKeys = try! CurveKeyPair.generate()
    static let client = Connection.Configuration(socketType: .push, security: .curveClient(serverKey: serverKeys.publicKey, keyPair: clientKeys))
    static let server = Connection.Configuration(socketType: .pull, security: .curveServer(keyPair: serverKeys))

    /// A client and a server with the handshake done.
    static func openLink(sourceLocation: SourceLocation = #_sourceLocation) -> Link {
        var seen: [AuthenticationRequest] = []
        let link = Link(client, server) { request in
            seen.append(request)
            return .accepted
        }
        #expect(link.a.isOpen && link.b.isOpen, sourceLocation: sourceLocation)
        #expect(seen == [AuthenticationRequest(mechanism: "CURVE", credentials: [clientKeys.publicKey.bytes])], sourceLocation: sourceLocation)
        return link
    }

    static func sealed(_ message: Message, by connection: inout Connection) -> ByteBuffer {
        var buffer = ByteBuffer()
        connection.seal(message, subscriptionsAsCommands: false, into: &buffer)
        return buffer
    }

    @Test("the handshake's commands have libzmq's sizes: HELLO 200, WELCOME 168, INITIATE 257 + metadata, READY 30 + metadata")
    func handshakeLayout() throws {
        let link = Self.openLink()
        var toServer = ByteBuffer(bytes: link.aWrote.dropFirst(64))
        var toClient = ByteBuffer(bytes: link.bWrote.dropFirst(64))
        var decoder = FrameDecoder()
        let hello = try #require(try decoder.next(from: &toServer))
        let initiate = try #require(try decoder.next(from: &toServer))
        let welcome = try #require(try decoder.next(from: &toClient))
        let ready = try #require(try decoder.next(from: &toClient))
        #expect(hello.isCommand && hello.body.readableBytes == 200)
        #expect(Array(hello.body.readableBytesView.prefix(8)) == [5] + Array("HELLO".utf8) + [1, 0])
        // HELLO's short nonce is 1 and INITIATE's 2: the client's counter starts at 1.
        #expect(Array(hello.body.readableBytesView.dropFirst(112).prefix(8)) == [0, 0, 0, 0, 0, 0, 0, 1])
        #expect(welcome.body.readableBytes == 168)
        let metadataLength = 1 + 11 + 4 + 4  // Socket-Type = PUSH / PULL
        #expect(initiate.body.readableBytes == 257 + metadataLength)
        #expect(Array(initiate.body.readableBytesView.dropFirst(105).prefix(8)) == [0, 0, 0, 0, 0, 0, 0, 2])
        #expect(ready.body.readableBytes == 30 + metadataLength)
        #expect(Array(ready.body.readableBytesView.dropFirst(6).prefix(8)) == [0, 0, 0, 0, 0, 0, 0, 1])
        // The greeting names CURVE; only the server sets as-server.
        #expect(Array(link.aWrote[12..<17]) == Array("CURVE".utf8) && link.aWrote[32] == 0 && link.bWrote[32] == 1)
    }

    @Test("every frame is its own MESSAGE with outer flags 0; MORE travels inside the box", arguments: [nil, 1, 7] as [Int?])
    func messages(chunkSize: Int?) throws {
        var link = Self.openLink()
        let message = Message([Frame("job"), Frame(), Frame([UInt8](repeating: 9, count: 300))])
        let wire = Self.sealed(message, by: &link.a)
        var copy = wire
        var decoder = FrameDecoder()
        var sizes: [Int] = []
        while let frame = try decoder.next(from: &copy) {
            #expect(frame.flags.subtracting(.long).isEmpty, "outer flags carry neither MORE nor COMMAND")
            #expect(Array(frame.body.readableBytesView.prefix(8)) == [7] + Array("MESSAGE".utf8))
            sizes.append(frame.body.readableBytes)
        }
        #expect(sizes == [3 + 33, 0 + 33, 300 + 33])
        let actions = feed(&link.b, wire, chunkSize: chunkSize)
        #expect(actions.count == 1)
        #expect(actions.first?.message == message)
    }

    @Test("a tampered box closes the connection and delivers nothing")
    func tampered() {
        var link = Self.openLink()
        var wire = Self.sealed(Message(Frame("secret")), by: &link.a)
        let last = wire.writerIndex - 1
        wire.setInteger(wire.getInteger(at: last, as: UInt8.self)! ^ 0x01, at: last)
        let actions = feed(&link.b, wire)
        #expect(actions.count == 1)
        #expect(actions.first?.closeError == .boxDidNotOpen("MESSAGE"))
    }

    @Test("in one read, the messages before a tampered box are delivered, then the connection closes")
    func tamperedMidBatch() {
        var link = Self.openLink()
        var wire = Self.sealed(Message(Frame("first")), by: &link.a)
        var second = Self.sealed(Message(Frame([UInt8](repeating: 2, count: 100))), by: &link.a)
        second.setInteger(second.getInteger(at: second.writerIndex - 1, as: UInt8.self)! ^ 0x01, at: second.writerIndex - 1)
        wire.writeBuffer(&second)
        var third = Self.sealed(Message(Frame("third")), by: &link.a)
        wire.writeBuffer(&third)
        let actions = feed(&link.b, wire)
        #expect(actions.count == 2)
        #expect(actions.first?.message == Message(Frame("first")))
        #expect(actions.last?.closeError == .boxDidNotOpen("MESSAGE"))
    }

    @Test("a message over the maximum size is refused even when all its frames arrive in one read")
    func limitWithinBatch() {
        let limited = Connection.Configuration(socketType: .pull, maxMessageSize: 100, security: .curveServer(keyPair: Self.serverKeys))
        var link = Link(Self.client, limited)
        #expect(link.a.isOpen && link.b.isOpen)
        let frames = (0..<3).map { _ in Frame([UInt8](repeating: 7, count: 60)) }
        let actions = feed(&link.b, Self.sealed(Message(frames), by: &link.a))
        #expect(actions.count == 1)
        #expect(actions.first?.closeError == .messageTooLarge(size: 120, limit: 100))
        // Small and large frames together, in one read, come out whole.
        var again = Self.openLink()
        let mixed = Message([Frame("a"), Frame([UInt8](repeating: 1, count: 33)), Frame(), Frame([UInt8](repeating: 3, count: 5000))])
        var twice = Self.sealed(mixed, by: &again.a)
        var more = Self.sealed(mixed, by: &again.a)
        twice.writeBuffer(&more)
        #expect(feed(&again.b, twice).map(\.message) == [mixed, mixed])
    }

    @Test("the maximum size counts the message, not the box around each frame: a message of exactly the limit passes")
    func limitCountsPlaintext() {
        let limited = Connection.Configuration(socketType: .pull, maxMessageSize: 100, security: .curveServer(keyPair: Self.serverKeys))
        var link = Link(Self.client, limited)
        let single = Message(Frame([UInt8](repeating: 1, count: 100)))
        #expect(feed(&link.b, Self.sealed(single, by: &link.a)).map(\.message) == [single])
        let parts = Message([Frame([UInt8](repeating: 2, count: 60)), Frame([UInt8](repeating: 3, count: 40))])
        #expect(feed(&link.b, Self.sealed(parts, by: &link.a)).map(\.message) == [parts])
        let over = Message([Frame([UInt8](repeating: 2, count: 60)), Frame([UInt8](repeating: 3, count: 41))])
        let refused = feed(&link.b, Self.sealed(over, by: &link.a))
        guard case .messageTooLarge(_, limit: 100)? = refused.first?.closeError else {
            Issue.record("expected messageTooLarge, got \(refused)")
            return
        }
    }

    @Test("SUBSCRIBE and CANCEL travel as boxed commands to a 3.1 peer, and as boxed 0x01/0x00 messages to a 3.0 peer")
    func boxedSubscriptions() {
        let topic = Array("weather.secret-topic".utf8)
        let subscribe = Message(Frame([1] + topic))
        let cancel = Message(Frame([0] + topic))
        let subscriber = Connection.Configuration(socketType: .sub, security: .curveClient(serverKey: Self.serverKeys.publicKey, keyPair: Self.clientKeys))
        for minor in [UInt8(1), 0] {
            let publisher = Connection.Configuration(socketType: .xpub, minorVersion: minor, security: .curveServer(keyPair: Self.serverKeys))
            var link = Link(subscriber, publisher)
            #expect(link.a.isOpen && link.b.isOpen)
            // The engine asks for commands only when the peer speaks 3.1.
            let asCommands = minor == 1
            var wire = ByteBuffer()
            link.a.seal(subscribe, subscriptionsAsCommands: asCommands, into: &wire)
            link.a.seal(cancel, subscriptionsAsCommands: asCommands, into: &wire)
            let octets = wire.getBytes(at: wire.readerIndex, length: wire.readableBytes) ?? []
            func appears(_ needle: [UInt8]) -> Bool {
                octets.indices.dropLast(needle.count - 1).contains { octets[$0..<$0 + needle.count].elementsEqual(needle) }
            }
            #expect(!appears(topic), "the topic is sealed, never in clear")
            #expect(!appears([9] + Array("SUBSCRIBE".utf8)))
            let actions = feed(&link.b, wire)
            if asCommands {
                #expect(actions.map(\.command) == [.subscribe(ByteBuffer(bytes: topic)), .cancel(ByteBuffer(bytes: topic))])
            } else {
                #expect(actions.map(\.message) == [subscribe, cancel])
            }
        }
    }

    @Test("a replayed MESSAGE (a nonce that does not increase) closes the connection")
    func replayed() {
        var link = Self.openLink()
        let wire = Self.sealed(Message(Frame("once")), by: &link.a)
        #expect(feed(&link.b, wire).first?.message == Message(Frame("once")))
        let again = feed(&link.b, wire)
        #expect(again.first?.closeError == .nonceNotIncreasing(received: 3, last: 3))
    }

    @Test("a truncated MESSAGE, or a clear-text frame after the handshake, closes the connection", arguments: [
        [0x00, 20] + [7] + Array("MESSAGE".utf8) + [UInt8](repeating: 0, count: 12),
        [0x00, 5] + Array("hello".utf8),
    ] as [[UInt8]])
    func malformed(input: [UInt8]) {
        var link = Self.openLink()
        let actions = feed(&link.b, buffer(input))
        #expect(actions.first?.closeError != nil)
        #expect(actions.first?.message == nil)
    }

    @Test("a client with the wrong server key fails at the server's HELLO check")
    func wrongServerKey() throws {
        let impostor = try CurveKeyPair.generate()
        let client = Connection.Configuration(socketType: .push, security: .curveClient(serverKey: impostor.publicKey, keyPair: Self.clientKeys))
        let link = Link(client, Self.server)
        #expect(link.bEvents.first?.closeError == .boxDidNotOpen("HELLO"))
        #expect(!link.a.isOpen)
    }

    @Test("PING and PONG travel boxed, with the COMMAND flag inside")
    func heartbeats() throws {
        var link = Self.openLink()
        let pingBox = link.a.encodedCommand(.ping(ttl: 0, context: [1, 2]))
        let actions = feed(&link.b, pingBox)
        // The PONG comes back sealed, and the client opens it as a command, not a message.
        let pong = try #require(actions.first?.written)
        #expect(Array(pong.readableBytesView.dropFirst(2).prefix(8)) == [7] + Array("MESSAGE".utf8))
        let back = feed(&link.a, pong)
        #expect(back.isEmpty, "a PONG is handled inside the connection")
    }
    #endif
}
