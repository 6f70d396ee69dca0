import NIOCore

/// The properties a peer announces in READY (23/ZMTP "Connection Metadata"). Names compare
/// case-insensitively; the order they were written in is kept.
public struct Metadata: Sendable, Hashable {
    public private(set) var properties: [(name: String, value: [UInt8])]

    public init(_ properties: [(name: String, value: [UInt8])] = []) {
        self.properties = properties
    }

    public subscript(name: String) -> [UInt8]? {
        let wanted = name.lowercased()
        return properties.first { $0.name.lowercased() == wanted }?.value
    }

    public mutating func append(_ name: String, _ value: [UInt8]) {
        properties.append((name, value))
    }

    public static func == (lhs: Metadata, rhs: Metadata) -> Bool {
        lhs.properties.elementsEqual(rhs.properties) { $0.name == $1.name && $0.value == $1.value }
    }

    public func hash(into hasher: inout Hasher) {
        for property in properties {
            hasher.combine(property.name)
            hasher.combine(property.value)
        }
    }

    /// name-length (1) | name | value-length (4, big-endian) | value, for every property.
    public func encode(into buffer: inout ByteBuffer) {
        for (name, value) in properties {
            let nameBytes = Array(name.utf8)
            buffer.writeInteger(UInt8(nameBytes.count))
            buffer.writeBytes(nameBytes)
            buffer.writeInteger(UInt32(value.count))
            buffer.writeBytes(value)
        }
    }

    /// The most properties one command may carry: enough for any real peer, and a bound on
    /// what a hostile one can make us keep.
    public static let propertyLimit = 64

    public static func decode(from buffer: inout ByteBuffer) throws(ZMTPError) -> Metadata {
        var metadata = Metadata()
        while buffer.readableBytes > 0 {
            guard metadata.properties.count < propertyLimit else {
                throw .malformedCommand("more than \(propertyLimit) metadata properties")
            }
            guard let nameLength = buffer.readInteger(as: UInt8.self), nameLength > 0,
                  let name = buffer.readString(length: Int(nameLength))
            else { throw .malformedCommand("bad metadata property name") }
            guard let valueLength = buffer.readInteger(as: UInt32.self), valueLength < 1 << 31,
                  let value = buffer.readBytes(length: Int(valueLength))
            else { throw .malformedCommand("metadata property \(name) overruns the command") }
            metadata.append(name, value)
        }
        return metadata
    }
}
