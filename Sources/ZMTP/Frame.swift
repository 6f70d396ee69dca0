import NIOCore

/// One part of a ZeroMQ message. It holds its bytes in a `ByteBuffer`; a frame read from the network
/// is a slice of the buffer the bytes arrived in, so receiving copies nothing.
public struct Frame: Sendable, Hashable, CustomStringConvertible {
    public var buffer: ByteBuffer

    public init(buffer: ByteBuffer) {
        self.buffer = buffer
    }

    public init(_ string: String) {
        self.buffer = ByteBuffer(string: string)
    }

    public init(_ bytes: some Sequence<UInt8>) {
        self.buffer = ByteBuffer(bytes: bytes)
    }

    public init() {
        self.buffer = ByteBuffer()
    }

    /// The number of octets in the frame.
    public var count: Int { buffer.readableBytes }
    public var isEmpty: Bool { buffer.readableBytes == 0 }

    /// The octets as an array (a copy).
    public var bytes: [UInt8] { buffer.getBytes(at: buffer.readerIndex, length: buffer.readableBytes) ?? [] }

    /// The octets as text, or nil when they are not valid UTF-8.
    public var string: String? {
        buffer.withUnsafeReadableBytes { raw in
            String(validating: raw, as: UTF8.self)
        }
    }

    public func withUnsafeBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        try buffer.withUnsafeReadableBytes(body)
    }

    public var description: String {
        string ?? "0x" + bytes.map { byte in
            let hex = String(byte, radix: 16)
            return hex.count == 1 ? "0" + hex : hex
        }.joined()
    }
}

extension Frame: ExpressibleByStringLiteral {
    public init(stringLiteral value: String) {
        self.init(value)
    }
}

/// A ZeroMQ message: one or more frames, sent and delivered whole or not at all.
///
/// A one-frame message, the common case, is stored without an array.
public struct Message: Sendable, Hashable, RandomAccessCollection, ExpressibleByArrayLiteral {
    enum Storage: Hashable {
        case single(Frame)
        case multipart([Frame])
    }

    var storage: Storage

    public init(_ frame: Frame) {
        storage = .single(frame)
    }

    public init(_ frames: [Frame]) {
        storage = frames.count == 1 ? .single(frames[0]) : .multipart(frames)
    }

    public init(_ strings: [String]) {
        self.init(strings.map { Frame($0) })
    }

    public init(_ string: String) {
        self.init(Frame(string))
    }

    public init(arrayLiteral frames: Frame...) {
        self.init(frames)
    }

    public var frames: [Frame] {
        switch storage {
        case .single(let frame): return [frame]
        case .multipart(let frames): return frames
        }
    }

    public var startIndex: Int { 0 }
    public var endIndex: Int {
        switch storage {
        case .single: return 1
        case .multipart(let frames): return frames.count
        }
    }

    public subscript(position: Int) -> Frame {
        switch storage {
        case .single(let frame):
            precondition(position == 0, "frame index out of range")
            return frame
        case .multipart(let frames):
            return frames[position]
        }
    }

    /// The total number of octets in all frames.
    public var byteCount: Int {
        switch storage {
        case .single(let frame): return frame.count
        case .multipart(let frames): return frames.reduce(0) { $0 + $1.count }
        }
    }
}

extension Message: ExpressibleByStringLiteral {
    /// A one-frame message holding the text.
    public init(stringLiteral value: String) {
        self.init(Frame(value))
    }
}
