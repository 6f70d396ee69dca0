import NIOCore
import Testing
@testable import ZMTP

@Suite("Connection state machine")
struct ConnectionTests {
    typealias Configuration = Connection.Configuration

    static func greeting(minor: UInt8 = 1, mechanism: String = "NULL") -> ByteBuffer {
        Greeting(minor: minor, mechanism: mechanism, asServer: false).encoded
    }

    static func ready(_ type: SocketType, identity: [UInt8]? = nil) -> ByteBuffer {
        var metadata = Metadata([("Socket-Type", ascii(type.rawValue))])
        if let identity { metadata.append("Identity", identity) }
        return Command.ready(metadata).encoded
    }

    /// A connection of `type` that has received a peer greeting and READY of `peer`, checked open.
    static func openConnection(
        _ configuration: Configuration, peer: SocketType, peerMinor: UInt8 = 1,
        sourceLocation: SourceLocation = #_sourceLocation
    ) -> Connection {
        var connection = Connection(configuration: configuration)
        var input = greeting(minor: peerMinor)
        var peerReady = ready(peer)
        input.writeBuffer(&peerReady)
        let actions = feed(&connection, input)
        #expect(actions.count == 2, "\(actions)", sourceLocation: sourceLocation)
        #expect(actions.first?.written != nil, sourceLocation: sourceLocation)
        #expect(actions.last?.peerInfo?.socketType == peer, sourceLocation: sourceLocation)
        #expect(connection.isOpen, sourceLocation: sourceLocation)
        return connection
    }

    // MARK: Handshake

    @Test("start() sends a whole NULL greeting announcing our minor version")
    func startGreeting() throws {
        let connection = Connection(configuration: .init(socketType: .push))
        var sent = connection.start()
        #expect(sent.readableBytes == 64)
        let greeting = try #require(try Greeting.decode(from: &sent))
        #expect(greeting == Greeting(major: 3, minor: 1, mechanism: "NULL", asServer: false))

        let old = Connection(configuration: .init(socketType: .push, minorVersion: 0))
        #expect(bytes(old.start())[11] == 0)
        #expect(!old.isOpen)
    }

    @Test("PUSH and PULL complete the handshake", arguments: [nil, 1, 7] as [Int?])
    func pushPull(chunkSize: Int?) throws {
        var link = Link(.init(socketType: .push), .init(socketType: .pull), chunkSize: chunkSize)
        #expect(link.aEvents.count == 1)
        #expect(link.bEvents.count == 1)
        let pushSees = try #require(link.aEvents.first?.peerInfo)
        let pullSees = try #require(link.bEvents.first?.peerInfo)
        #expect(pushSees.socketType == .pull)
        #expect(pullSees.socketType == .push)
        #expect(pushSees.minorVersion == 1)
        #expect(pullSees.minorVersion == 1)
        #expect(pushSees.identity == nil, "PULL announces no identity")
        #expect(pullSees.metadata["Socket-Type"] == ascii("PUSH"))
        #expect(pullSees.metadata["Identity"] == nil, "PUSH does not send an Identity property")
        #expect(link.a.isOpen && link.b.isOpen)
        // Each side wrote its greeting and its READY, nothing else.
        #expect(link.aWrote == bytes(Self.greeting()) + bytes(Self.ready(.push)))
        #expect(link.bWrote == bytes(Self.greeting()) + bytes(Self.ready(.pull)))

        // A message of several frames arrives whole.
        let message = Message([Frame(ascii("job")), Frame(), Frame([UInt8](repeating: 9, count: 300)), Frame(ascii("end"))])
        let actions = link.sendAToB(message, chunkSize: chunkSize)
        #expect(actions.count == 1)
        let received = try #require(actions.first?.message)
        #expect(received == message)
        #expect(received.count == 4)
        #expect(received[0].bytes == ascii("job"))
        #expect(received[1].isEmpty)
        #expect(received[2].bytes == [UInt8](repeating: 9, count: 300))
        #expect(received[3].bytes == ascii("end"))
    }

    @Test("PAIR and PAIR complete the handshake and exchange messages both ways")
    func pairPair() throws {
        var link = Link(.init(socketType: .pair), .init(socketType: .pair))
        #expect(link.aEvents.first?.peerInfo?.socketType == .pair)
        #expect(link.bEvents.first?.peerInfo?.socketType == .pair)

        let toB = Message([Frame(ascii("one")), Frame(ascii("two")), Frame(ascii("three"))])
        let atB = link.sendAToB(toB)
        #expect(atB.count == 1)
        #expect(atB.first?.message == toB)

        let toA = Message(Frame(ascii("single")))
        let atA = link.sendBToA(toA)
        #expect(atA.count == 1)
        #expect(atA.first?.message == toA)
        #expect(atA.first?.message?.frames.map(\.bytes) == [ascii("single")])
    }

    @Test("the whole conversation works fed one octet at a time")
    func oneOctetAtATime() throws {
        var link = Link(.init(socketType: .dealer, identity: ascii("me")), .init(socketType: .router), chunkSize: 1)
        let routerSees = try #require(link.bEvents.first?.peerInfo)
        #expect(routerSees.socketType == .dealer)
        #expect(routerSees.identity == ascii("me"))
        #expect(link.aEvents.first?.peerInfo?.socketType == .router)

        var messages: [Message] = []
        var stream = ByteBuffer()
        let sent = [Message(["a", "b"]), Message(Frame()), Message(Frame([UInt8](repeating: 1, count: 1000))), Message(["x", "", "z"])]
        for message in sent { FrameEncoder.encode(message, into: &stream) }
        for action in feed(&link.b, stream, chunkSize: 1) {
            if let message = action.message { messages.append(message) } else { Issue.record("unexpected \(action)") }
        }
        #expect(messages == sent)
    }

    @Test("several messages in one buffer come out one per receive call")
    func severalMessagesInOneBuffer() {
        var link = Link(.init(socketType: .push), .init(socketType: .pull))
        var stream = ByteBuffer()
        FrameEncoder.encode(Message(["1"]), into: &stream)
        FrameEncoder.encode(Message(["2", "2"]), into: &stream)
        FrameEncoder.encode(Message(["3"]), into: &stream)
        var actions: [Connection.Action] = []
        for _ in 0..<4 { actions.append(link.b.receive(&stream)) }
        #expect(actions.map { $0.message?.count } == [1, 2, 1, nil])
        #expect(actions.last?.isNeedMoreData == true)
        #expect(stream.readableBytes == 0)
    }

    @Test("DEALER with empty identity writes the worked example's READY")
    func dealerReadyOnTheWire() {
        var dealer = Connection(configuration: .init(socketType: .dealer))
        let actions = feed(&dealer, Self.greeting())
        #expect(actions.count == 1)
        #expect(actions.first?.written.map(bytes) == CommandTests.dealerReady)
    }

    @Test("DEALER to ROUTER: the router learns the identity")
    func identity() throws {
        let link = Link(.init(socketType: .dealer, identity: ascii("worker-1")), .init(socketType: .router))
        let routerSees = try #require(link.bEvents.first?.peerInfo)
        #expect(routerSees.identity == ascii("worker-1"))
        #expect(routerSees.metadata["identity"] == ascii("worker-1"))
        // PUSH never sends the configured identity.
        let pushLink = Link(.init(socketType: .push, identity: ascii("ignored")), .init(socketType: .pull))
        #expect(pushLink.bEvents.first?.peerInfo?.metadata["Identity"] == nil)
    }

    // MARK: Handshake failures

    @Test("PUSH to PUSH closes with incompatibleSocketType and an ERROR farewell")
    func incompatible() throws {
        let link = Link(.init(socketType: .push), .init(socketType: .push))
        for events in [link.aEvents, link.bEvents] {
            #expect(events.count == 1)
            let close = try #require(events.first)
            #expect(close.closeError == .incompatibleSocketType(ours: "PUSH", theirs: "PUSH"))
            let farewell = try #require(close.farewell ?? nil, "an incompatible peer gets an ERROR")
            let command = try parseCommandFrame(farewell)
            guard case .error(let reason) = command else {
                Issue.record("farewell is not ERROR: \(command)")
                continue
            }
            #expect(!reason.isEmpty)
        }
        #expect(!link.a.isOpen && !link.b.isOpen)
    }

    @Test("a READY without a known Socket-Type is incompatible")
    func unknownSocketType() {
        var connection = Connection(configuration: .init(socketType: .pull))
        var input = Self.greeting()
        var ready = Command.ready(Metadata([("Socket-Type", ascii("BOGUS"))])).encoded
        input.writeBuffer(&ready)
        let actions = feed(&connection, input)
        #expect(actions.last?.closeError == .incompatibleSocketType(ours: "PULL", theirs: "BOGUS"))

        var noType = Connection(configuration: .init(socketType: .pull))
        var bare = Self.greeting()
        var empty = Command.ready(Metadata()).encoded
        bare.writeBuffer(&empty)
        #expect(feed(&noType, bare).last?.closeError == .incompatibleSocketType(ours: "PULL", theirs: ""))
    }

    @Test("a data frame before READY closes with messageBeforeHandshake")
    func messageBeforeReady() {
        var connection = Connection(configuration: .init(socketType: .pull))
        let greeted = feed(&connection, Self.greeting())
        #expect(greeted.count == 1 && greeted.first?.written != nil)
        let actions = feed(&connection, buffer([0x00, 0x02, 0x68, 0x69]))
        #expect(actions.count == 1)
        #expect(actions.first?.closeError == .messageBeforeHandshake)
        #expect(!connection.isOpen)
        // A closed connection ignores whatever else arrives.
        var more = Self.ready(.push)
        #expect(connection.receive(&more).isNeedMoreData)
        #expect(more.readableBytes == 0)
    }

    @Test("an ERROR during the handshake closes with peerError")
    func errorDuringHandshake() {
        var connection = Connection(configuration: .init(socketType: .pull))
        var input = Self.greeting()
        var error = Command.error(reason: "go away").encoded
        input.writeBuffer(&error)
        #expect(feed(&connection, input).last?.closeError == .peerError(reason: "go away"))
    }

    @Test("a PING before READY is an unexpected command")
    func pingBeforeReady() {
        var connection = Connection(configuration: .init(socketType: .pull))
        var input = Self.greeting()
        var ping = Command.ping(ttl: 0, context: []).encoded
        input.writeBuffer(&ping)
        #expect(feed(&connection, input).last?.closeError == .unexpectedCommand("PING"))
    }

    @Test("a bad signature closes at once")
    func badSignature() {
        var connection = Connection(configuration: .init(socketType: .pull))
        var input = buffer([0x47])  // "G", as in "GET / HTTP/1.1"
        let action = connection.receive(&input)
        #expect(action.closeError == .badSignature)
    }

    @Test("a ZMTP 2.0 peer is refused as soon as its major version arrives")
    func zmtp20Peer() {
        var connection = Connection(configuration: .init(socketType: .pull))
        let actions = feed(&connection, buffer([0xFF, 0, 0, 0, 0, 0, 0, 0, 1, 0x7F, 0x01]), chunkSize: 1)
        #expect(actions.count == 1)
        #expect(actions.first?.closeError == .unsupportedVersion(major: 1))
    }

    @Test("a wrong mechanism closes with mechanismMismatch, after an ERROR", arguments: ["PLAIN", "CURVE", "null"])
    func wrongMechanism(mechanism: String) throws {
        var connection = Connection(configuration: .init(socketType: .pull))
        let actions = feed(&connection, Self.greeting(mechanism: mechanism))
        #expect(actions.count == 1)
        #expect(actions.first?.closeError == .mechanismMismatch(ours: "NULL", theirs: mechanism))
        let farewell = try #require(actions.first?.farewell ?? nil)
        #expect(try parseCommandFrame(farewell) == .error(reason: "Security mechanism mismatch"))
    }

    // MARK: The connecting side

    static let connecting = Configuration(socketType: .dealer, connectSide: true)

    @Test("the connecting side sends signature and major version, and the rest of its greeting after the peer's first 11 octets")
    func connectingGreeting() throws {
        var connection = Connection(configuration: Self.connecting)
        let first = bytes(connection.start())
        #expect(first == [0xFF, 0, 0, 0, 0, 0, 0, 0, 1, 0x7F, 3])
        let peer = bytes(Self.greeting())
        #expect(feed(&connection, buffer(Array(peer[..<10]))).isEmpty, "ten octets say nothing of the version")
        let rest = feed(&connection, buffer([peer[10]]))
        #expect(rest.count == 1)
        var whole = buffer(first + bytes(try #require(rest.first?.written)))
        #expect(try Greeting.decode(from: &whole) == Greeting(major: 3, minor: 1, mechanism: "NULL", asServer: false))
        #expect(whole.readableBytes == 0)
    }

    @Test("the connecting side's NULL READY follows the peer's READY, then the handshake completes", arguments: [nil, 1] as [Int?])
    func connectingReadyWaits(chunkSize: Int?) throws {
        var connection = Connection(configuration: Self.connecting)
        let greeted = feed(&connection, Self.greeting(), chunkSize: chunkSize)
        #expect(greeted.count == 1, "only the rest of the greeting: \(greeted)")
        #expect(greeted.first?.written?.readableBytes == Greeting.size - Greeting.prefixSize)
        let actions = feed(&connection, Self.ready(.router), chunkSize: chunkSize)
        #expect(actions.count == 2)
        #expect(actions.first?.written.map(bytes) == CommandTests.dealerReady)
        #expect(actions.last?.peerInfo?.socketType == .router)
        #expect(connection.isOpen)
    }

    @Test("a connecting side that reads another mechanism sends the rest of its greeting, then ERROR, and closes with mechanismMismatch", arguments: ["PLAIN", "CURVE"])
    func connectingMechanismMismatch(mechanism: String) throws {
        var connection = Connection(configuration: Self.connecting)
        let actions = feed(&connection, Self.greeting(mechanism: mechanism))
        #expect(actions.count == 1)
        #expect(actions.first?.closeError == .mechanismMismatch(ours: "NULL", theirs: mechanism))
        // 23/ZMTP: a peer that showed its mechanism is owed ours.
        var farewell = try #require(actions.first?.farewell ?? nil)
        let rest = farewell.readSlice(length: Greeting.size - Greeting.prefixSize).map(bytes)
        #expect(rest == Array(bytes(connection.greeting)[Greeting.prefixSize...]))
        #expect(try parseCommandFrame(farewell) == .error(reason: "Security mechanism mismatch"))
    }

    @Test("a connecting side that reads an incompatible READY sends its own READY, then ERROR, and closes")
    func connectingIncompatibleReady() throws {
        var connection = Connection(configuration: Self.connecting)
        _ = feed(&connection, Self.greeting())
        let actions = feed(&connection, Self.ready(.pub))
        #expect(actions.count == 1)
        #expect(actions.first?.closeError == .incompatibleSocketType(ours: "DEALER", theirs: "PUB"))
        // Our READY first, so that the peer can name the fault too.
        var farewell = try #require(actions.first?.farewell ?? nil)
        #expect(farewell.readSlice(length: CommandTests.dealerReady.count).map(bytes) == CommandTests.dealerReady)
        #expect(try parseCommandFrame(farewell) == .error(reason: "Invalid socket type"))
    }

    @Test("a connecting and an accepting side complete the handshake", arguments: [nil, 1, 7] as [Int?])
    func connectingMeetsAccepting(chunkSize: Int?) throws {
        let link = Link(.init(socketType: .push, connectSide: true), .init(socketType: .pull), chunkSize: chunkSize)
        #expect(link.aEvents.first?.peerInfo?.socketType == .pull)
        #expect(link.bEvents.first?.peerInfo?.socketType == .push)
        #expect(link.a.isOpen && link.b.isOpen)
    }

    // MARK: Versions

    @Test("a ZMTP 3.0 peer (minor 0) is accepted and reported as such")
    func zmtp30Peer() throws {
        let link = Link(.init(socketType: .push), .init(socketType: .pull, minorVersion: 0))
        let pushSees = try #require(link.aEvents.first?.peerInfo)
        let pullSees = try #require(link.bEvents.first?.peerInfo)
        #expect(pushSees.minorVersion == 0)
        #expect(pullSees.minorVersion == 0, "a 3.0 connection speaks 3.0 both ways")
        #expect(pushSees.socketType == .pull)

        // And from a hand-written 3.0 greeting.
        var connection = Connection(configuration: .init(socketType: .pull))
        var input = Self.greeting(minor: 0)
        var ready = Self.ready(.push)
        input.writeBuffer(&ready)
        #expect(feed(&connection, input).last?.peerInfo?.minorVersion == 0)
    }

    @Test("a newer peer (3.2 or 4.0) gets our own version")
    func newerPeer() {
        for (major, minor) in [(UInt8(3), UInt8(2)), (4, 0)] {
            var connection = Connection(configuration: .init(socketType: .pull))
            var input = Greeting(major: major, minor: minor, mechanism: "NULL").encoded
            var ready = Self.ready(.push)
            input.writeBuffer(&ready)
            #expect(feed(&connection, input).last?.peerInfo?.minorVersion == 1, "\(major).\(minor)")
        }
    }

    // MARK: Traffic

    @Test("a PING after the handshake is answered with a PONG echoing its context")
    func pingPong() throws {
        var connection = Self.openConnection(.init(socketType: .pull), peer: .push)
        var ping = Command.ping(ttl: 0, context: ascii("hello")).encoded
        let action = connection.receive(&ping)
        let pong = try #require(action.written, "\(action)")
        #expect(bytes(pong) == [0x04, 10, 4] + ascii("PONG") + ascii("hello"))
        #expect(try parseCommandFrame(pong) == .pong(context: ascii("hello")))
        #expect(connection.receive(&ping).isNeedMoreData)

        // Between the frames of a message, too; the message still arrives whole.
        var stream = ByteBuffer()
        FrameEncoder.writeHeader(more: true, size: 1, into: &stream)
        stream.writeBytes(ascii("a"))
        var midPing = Command.ping(ttl: 5, context: [0xFF]).encoded
        stream.writeBuffer(&midPing)
        FrameEncoder.writeHeader(more: false, size: 1, into: &stream)
        stream.writeBytes(ascii("b"))
        let actions = feed(&connection, stream)
        #expect(actions.count == 2)
        #expect(actions.first?.written.map(bytes) == [0x04, 6, 4] + ascii("PONG") + [0xFF])
        #expect(actions.last?.message == Message(["a", "b"]))
    }

    @Test("one read of small messages, multipart ones and a PING among them delivers every message whole and in order, answers the PING, and still holds each message to maxMessageSize")
    func batchOfMixedTraffic() throws {
        var connection = Self.openConnection(.init(socketType: .pull, maxMessageSize: 32), peer: .push)
        let before: [Message] = [Message(Frame()), "a", Message(["head", "x"]), Message(Frame([UInt8](repeating: 7, count: 32)))]
        let after: [Message] = ["b", Message(["", ""]), Message(["p", "q", "r"]), "c"]
        var stream = ByteBuffer()
        for message in before { FrameEncoder.encode(message, into: &stream) }
        var ping = Command.ping(ttl: 0, context: ascii("mid")).encoded
        stream.writeBuffer(&ping)
        for message in after { FrameEncoder.encode(message, into: &stream) }
        var batch = MessageQueue()
        let first = connection.receive(&stream, into: &batch)
        #expect(bytes(try #require(first.written, "\(first)")) == [0x04, 8, 4] + ascii("PONG") + ascii("mid"))
        #expect(connection.receive(&stream, into: &batch).isNeedMoreData)
        #expect(Array(batch) == before + after)
        #expect(stream.readableBytes == 0)

        // A small frame over the limit is refused, not delivered with the small ones before it.
        var tooLarge = ByteBuffer()
        FrameEncoder.encode("ok", into: &tooLarge)
        FrameEncoder.encode(Message(Frame([UInt8](repeating: 1, count: 32))), into: &tooLarge)
        var limited = Self.openConnection(.init(socketType: .pull, maxMessageSize: 31), peer: .push)
        var delivered = MessageQueue()
        #expect(limited.receive(&tooLarge, into: &delivered).closeError == .messageTooLarge(size: 32, limit: 31))
        #expect(Array(delivered) == ["ok"])
    }

    @Test("a PONG, an unknown command and a late READY after the handshake are ignored")
    func ignoredCommands() {
        var connection = Self.openConnection(.init(socketType: .pull), peer: .push)
        var unknown = Command.unknown(name: "HELLO", data: buffer([1, 2, 3])).encoded
        #expect(connection.receive(&unknown).isNeedMoreData)
        #expect(unknown.readableBytes == 0)

        var stream = Command.unknown(name: "X", data: ByteBuffer()).encoded
        var pong = Command.pong(context: [1]).encoded
        stream.writeBuffer(&pong)
        var ready = Self.ready(.push)
        stream.writeBuffer(&ready)
        FrameEncoder.encode(Message(["after"]), into: &stream)
        let first = connection.receive(&stream)
        #expect(first.message == Message(["after"]), "the next action is the following message: \(first)")
        #expect(connection.receive(&stream).isNeedMoreData)
        #expect(connection.isOpen)
    }

    @Test("an ERROR after the handshake closes with peerError")
    func errorAfterHandshake() {
        var connection = Self.openConnection(.init(socketType: .pull), peer: .push)
        var error = Command.error(reason: "bye").encoded
        #expect(connection.receive(&error).closeError == .peerError(reason: "bye"))
        #expect(!connection.isOpen)
    }

    @Test("a malformed command after the handshake closes the connection")
    func malformedAfterHandshake() {
        var connection = Self.openConnection(.init(socketType: .pull), peer: .push)
        // A 2-octet TTL and 17 octets of context.
        var ping = buffer([0x04, 5 + 2 + 17] + [4] + ascii("PING") + [UInt8](repeating: 0, count: 2 + 17))
        let action = connection.receive(&ping)
        guard case .malformedCommand = action.closeError else {
            Issue.record("expected malformedCommand, got \(action)")
            return
        }
    }

    @Test("a reserved flag bit after the handshake closes the connection")
    func reservedFlagsAfterHandshake() {
        var connection = Self.openConnection(.init(socketType: .pull), peer: .push)
        var frame = buffer([0x20, 1, 0x41])
        #expect(connection.receive(&frame).closeError == .reservedFlags(0x20))
    }

    @Test("SUBSCRIBE and CANCEL are handed to the socket")
    func subscriptions() {
        var connection = Self.openConnection(.init(socketType: .pub), peer: .sub)
        var stream = Command.subscribe(ByteBuffer(string: "topic")).encoded
        var cancel = Command.cancel(ByteBuffer(string: "topic")).encoded
        stream.writeBuffer(&cancel)
        let actions = feed(&connection, stream)
        #expect(actions.map(\.command) == [.subscribe(ByteBuffer(string: "topic")), .cancel(ByteBuffer(string: "topic"))])
    }

    // MARK: Maximum message size

    @Test("a multipart message whose total exceeds maxMessageSize closes with messageTooLarge")
    func maxMessageSizeMultipart() throws {
        var connection = Self.openConnection(.init(socketType: .pull, maxMessageSize: 10), peer: .push)
        // Each frame is below the limit; of the third only the header is sent (4 + 4 + 4 > 10).
        var third = ByteBuffer()
        FrameEncoder.writeHeader(more: false, size: 4, into: &third)
        var input = ByteBuffer()
        FrameEncoder.writeHeader(more: true, size: 4, into: &input)
        input.writeBytes([1, 2, 3, 4])
        FrameEncoder.writeHeader(more: true, size: 4, into: &input)
        input.writeBytes([5, 6, 7, 8])
        input.writeBuffer(&third)
        let actions = feed(&connection, input)
        #expect(actions.count == 1)
        let error = try #require(actions.first?.closeError)
        guard case .messageTooLarge(_, let limit) = error else {
            Issue.record("expected messageTooLarge, got \(error)")
            return
        }
        #expect(limit == 10)
        #expect(!connection.isOpen)
    }

    @Test("messages up to maxMessageSize pass, and the budget resets after each message")
    func maxMessageSizeExact() {
        var connection = Self.openConnection(.init(socketType: .pull, maxMessageSize: 10), peer: .push)
        var stream = ByteBuffer()
        let exact = Message([Frame([1, 2, 3, 4]), Frame([5, 6, 7, 8]), Frame([9, 10])])
        let single = Message(Frame([UInt8](repeating: 0, count: 10)))
        FrameEncoder.encode(exact, into: &stream)
        FrameEncoder.encode(exact, into: &stream)
        FrameEncoder.encode(single, into: &stream)
        let actions = feed(&connection, stream)
        #expect(actions.map(\.message) == [exact, exact, single])

        var tooBig = ByteBuffer()
        FrameEncoder.writeHeader(more: false, size: 11, into: &tooBig)
        #expect(connection.receive(&tooBig).closeError == .messageTooLarge(size: 11, limit: 10))
    }

    @Test("without maxMessageSize, a message larger than the handshake frame limit passes")
    func noMessageLimit() {
        var link = Link(.init(socketType: .push), .init(socketType: .pull))
        let big = Message(Frame([UInt8](repeating: 3, count: (1 << 20) + 1)))
        let actions = link.sendAToB(big, chunkSize: 65536)
        #expect(actions.count == 1)
        #expect(actions.first?.message == big)
    }

    // MARK: Heartbeats through the connection

    @Test("heartbeatTick sends PINGs to a 3.1 peer and closes after the timeout")
    func heartbeatTick() throws {
        let heartbeat = Heartbeat.Configuration(interval: .seconds(1), ttl: .seconds(3))
        var connection = Self.openConnection(.init(socketType: .pull, heartbeat: heartbeat), peer: .push)
        #expect(connection.heartbeatTick(now: at(milliseconds: 5000)) == nil, "no heartbeat before startHeartbeat")
        connection.startHeartbeat(now: at(milliseconds: 0))
        #expect(connection.nextHeartbeatDeadline == at(milliseconds: 1000))
        #expect(connection.heartbeatTick(now: at(milliseconds: 999)) == nil)
        let ping = try #require(connection.heartbeatTick(now: at(milliseconds: 1000))?.written)
        #expect(try parseCommandFrame(ping) == .ping(ttl: 30, context: []))
        #expect(connection.heartbeatTick(now: at(milliseconds: 1999))?.written == nil)
        #expect(connection.heartbeatTick(now: at(milliseconds: 2000))?.closeError == .heartbeatTimeout)
        #expect(!connection.isOpen)
        #expect(connection.heartbeatTick(now: at(milliseconds: 9000)) == nil)
    }

    @Test("a peer's PING TTL closes the connection when it goes quiet")
    func peerTTL() {
        var connection = Self.openConnection(.init(socketType: .pull), peer: .push)
        connection.startHeartbeat(now: at(milliseconds: 0))
        var ping = Command.ping(ttl: 20, context: []).encoded  // 2 s
        connection.trafficReceived(at: at(milliseconds: 500))
        #expect(connection.receive(&ping).written != nil)
        #expect(connection.nextHeartbeatDeadline == at(milliseconds: 2500))
        #expect(connection.heartbeatTick(now: at(milliseconds: 2499)) == nil)
        #expect(connection.heartbeatTick(now: at(milliseconds: 2500))?.closeError == .heartbeatTimeout)
    }

    @Test("no PING goes to a ZMTP 3.0 peer")
    func noPingFor30() {
        let heartbeat = Heartbeat.Configuration(interval: .seconds(1), timeout: .seconds(10))
        var connection = Self.openConnection(.init(socketType: .pull, heartbeat: heartbeat), peer: .push, peerMinor: 0)
        connection.startHeartbeat(now: at(milliseconds: 0))
        #expect(connection.heartbeatTick(now: at(milliseconds: 1000)) == nil)
        #expect(connection.heartbeatTick(now: at(milliseconds: 2000)) == nil)
    }

    @Test("an idle ZMTP 3.0 peer is not timed out for PINGs it was never sent")
    func idle30PeerNotTimedOut() {
        let heartbeat = Heartbeat.Configuration(interval: .seconds(1))
        var connection = Self.openConnection(.init(socketType: .pull, heartbeat: heartbeat), peer: .push, peerMinor: 0)
        connection.startHeartbeat(now: at(milliseconds: 0))
        #expect(connection.heartbeatTick(now: at(milliseconds: 1000)) == nil)
        #expect(connection.heartbeatTick(now: at(milliseconds: 2000)) == nil)
        #expect(connection.isOpen)
    }
}
