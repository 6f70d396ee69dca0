import NIOCore
import Testing
@testable import ZMTP

@Suite("Frame encoding and decoding (23/ZMTP Framing)")
struct FrameCodecTests {
    static func body(_ count: Int) -> [UInt8] {
        (0..<count).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ 7) }
    }

    static func encode(_ message: Message) -> [UInt8] {
        var out = ByteBuffer()
        FrameEncoder.encode(message, into: &out)
        return bytes(out)
    }

    /// Decodes frames from consecutive chunks with one decoder; nothing may be left over. Decodes
    /// them again with `nextFrame` (small frames read whole in one look), which must yield the
    /// same frames, or throw the same error.
    static func decode(chunks: [[UInt8]], decoder: FrameDecoder = FrameDecoder()) throws -> [WireFrame] {
        let viaNext = Result { () throws(ZMTPError) in
            var decoder = decoder
            var frames: [WireFrame] = []
            for chunk in chunks {
                var input = buffer(chunk)
                while let frame = try decoder.next(from: &input) {
                    frames.append(frame)
                }
                #expect(input.readableBytes == 0, "nil leaves the chunk consumed")
            }
            #expect(!decoder.hasPartialFrame)
            return frames
        }
        let viaNextFrame = Result { () throws(ZMTPError) in
            var decoder = decoder
            var frames: [WireFrame] = []
            var flags = FrameFlags()
            for chunk in chunks {
                var input = buffer(chunk)
                while let body = try decoder.nextFrame(from: &input, flags: &flags) {
                    frames.append(WireFrame(flags: flags, body: body.buffer))
                }
                #expect(input.readableBytes == 0)
            }
            return frames
        }
        // Short one-frame messages taken into a batch in the same look: in order with the frames
        // returned, and the same frames.
        let viaSmallMessages = Result { () throws(ZMTPError) in
            var decoder = decoder
            var frames: [WireFrame] = []
            var flags = FrameFlags()
            var batch = MessageQueue()
            func takeBatch() {
                while let message = batch.popFirst() {
                    #expect(message.count == 1 && message[0].count <= 255)
                    frames.append(WireFrame(flags: [], body: message[0].buffer))
                }
            }
            for chunk in chunks {
                var input = buffer(chunk)
                while let body = try decoder.nextFrame(from: &input, flags: &flags, smallMessagesInto: &batch) {
                    takeBatch()
                    frames.append(WireFrame(flags: flags, body: body.buffer))
                }
                takeBatch()
                #expect(input.readableBytes == 0)
            }
            return frames
        }
        #expect(viaNext == viaNextFrame, "nextFrame reads what next reads")
        #expect(viaNext == viaSmallMessages, "small messages taken in one look are the frames next reads")
        return try viaNext.get()
    }

    // MARK: Encoding

    @Test("short frames: flags octet, one size octet, body", arguments: [0, 1, 255])
    func shortFrame(size: Int) {
        let body = Self.body(size)
        let encoded = Self.encode(Message(Frame(body)))
        #expect(encoded == [0x00, UInt8(size)] + body)
        #expect(FrameEncoder.headerSize(for: size) == 2)
    }

    @Test("256 octets take the long form: flags 0x02 and an 8-octet big-endian size")
    func longFrame256() {
        let body = Self.body(256)
        let encoded = Self.encode(Message(Frame(body)))
        #expect(encoded.count == 9 + 256)
        #expect(Array(encoded.prefix(9)) == [0x02, 0, 0, 0, 0, 0, 0, 0x01, 0x00])
        #expect(Array(encoded.dropFirst(9)) == body)
        #expect(FrameEncoder.headerSize(for: 256) == 9)
    }

    @Test("a 1 MiB frame takes the long form")
    func longFrameMiB() throws {
        let body = Self.body(1 << 20)
        let encoded = Self.encode(Message(Frame(body)))
        #expect(encoded.count == 9 + (1 << 20))
        #expect(Array(encoded.prefix(9)) == [0x02, 0, 0, 0, 0, 0, 0x10, 0x00, 0x00])
        #expect(Array(encoded.dropFirst(9)) == body)

        let frames = try Self.decode(chunks: [encoded])
        #expect(frames.count == 1)
        #expect(frames.first?.flags == .long)
        #expect(frames.first.map { bytes($0.body) } == body)
    }

    @Test("MORE is set on every frame but the last")
    func moreFlag() {
        let message = Message([Frame(ascii("A")), Frame(Self.body(300)), Frame(), Frame(ascii("end"))])
        let encoded = Self.encode(message)
        var expected: [UInt8] = [0x01, 1, 0x41]
        expected += [0x03, 0, 0, 0, 0, 0, 0, 0x01, 0x2C] + Self.body(300)
        expected += [0x01, 0]
        expected += [0x00, 3] + ascii("end")
        #expect(encoded == expected)
    }

    @Test("writeHeader sets the COMMAND flag")
    func commandHeader() {
        var short = ByteBuffer()
        FrameEncoder.writeHeader(more: false, command: true, size: 7, into: &short)
        #expect(bytes(short) == [0x04, 7])
        var long = ByteBuffer()
        FrameEncoder.writeHeader(more: false, command: true, size: 1000, into: &long)
        #expect(bytes(long) == [0x06, 0, 0, 0, 0, 0, 0, 0x03, 0xE8])
    }

    @Test("frames made from octets or strings hold them whatever their storage: inline, compact or a buffer",
          arguments: [0, 1, 32, 33, 64, 255, 8192, 8193, 70_000])
    func storages(size: Int) {
        let body = Self.body(size)
        let fromOctets = Frame(body)
        let fromBuffer = Frame(buffer: ByteBuffer(bytes: body))
        let text = String(repeating: "z", count: size)
        switch fromOctets.storage {
        case .inline: #expect(size <= Frame.inlineCapacity)
        case .compact: #expect(size > Frame.inlineCapacity && size <= Frame.compactCapacity)
        case .buffer: #expect(size > Frame.compactCapacity)
        case .permanent: Issue.record("only Frame(permanent:) makes a permanent frame")
        }
        let permanent = Frame(permanent: body)
        if case .permanent = permanent.storage { #expect(size > Frame.inlineCapacity) } else { #expect(size <= Frame.inlineCapacity) }
        #expect(permanent.count == size)
        #expect(permanent.bytes == body)
        #expect(bytes(permanent.buffer) == body)
        #expect(permanent == fromBuffer)
        #expect(permanent.hashValue == fromBuffer.hashValue)
        #expect(Self.encode(Message(permanent)) == Self.encode(Message(fromBuffer)))
        // Its buffer is a copy for whoever changes it: the frame keeps its octets.
        var changed = permanent.buffer
        changed.writeString("more")
        if size > 0 { changed.setInteger(UInt8(0xEE), at: changed.readerIndex) }
        #expect(permanent.bytes == body)
        #expect(fromOctets.count == size)
        #expect(fromOctets.bytes == body)
        #expect(bytes(fromOctets.buffer) == body)
        #expect(fromOctets == fromBuffer)
        #expect(fromOctets.hashValue == fromBuffer.hashValue)
        #expect(Frame(text).string == text)
        #expect(Frame(text).count == size)
        // The wire form does not depend on how the octets are held.
        #expect(Self.encode(Message(fromOctets)) == Self.encode(Message(fromBuffer)))
        let message = Message([fromOctets, Frame("tail")])
        let layout = message.wireLayout
        let written = [UInt8](unsafeUninitializedCapacity: layout.size) { target, count in
            count = message.writeWire(to: UnsafeMutableRawPointer(target.baseAddress!))
        }
        #expect(written == Self.encode(message))
    }

    /// Which messages `copy(into:)` copies as plain memory; the copies themselves are checked,
    /// optimised, in OptimizedTests (`copiesIntoSlot`).
    @Test("a message holds no reference only with one inline or permanent frame and no metadata")
    func plainCopies() {
        var tagged = Message(Frame("small"))
        tagged.metadata = MessageMetadata(peerAddress: "10.0.0.1", userID: nil, peerProperties: Metadata())
        var addressed = Message(Frame("to a peer"))
        addressed.routingID = 7
        let large = [UInt8](repeating: 0x5A, count: 5000)
        let cases: [(Message, plain: Bool)] = [
            (Message(Frame("small")), true),
            (Message(Frame(permanent: large)), true),
            (Message(Frame(permanent: [1, 2, 3])), true),
            (tagged, false),
            (Message(Frame([UInt8](repeating: 1, count: 100))), false),
            (Message(Frame(buffer: ByteBuffer(bytes: large))), false),
            (Message([Frame("a"), Frame("b")]), false),
            (addressed, false),
        ]
        for (message, plain) in cases {
            #expect(message.holdsNoReference == plain, "\(message)")
        }
        // What makes the plain copy safe: neither kind of frame holds a counted reference.
        #expect(_isPOD(InlineBytes.self) && _isPOD(PermanentBytes.self))
    }

    @Test("prepending and droppingFirst add and take off envelope frames, keeping metadata and address")
    func envelopes() {
        let id = Frame([0, 1, 2, 3, 4])
        for frames in [[Frame("one")], [Frame("a"), Frame(), Frame("b")]] {
            var message = Message(frames)
            message.metadata = MessageMetadata(peerAddress: "10.0.0.1", userID: "alice", peerProperties: Metadata())
            message.group = "g"
            let routed = message.prepending(id)
            #expect(Array(routed) == [id] + frames)
            #expect(routed.metadata === message.metadata && routed.group == "g")
            #expect(routed.droppingFirst() == message)
            #expect(routed.droppingFirst().metadata === message.metadata && routed.droppingFirst().group == "g")
            for count in 0...frames.count {
                #expect(Array(message.droppingFirst(count)) == Array(frames.dropFirst(count)))
            }
            // In place, as a ROUTER hands a message out: the same result, and a copy taken
            // before is left as it was.
            var inPlace = message
            inPlace.prepend(id)
            #expect(inPlace == routed && Array(message) == frames)
            #expect(inPlace.metadata === message.metadata && inPlace.group == "g")
            var unaddressed = Message(frames)
            unaddressed.metadata = message.metadata
            let before = unaddressed
            unaddressed.prepend(id)
            #expect(Array(unaddressed) == [id] + frames && Array(before) == frames)
            #expect(unaddressed.metadata === message.metadata)
            // As a ROUTER sends: the id off, and where the message came from with it.
            let wire = unaddressed.droppingFirstForWire()
            #expect(Array(wire) == frames && wire.metadata == nil)
            #expect(routed.droppingFirstForWire().group == "g" && routed.droppingFirstForWire().metadata == nil)
        }
    }

    // MARK: Decoding

    @Test("each encoded frame decodes back with its flags and body", arguments: [0, 1, 255, 256, 70_000])
    func roundTrip(size: Int) throws {
        let body = Self.body(size)
        for more in [false, true] {
            var encoded = ByteBuffer()
            FrameEncoder.writeHeader(more: more, size: size, into: &encoded)
            encoded.writeBytes(body)
            let frames = try Self.decode(chunks: [bytes(encoded)])
            try #require(frames.count == 1)
            #expect(frames[0].hasMore == more)
            #expect(!frames[0].isCommand)
            #expect(frames[0].flags.contains(.long) == (size > 255))
            #expect(bytes(frames[0].body) == body)
        }
    }

    /// Several frames of every kind back to back: short, long, empty, MORE, command.
    static let stream: (bytes: [UInt8], frames: [(flags: FrameFlags, body: [UInt8])]) = {
        let frames: [(flags: FrameFlags, body: [UInt8])] = [
            ([.more], ascii("first")),
            ([.more, .long], body(300)),
            ([.more], []),
            ([], ascii("last")),
            ([.command], [4] + ascii("PING") + [0, 10]),
            ([.long], []),
            ([], body(255)),
            // A run of small last frames (one-frame messages, read in one look), then larger ones.
            ([], []),
            ([], ascii("x")),
            ([], body(32)),
            ([], body(33)),
            ([], ascii("y")),
            ([.more], ascii("z")),
            ([], ascii("end")),
            // Short frames above the inline size, read in the same look as slices.
            ([], body(64)),
            ([], body(255)),
            ([], ascii("after")),
            ([], body(200)),
        ]
        var out: [UInt8] = []
        for frame in frames {
            out.append(frame.flags.rawValue)
            if frame.flags.contains(.long) {
                withUnsafeBytes(of: UInt64(frame.body.count).bigEndian) { out += $0 }
            } else {
                out.append(UInt8(frame.body.count))
            }
            out += frame.body
        }
        return (out, frames)
    }()

    static func check(_ decoded: [WireFrame], sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(decoded.count == stream.frames.count, sourceLocation: sourceLocation)
        for (frame, expected) in zip(decoded, stream.frames) {
            #expect(frame.flags == expected.flags, sourceLocation: sourceLocation)
            #expect(bytes(frame.body) == expected.body, sourceLocation: sourceLocation)
        }
    }

    @Test("one buffer holding several frames yields them all, in order")
    func severalFramesInOneBuffer() throws {
        Self.check(try Self.decode(chunks: [Self.stream.bytes]))
    }

    @Test("a stream split at every possible position decodes identically")
    func splitEverywhere() throws {
        let all = Self.stream.bytes
        for split in 0...all.count {
            let decoded = try Self.decode(chunks: [Array(all[..<split]), Array(all[split...])])
            #expect(decoded.count == Self.stream.frames.count, "split at \(split)")
            Self.check(decoded)
        }
    }

    @Test("a stream fed one octet at a time decodes identically")
    func oneOctetAtATime() throws {
        let chunks = Self.stream.bytes.map { [$0] }
        Self.check(try Self.decode(chunks: chunks))
    }

    @Test("a straddling frame is reported as partial until it completes")
    func partialFlag() throws {
        var decoder = FrameDecoder()
        var first = buffer([0x00, 3, 0x41])
        #expect(try decoder.next(from: &first) == nil)
        #expect(decoder.hasPartialFrame)
        var second = buffer([0x42, 0x43, 0x00, 0x00])
        let frame = try #require(try decoder.next(from: &second))
        #expect(bytes(frame.body) == ascii("ABC"))
        #expect(!decoder.hasPartialFrame)
        let empty = try #require(try decoder.next(from: &second))
        #expect(empty.body.readableBytes == 0)
        #expect(try decoder.next(from: &second) == nil)
    }

    /// Where a buffer's memory starts, to tell whether two buffers share it.
    static func storage(_ buffer: ByteBuffer) -> UnsafeRawPointer? {
        buffer.withVeryUnsafeBytes { UnsafeRawPointer($0.baseAddress) }
    }

    @Test("a large frame's buffer is lent to be read into: the reads go into place, and the frame is a slice of it")
    func lentFrameBuffer() throws {
        let body = (0..<200_000).map { UInt8(truncatingIfNeeded: $0 &* 7) }
        let wire = [0x02] + withUnsafeBytes(of: UInt64(body.count).bigEndian, Array.init) + body
        var decoder = FrameDecoder()
        var first = buffer(Array(wire[..<1009]))
        #expect(try decoder.next(from: &first) == nil)
        // A frame smaller than the minimum asked: not lent.
        let refused = decoder.lendPartialFrame(minimum: 200_001)
        #expect(refused == nil)
        // Taken straight into a variable: a second reference would make the write below copy.
        guard var lent = decoder.lendPartialFrame(minimum: 64 * 1024) else {
            Issue.record("a frame of 200,000 octets was not lent")
            return
        }
        #expect(decoder.isLent && !decoder.hasPartialFrame)
        #expect(decoder.retainedCapacity == lent.capacity)
        // The frame ends where the buffer does: a read into it brings in nothing after it.
        #expect(lent.readableBytes == 1009 && lent.writableBytes == body.count - 1000)
        let memory = Self.storage(lent)
        // A read short of the end: the buffer stays the frame's, and is lent again.
        lent.writeBytes(wire[1009..<101_009])
        #expect(try decoder.next(from: &lent) == nil)
        #expect(lent.readableBytes == 0 && !decoder.isLent && decoder.hasPartialFrame)
        // As the engine does once a read is handled: the chunk is let go, and the frame's
        // buffer is the decoder's alone again.
        lent = ByteBuffer()
        guard var again = decoder.lendPartialFrame(minimum: 64 * 1024) else {
            Issue.record("the frame was not lent again")
            return
        }
        #expect(Self.storage(again) == memory)
        again.writeBytes(wire[101_009...])
        let frame = try #require(try decoder.next(from: &again))
        #expect(bytes(frame.body) == body)
        #expect(frame.body.withUnsafeReadableBytes { UnsafeRawPointer($0.baseAddress) } == memory.map { $0 + (again.capacity - wire.count + 9) })
        #expect(!decoder.isLent && !decoder.hasPartialFrame)
    }

    @Test("a lent frame buffer that was not read into comes back, and the frame completes from other reads")
    func lentFrameBufferRestored() throws {
        let body = [UInt8](repeating: 5, count: 100_000)
        let wire = [0x02] + withUnsafeBytes(of: UInt64(body.count).bigEndian, Array.init) + body
        var decoder = FrameDecoder()
        var first = buffer(Array(wire[..<500]))
        #expect(try decoder.next(from: &first) == nil)
        let lentOut = decoder.lendPartialFrame(minimum: 64 * 1024)
        decoder.restore(try #require(lentOut))
        #expect(!decoder.isLent && decoder.hasPartialFrame)
        var rest = buffer(Array(wire[500...]) + [0x00, 1, 0x41])
        let frame = try #require(try decoder.next(from: &rest))
        #expect(bytes(frame.body) == body)
        let next = try #require(try decoder.next(from: &rest))
        #expect(bytes(next.body) == [0x41])
    }

    // MARK: Errors

    @Test("any reserved flag bit is refused", arguments: [UInt8(0x08), 0x10, 0x20, 0x40, 0x80, 0xF8, 0x0D])
    func reservedFlags(flags: UInt8) {
        var decoder = FrameDecoder()
        var whole = buffer([flags, 1, 0x41])
        #expect(throws: ZMTPError.reservedFlags(flags)) { _ = try decoder.next(from: &whole) }

        // The flags octet alone is enough to refuse the frame.
        var fresh = FrameDecoder()
        var alone = buffer([flags])
        #expect(throws: ZMTPError.reservedFlags(flags)) { _ = try fresh.next(from: &alone) }
    }

    @Test("reserved flags on a frame after a good one are refused")
    func reservedFlagsLater() throws {
        var decoder = FrameDecoder()
        var input = buffer([0x00, 1, 0x41, 0x40, 0])
        #expect(try decoder.next(from: &input) != nil)
        #expect(throws: ZMTPError.reservedFlags(0x40)) { _ = try decoder.next(from: &input) }
    }

    @Test("a long size of 2^63 or more is refused",
          arguments: [UInt64(1) << 63, (UInt64(1) << 63) + 1, .max])
    func sizeOverflow(size: UInt64) {
        var header: [UInt8] = [0x02]
        withUnsafeBytes(of: size.bigEndian) { header += $0 }
        var decoder = FrameDecoder()
        var input = buffer(header)
        #expect(throws: ZMTPError.frameSizeOverflow) { _ = try decoder.next(from: &input) }

        // Also when the size arrives in pieces.
        var split = FrameDecoder()
        var first = buffer(Array(header.prefix(4)))
        #expect(throws: Never.self) { _ = try split.next(from: &first) }
        var second = buffer(Array(header.dropFirst(4)))
        #expect(throws: ZMTPError.frameSizeOverflow) { _ = try split.next(from: &second) }
    }

    @Test("bodyLimit refuses a frame declared too large from its header alone")
    func bodyLimitShort() throws {
        var decoder = FrameDecoder()
        decoder.bodyLimit = 100
        decoder.reportedLimit = 100
        var atLimit = buffer([0x00, 100])
        #expect(try decoder.next(from: &atLimit) == nil, "exactly the limit waits for the body")

        var overLimit = FrameDecoder()
        overLimit.bodyLimit = 100
        overLimit.reportedLimit = 100
        var header = buffer([0x01, 101])
        #expect(throws: ZMTPError.messageTooLarge(size: 101, limit: 100)) { _ = try overLimit.next(from: &header) }
    }

    @Test("a whole small frame, read in one look, is refused as the header alone would be")
    func smallFrameErrors() {
        var limited = FrameDecoder()
        limited.bodyLimit = 3
        limited.reportedLimit = 3
        #expect(throws: ZMTPError.messageTooLarge(size: 4, limit: 3)) { _ = try Self.decode(chunks: [[0x00, 4, 1, 2, 3, 4]], decoder: limited) }
        #expect(throws: Never.self) { _ = try Self.decode(chunks: [[0x00, 3, 1, 2, 3]], decoder: limited) }
        // Above the inline size too (taken as a slice in the same look).
        limited.bodyLimit = 40
        limited.reportedLimit = 40
        #expect(throws: ZMTPError.messageTooLarge(size: 41, limit: 40)) { _ = try Self.decode(chunks: [[0x00, 41] + Self.body(41)], decoder: limited) }
        #expect(throws: Never.self) { _ = try Self.decode(chunks: [[0x00, 40] + Self.body(40)], decoder: limited) }
        for flags in [UInt8(0x08), 0x40, 0x80] {
            #expect(throws: ZMTPError.reservedFlags(flags)) { _ = try Self.decode(chunks: [[0x00, 1, 0x41, flags, 1, 0x42]]) }
        }
    }

    @Test("a whole long frame, read in one look, is refused as the header alone would be")
    func wholeLongFrameErrors() {
        var limited = FrameDecoder()
        limited.bodyLimit = 3
        limited.reportedLimit = 3
        let long: (UInt8) -> [UInt8] = { size in [0x02, 0, 0, 0, 0, 0, 0, 0, size] + Array(repeating: 0x41, count: Int(size)) }
        #expect(throws: ZMTPError.messageTooLarge(size: 4, limit: 3)) { _ = try Self.decode(chunks: [long(4)], decoder: limited) }
        #expect(throws: Never.self) { _ = try Self.decode(chunks: [long(3)], decoder: limited) }
        #expect(throws: ZMTPError.reservedFlags(0x0A)) { _ = try Self.decode(chunks: [[0x0A] + long(1).dropFirst()]) }
        // A size of 2^63 with octets after it: refused, not read as a frame of what follows.
        #expect(throws: ZMTPError.frameSizeOverflow) { _ = try Self.decode(chunks: [[0x02, 0x80, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3]]) }
    }

    @Test("bodyLimit refuses a long frame before any of its body arrives")
    func bodyLimitLong() {
        var decoder = FrameDecoder()
        decoder.bodyLimit = 1000
        decoder.reportedLimit = 1000
        // A 1 GiB frame: only the 9 header octets are fed.
        var header = buffer([0x02, 0, 0, 0, 0, 0x40, 0, 0, 0])
        #expect(throws: ZMTPError.messageTooLarge(size: 1 << 30, limit: 1000)) { _ = try decoder.next(from: &header) }

        // The same header split across reads.
        var split = FrameDecoder()
        split.bodyLimit = 1000
        split.reportedLimit = 1000
        var first = buffer([0x02, 0, 0])
        #expect(throws: Never.self) { _ = try split.next(from: &first) }
        var second = buffer([0, 0, 0x40, 0, 0, 0])
        #expect(throws: ZMTPError.messageTooLarge(size: 1 << 30, limit: 1000)) { _ = try split.next(from: &second) }
    }

    @Test("a legal long size near 2^63 with no body limit does not trap")
    func hugeLegalSize() {
        // 0x7FFF_FFFF_FFFF_FFFF is a legal ZMTP size (< 2^63). With the default bodyLimit (.max,
        // also what Connection uses after the handshake without maxMessageSize) the decoder must
        // either wait for the body or refuse the frame, not crash the process.
        var decoder = FrameDecoder()
        var input = buffer([0x02, 0x7F, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF])
        let outcome = Result { () throws(ZMTPError) -> WireFrame? in try decoder.next(from: &input) }
        if case .success(let frame) = outcome { #expect(frame == nil) }
    }
}
