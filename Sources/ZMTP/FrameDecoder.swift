import NIOCore

/// Parses ZMTP frames in place from the buffers the network delivers.
///
/// A frame that lies wholly inside one read buffer becomes a slice of it: no copy, no allocation.
/// Only a frame that straddles two reads is copied, and then only its own octets, so nothing
/// re-copies a whole chunk (unlike a cumulating `ByteToMessageDecoder`).
public struct FrameDecoder: Sendable {
    /// The largest body the next frame may declare; a larger one is refused before any of it is
    /// buffered, so a length field never makes us allocate what it claims.
    public var bodyLimit: UInt64 = .max
    /// The message size limit reported in errors (the configured maximum message size).
    public var reportedLimit: Int = .max

    /// The octets of a frame that began in an earlier read.
    private var partial: ByteBuffer?
    /// The capacity of the partial frame's buffer while it is lent out to be read into
    /// (`lendPartialFrame`); 0 when it is not.
    private var lentCapacity = 0

    /// The memory held for a frame that began in an earlier read.
    package var retainedCapacity: Int { partial?.capacity ?? lentCapacity }

    /// The partial frame's buffer is lent out: the next chunk is that buffer, read into.
    public var isLent: Bool { lentCapacity > 0 }

    /// The largest buffer reserved up front for a straddling frame (header included), so a frame
    /// of up to 4 MiB less its header is copied once; larger frames grow as their octets arrive,
    /// never because a size field says so. A power of two: NIO rounds a capacity up to one, so
    /// 4 MiB + 9 octets would hold 8 MiB for every peer that merely announces a large frame.
    static let maxReservation = 4 << 20

    /// Where buffers for large straddling frames come from, and go back to.
    private let largeBuffers: LargeFrameBuffers

    public init(largeBuffers: LargeFrameBuffers = .shared) {
        self.largeBuffers = largeBuffers
    }

    /// True when octets of an incomplete frame are buffered.
    public var hasPartialFrame: Bool { partial != nil }

    /// Hands out the buffer of the frame being received, for the network to read the rest of it
    /// straight in after what is there: no copy of it on the way. Only for a frame of at least
    /// `minimum` octets whose buffer ends where the frame will, so that the read brings in
    /// nothing after it (not a frame larger than `maxReservation`, nor one whose header was
    /// split between reads: their buffers grow as octets arrive). The next chunk must then be
    /// that buffer (`next(from:)` takes it as the frame's own), or it must come back through
    /// `restore` first.
    public mutating func lendPartialFrame(minimum: Int) -> ByteBuffer? {
        guard let buffered = partial,
              let header = try? Self.header(in: buffered, limit: bodyLimit, reported: reportedLimit)
        else { return nil }
        let needed = header.length + header.size - buffered.readableBytes
        guard header.size >= minimum, needed > 0, buffered.writableBytes == needed else { return nil }
        lentCapacity = buffered.capacity
        // Moved out, so that the network's write into it finds it uniquely referenced.
        return partial.take()
    }

    /// Takes back a lent buffer that was not read into.
    public mutating func restore(_ lent: ByteBuffer) {
        partial = lent
        lentCapacity = 0
    }

    /// Returns the next complete frame, consuming its octets from `chunk`, or nil once `chunk` is
    /// exhausted (any incomplete tail is kept for the next call).
    public mutating func next(from chunk: inout ByteBuffer) throws(ZMTPError) -> WireFrame? {
        if partial != nil {
            guard try completePartial(from: &chunk) else { return nil }
            var frameBytes = partial.take()!
            largeBuffers.keep(frameBytes)
            return try readFrame(from: &frameBytes)!
        }
        let returned = lentCapacity > 0
        lentCapacity = 0
        if let frame = try readFrame(from: &chunk) {
            // The lent buffer, read into, now holds the whole frame and ends with it.
            if returned { largeBuffers.keep(chunk) }
            return frame
        }
        guard chunk.readableBytes > 0 else { return nil }
        if returned {
            // The lent buffer, read into, still short of the frame: it stays the frame's buffer,
            // with room for the rest (`lendPartialFrame`).
            partial = chunk
            chunk.moveReaderIndex(to: chunk.writerIndex)
            return nil
        }
        // Keep the incomplete tail: reserve room for the whole frame when its header is known,
        // placed to end where the buffer does, so that a read into it (`lendPartialFrame`)
        // brings in this frame and nothing after it.
        let declared = (try Self.header(in: chunk, limit: bodyLimit, reported: reportedLimit)).map { $0.length + $0.size }
        var tail = largeBuffers.buffer(capacity: min(declared ?? 9, Self.maxReservation))
        if let declared, declared <= tail.capacity {
            tail.moveWriterIndex(to: tail.capacity - declared)
            tail.moveReaderIndex(to: tail.capacity - declared)
        }
        tail.writeBuffer(&chunk)
        partial = tail
        return nil
    }

    /// Like `next(from:)`, but the body comes as a `Frame`. A frame wholly in `chunk` is read
    /// in one look at the buffer, header and body: every look costs NIO a runtime exclusivity
    /// check, and a slice a reference count, so a frame takes neither twice.
    /// The flags come in `flags`, not in a tuple with the body: an optional tuple holding a
    /// `Frame` is destroyed through the runtime's generic witnesses, a cost per frame.
    public mutating func nextFrame(from chunk: inout ByteBuffer, flags: inout FrameFlags) throws(ZMTPError) -> Frame? {
        var none = MessageQueue()
        return try nextFrame(from: &chunk, flags: &flags, smallMessagesInto: &none, takingSmall: false)
    }

    /// Like `nextFrame(from:flags:)`, but first, in the same look at the buffer, every whole
    /// one-frame message in a short frame at its front (flags 0: short, last, not a command; up
    /// to 255 octets) goes straight into `batch` as a message, inline up to
    /// `Frame.inlineCapacity` octets and a slice of the buffer above: a stream of small messages
    /// costs one look per read, not one per message. Only for a connection between messages (no frame
    /// of a multipart message pending), where such a frame is a whole message.
    public mutating func nextFrame(from chunk: inout ByteBuffer, flags: inout FrameFlags,
                                   smallMessagesInto batch: inout MessageQueue) throws(ZMTPError) -> Frame? {
        try nextFrame(from: &chunk, flags: &flags, smallMessagesInto: &batch, takingSmall: true)
    }

    @inline(__always)
    private mutating func nextFrame(from chunk: inout ByteBuffer, flags: inout FrameFlags,
                                    smallMessagesInto batch: inout MessageQueue, takingSmall: Bool) throws(ZMTPError) -> Frame? {
        // A lent buffer read into goes to `next`, which takes it back as the frame's own.
        if partial == nil, lentCapacity == 0,
           let whole = readWholeFrame(from: &chunk, flags: &flags, smallMessagesInto: &batch, takingSmall: takingSmall) {
            return whole
        }
        guard let frame = try next(from: &chunk) else { return nil }
        flags = frame.flags
        return Frame(buffer: frame.body)
    }

    /// A frame all of which is in `buffer`: inline up to `Frame.inlineCapacity` octets, else a
    /// slice of `buffer`. nil otherwise (an incomplete or faulty frame, or an empty buffer),
    /// with nothing consumed: `next` then reads it, or throws. The look throws nothing itself,
    /// so that NIO's generic look is specialized for it.
    @inline(__always)
    private func readWholeFrame(from buffer: inout ByteBuffer, flags: inout FrameFlags,
                                smallMessagesInto batch: inout MessageQueue, takingSmall: Bool) -> Frame? {
        let limit = bodyLimit
        var flagsOctet: UInt8 = 0
        var start = 0
        var headerLength = 0
        var size = -1
        let inline = buffer.withUnsafeReadableBytes { all -> InlineBytes? in
            // The short one-frame messages first, inline or a slice of `buffer` (taking a slice
            // reads no octets, so it costs no look of its own); `start` is where what follows
            // them begins.
            while takingSmall, all.count - start >= 2, all[start] == 0 {
                let length = Int(all[start + 1])
                guard UInt64(length) <= limit, length <= all.count - start - 2 else { break }
                let frame: Frame
                if length <= InlineBytes.capacity {
                    let octets = UnsafeRawBufferPointer(rebasing: all[(start + 2)..<(start + 2 + length)])
                    frame = Frame(storage: .inline(InlineBytes(octets)))
                } else {
                    frame = Frame(storage: .buffer(buffer.getSlice(at: buffer.readerIndex + start + 2, length: length)!))
                }
                batch.append(Message(storage: .single(frame)))
                start += 2 + length
            }
            let octets = UnsafeRawBufferPointer(rebasing: all[start...])
            guard octets.count >= 2, octets[0] & FrameFlags.reservedBits == 0 else { return nil }
            let declared: UInt64
            if octets[0] & FrameFlags.long.rawValue != 0 {
                guard octets.count >= 9 else { return nil }
                declared = UInt64(bigEndian: octets.loadUnaligned(fromByteOffset: 1, as: UInt64.self))
                headerLength = 9
            } else {
                declared = UInt64(octets[1])
                headerLength = 2
            }
            guard declared <= limit, declared <= UInt64(octets.count - headerLength) else { return nil }
            flagsOctet = octets[0]
            size = Int(declared)
            guard size <= InlineBytes.capacity else { return nil }
            return InlineBytes(UnsafeRawBufferPointer(rebasing: octets[headerLength..<(headerLength + size)]))
        }
        if start > 0 { buffer.moveReaderIndex(forwardBy: start) }
        guard size >= 0 else { return nil }
        flags = FrameFlags(rawValue: flagsOctet)
        defer { buffer.moveReaderIndex(forwardBy: headerLength + size) }
        if let inline { return Frame(storage: .inline(inline)) }
        return Frame(storage: .buffer(buffer.getSlice(at: buffer.readerIndex + headerLength, length: size)!))
    }

    /// Reads one frame if all of it is in `buffer`.
    private func readFrame(from buffer: inout ByteBuffer) throws(ZMTPError) -> WireFrame? {
        guard let header = try Self.header(in: buffer, limit: bodyLimit, reported: reportedLimit),
              buffer.readableBytes >= header.length + header.size
        else { return nil }
        buffer.moveReaderIndex(forwardBy: header.length)
        let body = buffer.readSlice(length: header.size)!
        return WireFrame(flags: header.flags, body: body)
    }

    /// Moves octets from `chunk` into the partial frame until it is complete (true) or `chunk` runs out.
    private mutating func completePartial(from chunk: inout ByteBuffer) throws(ZMTPError) -> Bool {
        while true {
            let have = partial!.readableBytes
            let needed: Int
            if let header = try Self.header(in: partial!, limit: bodyLimit, reported: reportedLimit) {
                needed = header.length + header.size - have
                if needed == 0 { return true }
            } else {
                let flags = partial!.getInteger(at: partial!.readerIndex, as: UInt8.self) ?? 0
                needed = (flags & FrameFlags.long.rawValue != 0 ? 9 : 2) - have
            }
            let take = min(needed, chunk.readableBytes)
            if take == 0 { return false }
            var piece = chunk.readSlice(length: take)!
            partial!.writeBuffer(&piece)
        }
    }

    struct Header {
        var flags: FrameFlags
        var length: Int
        var size: Int
    }

    /// Parses and validates a frame header at the start of `buffer`; nil if not all of it is there.
    static func header(in buffer: ByteBuffer, limit: UInt64, reported: Int) throws(ZMTPError) -> Header? {
        let start = buffer.readerIndex
        guard let flagsOctet = buffer.getInteger(at: start, as: UInt8.self) else { return nil }
        if flagsOctet & FrameFlags.reservedBits != 0 { throw .reservedFlags(flagsOctet) }
        let flags = FrameFlags(rawValue: flagsOctet)
        let size: UInt64
        let length: Int
        if flags.contains(.long) {
            guard let long = buffer.getInteger(at: start + 1, as: UInt64.self) else { return nil }
            // Sizes must be below 2^63 (23/ZMTP); the top 16 of those cannot be buffered either,
            // since header + body would overflow an Int.
            if long > UInt64(Int.max - 16) { throw .frameSizeOverflow }
            size = long
            length = 9
        } else {
            guard let short = buffer.getInteger(at: start + 1, as: UInt8.self) else { return nil }
            size = UInt64(short)
            length = 2
        }
        if size > limit { throw .messageTooLarge(size: size, limit: reported) }
        return Header(flags: flags, length: length, size: Int(size))
    }
}
