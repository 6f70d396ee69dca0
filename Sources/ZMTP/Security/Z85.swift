/// Z85 (ZeroMQ RFC 32): the printable form of CURVE keys, four octets as five characters.
public enum Z85 {
    /// The 85 characters, in value order, exactly as RFC 32 lists them.
    static let alphabet = Array("0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.-:+=^!/*?&<>()[]{}@%$#".utf8)

    /// Each ASCII code's value in the alphabet, or nil for characters Z85 does not use.
    static let values: [UInt8?] = {
        var table = [UInt8?](repeating: nil, count: 128)
        for (value, character) in alphabet.enumerated() { table[Int(character)] = UInt8(value) }
        return table
    }()

    /// Encodes `bytes`, whose count must be a multiple of 4, as Z85 text.
    public static func encode(_ bytes: some Collection<UInt8>) throws(Z85Error) -> String {
        guard bytes.count % 4 == 0 else { throw .binaryLengthNotMultipleOfFour(bytes.count) }
        return encode(wholeGroups: bytes)
    }

    /// Encodes octets already known to come in whole groups of 4, as keys always do.
    static func encode(wholeGroups bytes: some Collection<UInt8>) -> String {
        precondition(bytes.count % 4 == 0, "Z85 encodes whole groups of 4 octets")
        var text = [UInt8]()
        text.reserveCapacity(bytes.count / 4 * 5)
        var iterator = bytes.makeIterator()
        while let first = iterator.next() {
            var value = UInt32(first)
            for _ in 1..<4 { value = value << 8 | UInt32(iterator.next() ?? 0) }
            // Digits come out least significant first, so fill the group from its end.
            let groupStart = text.count
            text.append(contentsOf: repeatElement(0, count: 5))
            for position in (groupStart..<groupStart + 5).reversed() {
                text[position] = alphabet[Int(value % 85)]
                value /= 85
            }
        }
        return String(decoding: text, as: UTF8.self)
    }

    /// Decodes Z85 text, whose length must be a multiple of 5, back into octets.
    public static func decode(_ text: String) throws(Z85Error) -> [UInt8] {
        let characters = Array(text.unicodeScalars)
        guard characters.count % 5 == 0 else { throw .textLengthNotMultipleOfFive(characters.count) }
        var bytes = [UInt8]()
        bytes.reserveCapacity(characters.count / 5 * 4)
        for groupStart in stride(from: 0, to: characters.count, by: 5) {
            // 85^5 - 1 is larger than 2^32 - 1, so accumulate in 64 bits and check afterwards.
            var value: UInt64 = 0
            for offset in groupStart..<groupStart + 5 {
                let character = characters[offset]
                guard character.isASCII, let digit = values[Int(character.value)] else {
                    throw .invalidCharacter(character, offset: offset)
                }
                value = value * 85 + UInt64(digit)
            }
            guard value <= UInt64(UInt32.max) else {
                throw .groupOverflow(String(String.UnicodeScalarView(characters[groupStart..<groupStart + 5])), offset: groupStart)
            }
            for shift in stride(from: 24, through: 0, by: -8) { bytes.append(UInt8(truncatingIfNeeded: value >> UInt64(shift))) }
        }
        return bytes
    }
}

/// Why Z85 encoding or decoding failed; the description says exactly what was wrong.
public enum Z85Error: Error, Equatable, Sendable, CustomStringConvertible {
    /// Only whole groups of 4 octets can be encoded; the associated value is the count given.
    case binaryLengthNotMultipleOfFour(Int)
    /// Only whole groups of 5 characters can be decoded; the associated value is the length given.
    case textLengthNotMultipleOfFive(Int)
    /// A character that is not one of the 85; `offset` counts Unicode scalars from 0.
    case invalidCharacter(Unicode.Scalar, offset: Int)
    /// A group of 5 characters whose value does not fit in 32 bits (it is above "%nSc0").
    case groupOverflow(String, offset: Int)

    public var description: String {
        switch self {
        case .binaryLengthNotMultipleOfFour(let count):
            "Z85 can only encode a multiple of 4 octets, not \(count)"
        case .textLengthNotMultipleOfFive(let count):
            "Z85 text must be a multiple of 5 characters long, not \(count)"
        case .invalidCharacter(let character, let offset):
            "character '\(character.escaped(asASCII: true))' at offset \(offset) is not in the Z85 alphabet"
        case .groupOverflow(let group, let offset):
            "the 5 characters '\(group)' at offset \(offset) are worth more than 2^32 - 1, so they are not Z85"
        }
    }
}
