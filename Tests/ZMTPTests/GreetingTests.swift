import NIOCore
import Testing
@testable import ZMTP

@Suite("Greeting (23/ZMTP Version Negotiation)")
struct GreetingTests {
    /// A well-formed 64-octet greeting with chosen padding, version and mechanism.
    static func greetingBytes(
        padding: [UInt8] = [UInt8](repeating: 0, count: 8), major: UInt8 = 3, minor: UInt8 = 1,
        mechanism: String = "NULL", asServer: UInt8 = 0
    ) -> [UInt8] {
        precondition(padding.count == 8)
        let name = ascii(mechanism)
        return [0xFF] + padding + [0x7F, major, minor] + name + [UInt8](repeating: 0, count: 20 - name.count)
            + [asServer] + [UInt8](repeating: 0, count: 31)
    }

    @Test("encodes to exactly 64 octets in the 23/ZMTP layout")
    func encodeLayout() {
        let encoded = bytes(Greeting(minor: 1, mechanism: "NULL", asServer: false).encoded)
        #expect(encoded.count == 64)
        #expect(encoded[0] == 0xFF, "signature starts with %xFF")
        #expect(encoded[1...8].count == 8, "8 octets of padding")
        #expect(encoded[9] == 0x7F, "signature ends with %x7F")
        #expect(encoded[10] == 0x03, "major version 3")
        #expect(encoded[11] == 0x01, "minor version")
        #expect(Array(encoded[12..<32]) == [0x4E, 0x55, 0x4C, 0x4C] + [UInt8](repeating: 0, count: 16),
                "\"NULL\" padded to 20 octets with NULs")
        #expect(encoded[32] == 0x00, "as-server")
        #expect(Array(encoded[33..<64]) == [UInt8](repeating: 0, count: 31), "31 zero octets of filler")
    }

    @Test("minor version, mechanism and as-server land in their octets")
    func encodeFields() {
        let encoded = bytes(Greeting(minor: 0, mechanism: "CURVE", asServer: true).encoded)
        #expect(encoded.count == 64)
        #expect(encoded[10] == 3)
        #expect(encoded[11] == 0)
        #expect(Array(encoded[12..<32]) == ascii("CURVE") + [UInt8](repeating: 0, count: 15))
        #expect(encoded[32] == 0x01)
        #expect(Array(encoded[33..<64]) == [UInt8](repeating: 0, count: 31))
    }

    @Test("encode then decode gives the same greeting and consumes exactly 64 octets",
          arguments: [
              Greeting(minor: 1, mechanism: "NULL", asServer: false),
              Greeting(minor: 0, mechanism: "NULL", asServer: false),
              Greeting(minor: 1, mechanism: "PLAIN", asServer: true),
              Greeting(minor: 1, mechanism: "CURVE", asServer: false),
              Greeting(minor: 7, mechanism: "ABCDEFGHIJKLMNOPQRST", asServer: true),
          ])
    func roundTrip(greeting: Greeting) throws {
        var input = greeting.encoded
        input.writeBytes([0x01, 0x02, 0x03])
        let decoded = try Greeting.decode(from: &input)
        #expect(decoded == greeting)
        #expect(bytes(input) == [0x01, 0x02, 0x03], "octets after the greeting are left unread")
    }

    @Test("decoding a hand-written greeting")
    func decodeLiteral() throws {
        var input = buffer(Self.greetingBytes(minor: 0, mechanism: "PLAIN", asServer: 1))
        let decoded = try #require(try Greeting.decode(from: &input))
        #expect(decoded.major == 3)
        #expect(decoded.minor == 0)
        #expect(decoded.mechanism == "PLAIN")
        #expect(decoded.asServer)
        #expect(input.readableBytes == 0)
    }

    @Test("fewer than 64 octets decode to nil and consume nothing")
    func shortInput() throws {
        let full = Self.greetingBytes()
        for count in 0..<64 {
            var input = buffer(Array(full.prefix(count)))
            let decoded = try Greeting.decode(from: &input)
            #expect(decoded == nil, "\(count) octets")
            #expect(input.readableBytes == count, "\(count) octets stay in the buffer")
        }
    }

    @Test("a bad first octet is refused with a single octet")
    func badFirstOctet() {
        for first: UInt8 in [0x00, 0x01, 0x7F, 0xFE] {
            var input = buffer([first])
            #expect(throws: ZMTPError.badSignature) { _ = try Greeting.decode(from: &input) }
        }
    }

    @Test("a 10th octet with bit 0 clear (ZMTP 1.0 long length) is a bad signature")
    func zmtp10Signature() {
        var input = buffer([0xFF, 0, 0, 0, 0, 0, 0, 0, 0, 0x7E])
        #expect(throws: ZMTPError.badSignature) { _ = try Greeting.decode(from: &input) }
    }

    @Test("major version below 3 is refused once 11 octets are there", arguments: [UInt8(1), 2])
    func oldMajor(major: UInt8) throws {
        let prefix: [UInt8] = [0xFF, 0, 0, 0, 0, 0, 0, 0, 1, 0x7F]
        var ten = buffer(prefix)
        #expect(try Greeting.decode(from: &ten) == nil, "10 octets do not show the version yet")
        var eleven = buffer(prefix + [major])
        #expect(throws: ZMTPError.unsupportedVersion(major: major)) { _ = try Greeting.decode(from: &eleven) }
    }

    @Test("a higher major version is accepted")
    func higherMajor() throws {
        var input = buffer(Self.greetingBytes(major: 4, minor: 0))
        let decoded = try #require(try Greeting.decode(from: &input))
        #expect(decoded.major == 4)
        #expect(decoded.mechanism == "NULL")
    }

    @Test("padding octets are never checked",
          arguments: [
              [UInt8](repeating: 0x00, count: 8),
              [UInt8](repeating: 0xFF, count: 8),
              [0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01],
              [0x12, 0x34, 0x56, 0x78, 0x9A, 0xBC, 0xDE, 0xF0],
              [0x7F, 0x7E, 0x00, 0x03, 0xFF, 0x80, 0x01, 0x02],
          ])
    func paddingIgnored(padding: [UInt8]) throws {
        var input = buffer(Self.greetingBytes(padding: padding, minor: 1, mechanism: "NULL"))
        let decoded = try Greeting.decode(from: &input)
        #expect(decoded == Greeting(major: 3, minor: 1, mechanism: "NULL", asServer: false))
    }
}
