import NIOCore

/// The 64-octet greeting that opens every ZMTP 3.x connection (23/ZMTP "Version Negotiation").
///
///     signature (10) | major | minor | mechanism (20) | as-server | filler (31)
public struct Greeting: Equatable, Sendable {
    public static let size = 64
    /// Enough octets to tell a ZMTP 3.x peer from anything else: signature and major version.
    static let prefixSize = 11

    public var major: UInt8
    public var minor: UInt8
    public var mechanism: String
    public var asServer: Bool

    public init(major: UInt8 = 3, minor: UInt8 = 1, mechanism: String = "NULL", asServer: Bool = false) {
        self.major = major
        self.minor = minor
        self.mechanism = mechanism
        self.asServer = asServer
    }

    public func encode(into buffer: inout ByteBuffer) {
        buffer.writeInteger(UInt8(0xFF))
        // The padding is never read; libzmq writes a 64-bit "identity length + 1" there for 1.0 detection.
        buffer.writeInteger(UInt64(1))
        buffer.writeInteger(UInt8(0x7F))
        buffer.writeInteger(major)
        buffer.writeInteger(minor)
        let name = Array(mechanism.utf8.prefix(20))
        buffer.writeBytes(name)
        buffer.writeRepeatingByte(0, count: 20 - name.count)
        buffer.writeInteger(UInt8(asServer ? 1 : 0))
        buffer.writeRepeatingByte(0, count: 31)
    }

    public var encoded: ByteBuffer {
        var buffer = ByteBuffer()
        buffer.reserveCapacity(Self.size)
        encode(into: &buffer)
        return buffer
    }

    /// Checks the first octets as soon as they arrive, so a non-ZMTP peer is refused without waiting
    /// for 64 octets that may never come.
    static func validatePrefix(_ buffer: ByteBuffer) throws(ZMTPError) {
        let start = buffer.readerIndex
        if buffer.readableBytes >= 1, buffer.getInteger(at: start, as: UInt8.self) != 0xFF {
            throw .badSignature
        }
        if buffer.readableBytes >= 10, let last = buffer.getInteger(at: start + 9, as: UInt8.self), last & 1 == 0 {
            // A ZMTP 1.0/2.0 peer sends a final short-length octet with bit 0 clear; 3.x sends 0x7F.
            throw .badSignature
        }
        if buffer.readableBytes >= 11, let major = buffer.getInteger(at: start + 10, as: UInt8.self), major < 3 {
            throw .unsupportedVersion(major: major)
        }
    }

    /// Decodes a complete greeting from the first 64 readable octets of `buffer`, consuming them.
    public static func decode(from buffer: inout ByteBuffer) throws(ZMTPError) -> Greeting? {
        try validatePrefix(buffer)
        guard buffer.readableBytes >= size else { return nil }
        var bytes = buffer.readSlice(length: size)!
        bytes.moveReaderIndex(forwardBy: 10)
        let major = bytes.readInteger(as: UInt8.self)!
        let minor = bytes.readInteger(as: UInt8.self)!
        let field = bytes.readBytes(length: 20)!
        let name = String(decoding: field.prefix { $0 != 0 }, as: UTF8.self)
        let asServer = bytes.readInteger(as: UInt8.self)! != 0
        return Greeting(major: major, minor: minor, mechanism: name, asServer: asServer)
    }
}
