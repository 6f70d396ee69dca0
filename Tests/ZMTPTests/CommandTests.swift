import NIOCore
import Testing
@testable import ZMTP

@Suite("Commands and metadata")
struct CommandTests {
    /// The DEALER client's READY of the 23/ZMTP worked example, octet for octet.
    static let dealerReady: [UInt8] = [
        0x04, 41,                                                       // flags, size
        0x05, 0x52, 0x45, 0x41, 0x44, 0x59,                             // 5 "READY"
        0x0B, 0x53, 0x6F, 0x63, 0x6B, 0x65, 0x74, 0x2D, 0x54, 0x79, 0x70, 0x65, // 11 "Socket-Type"
        0x00, 0x00, 0x00, 0x06, 0x44, 0x45, 0x41, 0x4C, 0x45, 0x52,     // 6 "DEALER"
        0x08, 0x49, 0x64, 0x65, 0x6E, 0x74, 0x69, 0x74, 0x79,           // 8 "Identity"
        0x00, 0x00, 0x00, 0x00,                                         // ""
    ]

    /// The ROUTER server's reply in the same example: Socket-Type only.
    static let routerReady: [UInt8] = [
        0x04, 28,
        0x05, 0x52, 0x45, 0x41, 0x44, 0x59,
        0x0B, 0x53, 0x6F, 0x63, 0x6B, 0x65, 0x74, 0x2D, 0x54, 0x79, 0x70, 0x65,
        0x00, 0x00, 0x00, 0x06, 0x52, 0x4F, 0x55, 0x54, 0x45, 0x52,     // 6 "ROUTER"
    ]

    static func isMalformed(_ error: ZMTPError?) -> Bool {
        if case .malformedCommand = error { return true }
        return false
    }

    /// Parses a command body given as octets, expecting .malformedCommand.
    static func expectMalformed(_ body: [UInt8], sourceLocation: SourceLocation = #_sourceLocation) {
        let error = #expect(throws: ZMTPError.self, sourceLocation: sourceLocation) {
            _ = try Command(parsing: buffer(body))
        }
        #expect(isMalformed(error), "got \(String(describing: error))", sourceLocation: sourceLocation)
    }

    // MARK: READY

    @Test("DEALER READY with empty Identity matches the 23/ZMTP worked example")
    func dealerReadyBytes() {
        let ready = Command.ready(Metadata([("Socket-Type", Array("DEALER".utf8)), ("Identity", [])]))
        #expect(bytes(ready.encoded) == Self.dealerReady)
        #expect(Self.dealerReady.count == 2 + 41)
    }

    @Test("ROUTER READY reply matches the 23/ZMTP worked example")
    func routerReadyBytes() {
        let ready = Command.ready(Metadata([("Socket-Type", Array("ROUTER".utf8))]))
        #expect(bytes(ready.encoded) == Self.routerReady)
        #expect(Self.routerReady.count == 2 + 28)
    }

    @Test("the worked example's READY commands parse back")
    func parseWorkedExample() throws {
        let dealer = try parseCommandFrame(buffer(Self.dealerReady))
        #expect(dealer == .ready(Metadata([("Socket-Type", ascii("DEALER")), ("Identity", [])])))
        guard case .ready(let dealerMetadata) = dealer else {
            Issue.record("not READY: \(dealer)")
            return
        }
        #expect(dealerMetadata.properties.count == 2)
        #expect(dealerMetadata["Socket-Type"] == ascii("DEALER"))
        #expect(dealerMetadata["Identity"] == [])

        let router = try parseCommandFrame(buffer(Self.routerReady))
        #expect(router == .ready(Metadata([("Socket-Type", ascii("ROUTER"))])))
        guard case .ready(let routerMetadata) = router else {
            Issue.record("not READY: \(router)")
            return
        }
        #expect(routerMetadata["Identity"] == nil)
        #expect(router.name == "READY")
    }

    @Test("metadata names are looked up case-insensitively")
    func caseInsensitiveLookup() throws {
        guard case .ready(let metadata) = try parseCommandFrame(buffer(Self.dealerReady)) else {
            Issue.record("not READY")
            return
        }
        #expect(metadata["socket-type"] == ascii("DEALER"))
        #expect(metadata["SOCKET-TYPE"] == ascii("DEALER"))
        #expect(metadata["sOcKeT-tYpE"] == ascii("DEALER"))
        #expect(metadata["IDENTITY"] == [])
        #expect(metadata["Resource"] == nil)

        let mixed = Metadata([("X-Custom", [1, 2]), ("x-other", [3])])
        #expect(mixed["x-custom"] == [1, 2])
        #expect(mixed["X-OTHER"] == [3])
    }

    @Test("metadata with several properties round-trips in order")
    func metadataRoundTrip() throws {
        let metadata = Metadata([
            ("Socket-Type", ascii("PUSH")),
            ("X-Empty", []),
            ("X-Binary", [0x00, 0xFF, 0x10]),
            ("X-Long", [UInt8](repeating: 0xAB, count: 300)),
        ])
        var encoded = ByteBuffer()
        metadata.encode(into: &encoded)
        #expect(Array(bytes(encoded).prefix(16)) == [11] + ascii("Socket-Type") + [0, 0, 0, 4])
        let decoded = try Metadata.decode(from: &encoded)
        #expect(decoded == metadata)
        #expect(decoded.properties.map(\.name) == ["Socket-Type", "X-Empty", "X-Binary", "X-Long"])
        #expect(encoded.readableBytes == 0)

        // A READY that big takes the long frame form and still parses back.
        let ready = Command.ready(metadata)
        #expect(bytes(ready.encoded).first == 0x06)
        #expect(try parseCommandFrame(ready.encoded) == ready)
    }

    @Test("malformed READY metadata is refused")
    func malformedMetadata() {
        let ready = [5] + ascii("READY")
        Self.expectMalformed(ready + [0])                                  // zero-length name
        Self.expectMalformed(ready + [4] + ascii("Nam"))                   // name overruns
        Self.expectMalformed(ready + [4] + ascii("Name") + [0, 0, 0])      // size field cut short
        Self.expectMalformed(ready + [4] + ascii("Name") + [0, 0, 0, 5] + ascii("abc")) // value overruns
        Self.expectMalformed(ready + [4] + ascii("Name") + [0x80, 0, 0, 0]) // value size ≥ 2^31
    }

    // MARK: PING and PONG

    @Test("PING encodes TTL and context, and parses back")
    func ping() throws {
        let ping = Command.ping(ttl: 0x0102, context: [0xAA, 0xBB, 0xCC])
        let expected: [UInt8] = [0x04, 10, 4] + ascii("PING") + [0x01, 0x02, 0xAA, 0xBB, 0xCC]
        #expect(bytes(ping.encoded) == expected)
        #expect(try parseCommandFrame(ping.encoded) == ping)
        #expect(ping.name == "PING")

        let bare = Command.ping(ttl: 0, context: [])
        #expect(bytes(bare.encoded) == [0x04, 7, 4] + ascii("PING") + [0, 0])
        #expect(try parseCommandFrame(bare.encoded) == bare)

        let full = Command.ping(ttl: 65535, context: Array(1...16))
        #expect(try parseCommandFrame(full.encoded) == full)
    }

    @Test("PING parses from a hand-written body")
    func pingLiteral() throws {
        let parsed = try Command(parsing: buffer([4] + ascii("PING") + [0x00, 0x32] + ascii("ctx")))
        #expect(parsed == .ping(ttl: 50, context: ascii("ctx")))
    }

    @Test("PING with more than 16 octets of context, or no TTL, is malformed")
    func malformedPing() {
        Self.expectMalformed([4] + ascii("PING") + [0, 1] + [UInt8](repeating: 7, count: 17))
        Self.expectMalformed([4] + ascii("PING") + [0])
        Self.expectMalformed([4] + ascii("PING"))
    }

    @Test("PONG echoes a context and parses back")
    func pong() throws {
        let pong = Command.pong(context: [1, 2, 3, 4])
        #expect(bytes(pong.encoded) == [0x04, 9, 4] + ascii("PONG") + [1, 2, 3, 4])
        #expect(try parseCommandFrame(pong.encoded) == pong)
        let empty = Command.pong(context: [])
        #expect(bytes(empty.encoded) == [0x04, 5, 4] + ascii("PONG"))
        #expect(try parseCommandFrame(empty.encoded) == empty)
        Self.expectMalformed([4] + ascii("PONG") + [UInt8](repeating: 1, count: 17))
    }

    // MARK: ERROR

    @Test("ERROR carries a length-prefixed reason")
    func error() throws {
        let error = Command.error(reason: "Invalid socket type")
        let reason = ascii("Invalid socket type")
        #expect(bytes(error.encoded) == [0x04, UInt8(1 + 5 + 1 + reason.count), 5] + ascii("ERROR") + [UInt8(reason.count)] + reason)
        #expect(try parseCommandFrame(error.encoded) == error)

        let empty = Command.error(reason: "")
        #expect(bytes(empty.encoded) == [0x04, 7, 5] + ascii("ERROR") + [0])
        #expect(try parseCommandFrame(empty.encoded) == empty)
    }

    @Test("an ERROR reason is cut to 255 octets")
    func longErrorReason() throws {
        let encoded = Command.error(reason: String(repeating: "x", count: 300)).encoded
        #expect(try parseCommandFrame(encoded) == .error(reason: String(repeating: "x", count: 255)))
    }

    @Test("an ERROR whose reason overruns the command is malformed")
    func malformedError() {
        Self.expectMalformed([5] + ascii("ERROR") + [10] + ascii("short"))
        Self.expectMalformed([5] + ascii("ERROR"))
    }

    // MARK: Others

    @Test("SUBSCRIBE and CANCEL carry the rest of the body")
    func subscribe() throws {
        let subscribe = Command.subscribe(ByteBuffer(string: "weather"))
        #expect(bytes(subscribe.encoded) == [0x04, 17, 9] + ascii("SUBSCRIBE") + ascii("weather"))
        #expect(try parseCommandFrame(subscribe.encoded) == subscribe)
        let cancel = Command.cancel(ByteBuffer())
        #expect(bytes(cancel.encoded) == [0x04, 7, 6] + ascii("CANCEL"))
        #expect(try parseCommandFrame(cancel.encoded) == cancel)
    }

    @Test("an unknown command parses as .unknown with its data")
    func unknown() throws {
        let parsed = try Command(parsing: buffer([5] + ascii("HELLO") + [1, 2, 3]))
        #expect(parsed == .unknown(name: "HELLO", data: buffer([1, 2, 3])))
        #expect(parsed.name == "HELLO")
        #expect(bytes(parsed.encoded) == [0x04, 9, 5] + ascii("HELLO") + [1, 2, 3])

        let bare = try Command(parsing: buffer([1] + ascii("X")))
        #expect(bare == .unknown(name: "X", data: ByteBuffer()))

        // Command names are case-sensitive: "ready" is not READY.
        let lower = try Command(parsing: buffer([5] + ascii("ready")))
        #expect(lower == .unknown(name: "ready", data: ByteBuffer()))
    }

    @Test("a command with an empty or overrunning name is malformed")
    func malformedName() {
        Self.expectMalformed([])
        Self.expectMalformed([0])
        Self.expectMalformed([0] + ascii("READY"))
        Self.expectMalformed([5] + ascii("REA"))
        Self.expectMalformed([255] + ascii("PING"))
    }
}
