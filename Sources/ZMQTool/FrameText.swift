import ZMQ

/// How the tool shows frames on a line, and reads them from arguments.
enum FrameText {
    /// Writes the message's line (without the newline) to `output`: a frame of printable UTF-8
    /// without tabs or control characters as text, any other (and text that itself starts with
    /// `0x`, which would read back as hex) as 0x + hex, tab-separated; in
    /// pieces of at most `chunkSize` octets, so printing a large binary frame needs a small
    /// buffer, not a string per octet.
    static func write(_ message: Message, to output: (UnsafeRawBufferPointer) -> Void) {
        for (index, frame) in message.enumerated() {
            if index > 0 { withUnsafeBytes(of: UInt8(ascii: "\t")) { output($0) } }
            frame.withUnsafeBytes { octets in
                if let text = String(validating: octets, as: UTF8.self), !text.hasPrefix("0x"), text.unicodeScalars.allSatisfy(isPrintable) {
                    output(octets)
                } else {
                    writeHex(octets, to: output)
                }
            }
        }
    }

    static let chunkSize = 64 * 1024
    private static let hexDigits = Array("0123456789abcdef".utf8)

    private static func writeHex(_ octets: UnsafeRawBufferPointer, to output: (UnsafeRawBufferPointer) -> Void) {
        "0x".utf8CString.withUnsafeBytes { output(UnsafeRawBufferPointer(rebasing: $0.dropLast())) }
        let chunk = UnsafeMutableRawBufferPointer.allocate(byteCount: chunkSize, alignment: 1)
        defer { chunk.deallocate() }
        hexDigits.withUnsafeBufferPointer { digits in
            var start = 0
            while start < octets.count {
                let end = min(start + chunkSize / 2, octets.count)
                var position = 0
                for index in start..<end {
                    let octet = octets[index]
                    chunk[position] = digits[Int(octet >> 4)]
                    chunk[position &+ 1] = digits[Int(octet & 0x0f)]
                    position &+= 2
                }
                output(UnsafeRawBufferPointer(rebasing: chunk[0..<position]))
                start = end
            }
        }
    }

    private static func isPrintable(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.properties.generalCategory {
        case .control, .format, .lineSeparator, .paragraphSeparator, .surrogate, .privateUse, .unassigned:
            return false
        default:
            return true
        }
    }

    /// A message as `write` prints it: frames separated by tabs, each parsed as an argument is.
    static func parseLine(_ line: String) throws -> Message {
        Message(try line.split(separator: "\t", omittingEmptySubsequences: false).map { try parse(String($0)) })
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
