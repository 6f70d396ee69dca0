import Testing
@testable import ZMTP

@Suite("Z85 encoding")
struct Z85Tests {
    @Test("the RFC 32 test vector encodes as HelloWorld and decodes back")
    func specVector() throws {
        let bytes: [UInt8] = [0x86, 0x4F, 0xD2, 0x6F, 0xB5, 0x59, 0xF7, 0x5B]
        #expect(try Z85.encode(bytes) == "HelloWorld")
        #expect(try Z85.decode("HelloWorld") == bytes)
    }

    @Test("the smallest and largest groups use the first and the highest characters")
    func extremes() throws {
        #expect(try Z85.encode([0, 0, 0, 0]) == "00000")
        #expect(try Z85.encode([0xFF, 0xFF, 0xFF, 0xFF]) == "%nSc0")
        #expect(try Z85.decode("%nSc0") == [0xFF, 0xFF, 0xFF, 0xFF])
        #expect(try Z85.encode([UInt8]()).isEmpty)
        #expect(try Z85.decode("").isEmpty)
    }

    @Test("random data of every whole-group length round-trips")
    func randomRoundTrips() throws {
        var generator = SystemRandomNumberGenerator()
        for count in stride(from: 0, through: 400, by: 4) {
            let bytes = (0..<count).map { _ in UInt8.random(in: 0...255, using: &generator) }
            let text = try Z85.encode(bytes)
            #expect(text.count == count / 4 * 5)
            #expect(text.utf8.allSatisfy { Z85.alphabet.contains($0) })
            #expect(try Z85.decode(text) == bytes)
        }
    }

    @Test("encode takes any collection of octets, such as an array slice")
    func encodesSlices() throws {
        let bytes: [UInt8] = [1, 2, 0x86, 0x4F, 0xD2, 0x6F, 0xB5, 0x59, 0xF7, 0x5B, 3]
        #expect(try Z85.encode(bytes[2..<10]) == "HelloWorld")
    }

    @Test("encoding a count of octets that is not a multiple of 4 fails and says so")
    func encodeLength() {
        #expect(throws: Z85Error.binaryLengthNotMultipleOfFour(3)) { try Z85.encode([1, 2, 3]) }
        #expect(Z85Error.binaryLengthNotMultipleOfFour(3).description == "Z85 can only encode a multiple of 4 octets, not 3")
    }

    @Test("decoding text whose length is not a multiple of 5 fails and says so")
    func decodeLength() {
        let text = String(repeating: "a", count: 39)
        #expect(throws: Z85Error.textLengthNotMultipleOfFive(39)) { try Z85.decode(text) }
        #expect(Z85Error.textLengthNotMultipleOfFive(39).description == "Z85 text must be a multiple of 5 characters long, not 39")
    }

    @Test("characters outside the alphabet are reported with their offset")
    func invalidCharacters() {
        #expect(throws: Z85Error.invalidCharacter("~", offset: 12)) { try Z85.decode("HelloWorld00~00") }
        #expect(Z85Error.invalidCharacter("~", offset: 12).description == "character '~' at offset 12 is not in the Z85 alphabet")
        for character: Unicode.Scalar in ["\"", "'", ",", ";", "\\", "_", "`", "|", " "] {
            #expect(throws: Z85Error.invalidCharacter(character, offset: 0)) { try Z85.decode(String(character) + "0000") }
        }
        #expect(throws: Z85Error.invalidCharacter("é", offset: 4)) { try Z85.decode("0000é") }
        #expect(Z85Error.invalidCharacter("\n", offset: 2).description == "character '\\n' at offset 2 is not in the Z85 alphabet")
    }

    @Test("a group worth more than 2^32 - 1 is rejected, not wrapped around")
    func overflow() {
        #expect(throws: Z85Error.groupOverflow("%nSc1", offset: 5)) { try Z85.decode("HelloWorld".prefix(5) + "%nSc1") }
        #expect(throws: Z85Error.groupOverflow("#####", offset: 0)) { try Z85.decode("#####") }
        #expect(Z85Error.groupOverflow("#####", offset: 0).description
            == "the 5 characters '#####' at offset 0 are worth more than 2^32 - 1, so they are not Z85")
    }
}

@Suite("CURVE keys")
struct KeyTests {
    /// The server key pair from libzmq's CURVE tests and the CurveZMQ examples.
    static let publicZ85 = "rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7"
    static let secretZ85 = "JTKVSB%%)wK0E.X)V>+}o?pNmC{O&4W4b!Ni{Lh6"

    @Test("a key decodes from 40 characters of Z85 and encodes back unchanged")
    func z85RoundTrip() throws {
        let publicKey = try CurvePublicKey(z85: Self.publicZ85)
        let secretKey = try CurveSecretKey(z85: Self.secretZ85)
        #expect(publicKey.bytes.count == 32)
        #expect(publicKey.z85 == Self.publicZ85)
        #expect(secretKey.z85 == Self.secretZ85)
        #expect(try CurvePublicKey(bytes: publicKey.bytes) == publicKey)
        #expect(try CurveSecretKey(bytes: secretKey.bytes[...]) == secretKey)
        #expect(publicKey.description == Self.publicZ85)
    }

    @Test("any count of octets but 32 is refused, naming the kind of key")
    func wrongByteCount() {
        #expect(throws: KeyError(description: "a CURVE public key is 32 octets, not 31")) {
            try CurvePublicKey(bytes: [UInt8](repeating: 1, count: 31))
        }
        #expect(throws: KeyError(description: "a CURVE secret key is 32 octets, not 33")) {
            try CurveSecretKey(bytes: [UInt8](repeating: 1, count: 33))
        }
        #expect(throws: KeyError(description: "a CURVE public key is 32 octets, not 0")) { try CurvePublicKey(bytes: []) }
    }

    @Test("Z85 text that is not 40 characters, or not Z85, is refused with the reason")
    func badZ85() {
        #expect(throws: KeyError(description: "a Z85 CURVE public key is 40 characters, not 39")) {
            try CurvePublicKey(z85: String(Self.publicZ85.dropLast()))
        }
        #expect(throws: KeyError(description: "a Z85 CURVE secret key is 40 characters, not 45")) {
            try CurveSecretKey(z85: Self.secretZ85 + "00000")
        }
        var withTilde = Array(Self.publicZ85)
        withTilde[12] = "~"
        #expect(throws: KeyError(description: "a Z85 CURVE public key is not valid Z85: character '~' at offset 12 is not in the Z85 alphabet")) {
            try CurvePublicKey(z85: String(withTilde))
        }
    }

    @Test("an overflowing group in a secret key is reported without quoting the key")
    func overflowDoesNotQuoteSecret() {
        let text = String(Self.secretZ85.prefix(35)) + "#####"
        #expect(throws: KeyError(description: "a Z85 CURVE secret key is not valid Z85: the 5 characters at offset 35 are worth more than 2^32 - 1")) {
            try CurveSecretKey(z85: text)
        }
    }

    @Test("a secret key never prints its material, alone or inside a pair")
    func secretKeyDoesNotPrint() throws {
        let pair = CurveKeyPair(publicKey: try CurvePublicKey(z85: Self.publicZ85), secretKey: try CurveSecretKey(z85: Self.secretZ85))
        var dumped = ""
        dump(pair, to: &dumped)
        let renderings = [
            "\(pair.secretKey)", String(reflecting: pair.secretKey), "\(pair)", String(reflecting: pair), dumped,
        ]
        for rendering in renderings {
            #expect(!rendering.contains(Self.secretZ85), "\(rendering)")
            #expect(!rendering.contains("\(pair.secretKey.bytes)"), "\(rendering)")
        }
        #expect("\(pair.secretKey)" == "CurveSecretKey(…)")
        #expect(String(reflecting: pair.secretKey) == "CurveSecretKey(…)")
        #expect("\(pair)".contains(Self.publicZ85))
    }

    @Test("keys are values: equal octets are equal keys and hash alike")
    func hashable() throws {
        let a = try CurveSecretKey(z85: Self.secretZ85)
        let b = try CurveSecretKey(bytes: a.bytes)
        var changed = a.bytes
        changed[31] ^= 1
        let c = try CurveSecretKey(bytes: changed)
        #expect(a == b)
        #expect(a != c)
        #expect(Set([a, b, c]).count == 2)
        #expect(Set([try CurvePublicKey(z85: Self.publicZ85), try CurvePublicKey(z85: Self.publicZ85)]).count == 1)
    }
}
