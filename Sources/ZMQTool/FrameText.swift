import ZMQ

/// How the tool shows frames on a line, and reads them from arguments.
enum FrameText {
    /// Printable UTF-8 without tabs or control characters prints as text; anything else as 0x + hex.
    static func format(_ frame: Frame) -> String {
        if let text = frame.string, text.unicodeScalars.allSatisfy(isPrintable) {
            return text
        }
        return "0x" + frame.bytes.map { byte in
            let hex = String(byte, radix: 16)
            return byte < 16 ? "0" + hex : hex
        }.joined()
    }

    static func format(_ message: Message) -> String {
        message.map(format).joined(separator: "\t")
    }

    private static func isPrintable(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.properties.generalCategory {
        case .control, .format, .lineSeparator, .paragraphSeparator, .surrogate, .privateUse, .unassigned:
            return false
        default:
            return true
        }
    }

    /// A frame argument: `0x…` is hex, anything else is its UTF-8 text.
    static func parse(_ argument: String) throws -> Frame {
        guard argument.hasPrefix("0x") else { return Frame(argument) }
        let digits = Array(argument.utf8.dropFirst(2))
        guard digits.count % 2 == 0 else {
            throw UsageError(message: "frame '\(argument)' has an odd number of hex digits")
        }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(digits.count / 2)
        for index in stride(from: 0, to: digits.count, by: 2) {
            guard let high = hexValue(digits[index]), let low = hexValue(digits[index + 1]) else {
                throw UsageError(message: "frame '\(argument)' is not valid hex")
            }
            bytes.append(high << 4 | low)
        }
        return Frame(bytes)
    }

    private static func hexValue(_ digit: UInt8) -> UInt8? {
        switch digit {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return digit - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return digit - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return digit - UInt8(ascii: "A") + 10
        default: return nil
        }
    }
}
