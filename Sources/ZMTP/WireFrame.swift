import NIOCore

/// The flags octet of a ZMTP frame (23/ZMTP "Framing"). Bits 3–7 are reserved and must be zero.
public struct FrameFlags: OptionSet, Sendable, Hashable {
    public let rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue }

    public static let more = FrameFlags(rawValue: 0x01)
    public static let long = FrameFlags(rawValue: 0x02)
    public static let command = FrameFlags(rawValue: 0x04)
    static let reservedBits: UInt8 = 0xF8
}

/// One frame as it travels on the wire: its flags and its body.
public struct WireFrame: Sendable, Hashable {
    public var flags: FrameFlags
    public var body: ByteBuffer

    public init(flags: FrameFlags, body: ByteBuffer) {
        self.flags = flags
        self.body = body
    }

    public var isCommand: Bool { flags.contains(.command) }
    public var hasMore: Bool { flags.contains(.more) }
}

/// Writes frames in ZMTP form: a short size for bodies of 0–255 octets, a long one above.
public enum FrameEncoder {
    /// Writes the flags and size octets for a body of `size` octets.
    @inline(__always)
    public static func writeHeader(more: Bool, command: Bool = false, size: Int, into buffer: inout ByteBuffer) {
        var flags: UInt8 = more ? FrameFlags.more.rawValue : 0
        if command { flags |= FrameFlags.command.rawValue }
        if size <= 255 {
            buffer.writeMultipleIntegers(flags, UInt8(truncatingIfNeeded: size))
        } else {
            buffer.writeMultipleIntegers(flags | FrameFlags.long.rawValue, UInt64(size))
        }
    }

    /// The number of header octets `writeHeader` writes for a body of `size` octets.
    @inline(__always)
    public static func headerSize(for size: Int) -> Int { size <= 255 ? 2 : 9 }

    /// Encodes every frame of `message`, copying the bodies into `buffer`.
    public static func encode(_ message: Message, into buffer: inout ByteBuffer) {
        switch message.storage {
        case .single(let frame):
            writeHeader(more: false, size: frame.count, into: &buffer)
            frame.write(into: &buffer)
        case .multipart(let frames):
            for (index, frame) in frames.enumerated() {
                writeHeader(more: index < frames.count - 1, size: frame.count, into: &buffer)
                frame.write(into: &buffer)
            }
        case .addressed(let inner, _):
            // The routing id and group are the socket's business, never the wire's.
            encode(Message(storage: inner), into: &buffer)
        }
    }

    /// Encodes a command frame whose body is `name` followed by `data` (23/ZMTP "command-body").
    public static func encodeCommand(name: String, data: ByteBuffer, into buffer: inout ByteBuffer) {
        let nameBytes = Array(name.utf8)
        let size = 1 + nameBytes.count + data.readableBytes
        writeHeader(more: false, command: true, size: size, into: &buffer)
        buffer.writeInteger(UInt8(nameBytes.count))
        buffer.writeBytes(nameBytes)
        buffer.writeImmutableBuffer(data)
    }
}

extension Message {
    /// The octets this message takes in ZMTP framing (a 2- or 9-octet header per frame, then its
    /// body), and the size of its largest frame.
    public var wireLayout: (size: Int, largestFrame: Int) {
        switch storage {
        case .single(let frame):
            let count = frame.count
            return (FrameEncoder.headerSize(for: count) &+ count, count)
        case .multipart(let frames):
            var size = 0, largest = 0
            for frame in frames {
                let count = frame.count
                size &+= FrameEncoder.headerSize(for: count) &+ count
                largest = Swift.max(largest, count)
            }
            return (size, largest)
        case .addressed(let inner, _):
            return Message(storage: inner).wireLayout
        }
    }

    /// Writes the message in ZMTP framing at `base`, which has room for `wireLayout.size` octets,
    /// and returns the number of octets written. The batch encoder's inner loop: it consumes the
    /// message, so its payload is released once and never retained.
    public consuming func writeWire(to base: UnsafeMutableRawPointer) -> Int {
        switch storage {
        case .single(let frame):
            return frame.writeWire(to: base, more: false)
        case .multipart(let frames):
            var offset = 0
            let last = frames.count - 1
            for index in frames.indices {
                offset &+= frames[index].writeWire(to: base + offset, more: index < last)
            }
            return offset
        case .addressed(let inner, _):
            return Message(storage: inner).writeWire(to: base)
        }
    }
}

extension MessageQueue {
    /// Writes the one-frame messages of up to `Frame.inlineCapacity` octets at the front of the
    /// queue in ZMTP framing into `target`, as many as fit, and takes them off the queue; stops at
    /// the first other message. Returns the octets written. Such a message holds no reference (an
    /// inline frame, no metadata), so it is read where it lies and its slot let go without the
    /// per-message move and destroy that `popFirst` and `writeWire` cost: the batch encoder's
    /// fast path for a stream of small messages.
    package mutating func writeSmallMessages(into target: UnsafeMutableRawBufferPointer) -> Int {
        guard !isEmpty, target.count >= 2 + Frame.inlineCapacity else { return 0 }
        prepareToWrite(adding: 0)
        let storage = self.storage.unsafelyUnwrapped
        let (elements, state) = (storage.elements, storage.state)
        let written = Self.writeSmall(elements, state, into: target)
        withExtendedLifetime(storage) {}
        return written
    }

    @inline(never)
    private static func writeSmall(_ elements: UnsafeMutablePointer<Message>, _ state: UnsafeMutablePointer<Header>,
                                   into target: UnsafeMutableRawBufferPointer) -> Int {
        let base = target.baseAddress!
        let room = target.count - (2 + Frame.inlineCapacity)
        var written = 0
        var taken = 0
        let queued = state.pointee.count
        while taken < queued, written <= room {
            guard let small = Message.smallInlineOctets(at: elements + state.pointee.slot(taken)) else { break }
            written &+= Frame(storage: .inline(small)).writeWire(to: base + written, more: false)
            taken &+= 1
        }
        // Nothing in those slots needs releasing: they are simply no longer the queue's. (A
        // message is its storage and its metadata; an inline frame's octets are plain words.)
        assert(_isPOD(InlineBytes.self))
        state.pointee.head = state.pointee.slot(taken)
        state.pointee.count &-= taken
        return written
    }
}

extension Message {
    /// Initializes `slot` with a copy of this message (a send queues a copy of what the caller
    /// passed). A message that holds no reference, one inline or permanent frame and no metadata
    /// (the common small message), is copied as plain memory; any other goes through the general
    /// copy, the type's value witness, which costs about ninety instructions even for those.
    @inlinable @inline(__always)
    package func copy(into slot: UnsafeMutablePointer<Message>) {
        if holdsNoReference {
            withUnsafePointer(to: self) { UnsafeMutableRawPointer(slot).copyMemory(from: $0, byteCount: MemoryLayout<Message>.size) }
        } else {
            slot.initialize(to: self)
        }
    }

    /// One inline or permanent frame and no metadata: nothing to retain or release.
    @inlinable
    var holdsNoReference: Bool {
        guard metadata == nil, case .single(let frame) = storage else { return false }
        switch frame.storage {
        case .inline, .permanent: return true
        case .compact, .buffer: return false
        }
    }

    /// The octets of a one-frame message of up to `Frame.inlineCapacity` octets that holds no
    /// reference (no metadata); nil for any other message.
    @inline(__always)
    static func smallInlineOctets(at message: UnsafeMutablePointer<Message>) -> InlineBytes? {
        guard message.pointee.metadata == nil, case .single(let frame) = message.pointee.storage,
              case .inline(let small) = frame.storage else { return nil }
        return small
    }
}

extension Frame {
    /// Writes the frame's header and body at `base`; returns the octets written.
    @inline(__always)
    func writeWire(to base: UnsafeMutableRawPointer, more: Bool) -> Int {
        let count = self.count
        let flags: UInt8 = more ? FrameFlags.more.rawValue : 0
        let header: Int
        if count <= 255 {
            base.storeBytes(of: flags, as: UInt8.self)
            base.storeBytes(of: UInt8(truncatingIfNeeded: count), toByteOffset: 1, as: UInt8.self)
            header = 2
        } else {
            base.storeBytes(of: flags | FrameFlags.long.rawValue, as: UInt8.self)
            base.storeBytes(of: UInt64(count).bigEndian, toByteOffset: 1, as: UInt64.self)
            header = 9
        }
        if count > 0 {
            withUnsafeBytes { body in (base + header).copyMemory(from: body.baseAddress!, byteCount: count) }
        }
        return header &+ count
    }
}
