import NIOCore
import Testing
@testable import ZMTP

@Suite("Buffers of large straddling frames, written again once dropped")
struct LargeFrameBuffersTests {
    /// A long frame of `size` octets, all `fill`, as the two chunks a reader would see.
    static func chunks(size: Int, fill: UInt8) -> (ByteBuffer, ByteBuffer) {
        var whole = ByteBuffer()
        whole.writeInteger(FrameFlags.long.rawValue)
        whole.writeInteger(UInt64(size))
        whole.writeRepeatingByte(fill, count: size)
        let first = whole.readSlice(length: whole.readableBytes / 3)!
        return (first, whole)
    }

    static func decode(size: Int, fill: UInt8, with decoder: inout FrameDecoder) throws -> ByteBuffer {
        var (first, second) = chunks(size: size, fill: fill)
        #expect(try decoder.next(from: &first) == nil)
        let frame = try #require(try decoder.next(from: &second))
        #expect(second.readableBytes == 0)
        return frame.body
    }

    /// Where a frame's octets end: a frame is placed to end where its buffer does (so a read
    /// into the buffer brings in nothing after it), so two frames that end at one place share
    /// one buffer.
    static func address(_ buffer: ByteBuffer) -> UInt {
        buffer.withUnsafeReadableBytes { UInt(bitPattern: $0.baseAddress) + UInt($0.count) }
    }

    @Test("a dropped frame's buffer takes the next frame of its size class")
    func reusedOnceDropped() throws {
        let cache = LargeFrameBuffers(maximumCount: 4, maximumCapacity: 16 << 20)
        var decoder = FrameDecoder(largeBuffers: cache)
        var first: ByteBuffer? = try Self.decode(size: 300_000, fill: 1, with: &decoder)
        let firstAddress = Self.address(first!)
        #expect(cache.count == 1)
        first = nil
        let second = try Self.decode(size: 280_000, fill: 2, with: &decoder)
        #expect(Self.address(second) == firstAddress)
        #expect(second.readableBytes == 280_000)
        #expect(second.readableBytesView.allSatisfy { $0 == 2 })
    }

    @Test("of two dropped buffers, the one kept last is taken first: its octets are the likelier to be in the cache")
    func lastKeptTakenFirst() throws {
        let cache = LargeFrameBuffers(maximumCount: 4, maximumCapacity: 16 << 20)
        var decoder = FrameDecoder(largeBuffers: cache)
        var first: ByteBuffer? = try Self.decode(size: 300_000, fill: 1, with: &decoder)
        var second: ByteBuffer? = try Self.decode(size: 300_000, fill: 2, with: &decoder)
        let secondAddress = Self.address(second!)
        #expect(Self.address(first!) != secondAddress)
        #expect(cache.count == 2)
        first = nil
        second = nil
        let third = try Self.decode(size: 300_000, fill: 3, with: &decoder)
        #expect(Self.address(third) == secondAddress)
        #expect(third.readableBytesView.allSatisfy { $0 == 3 })
    }

    @Test("a frame still held is never written over")
    func heldFrameUntouched() throws {
        let cache = LargeFrameBuffers(maximumCount: 4, maximumCapacity: 16 << 20)
        var decoder = FrameDecoder(largeBuffers: cache)
        let first = try Self.decode(size: 300_000, fill: 1, with: &decoder)
        var copy = first
        copy.moveReaderIndex(forwardBy: 10)  // a slice of it is enough to hold it
        let second = try Self.decode(size: 300_000, fill: 2, with: &decoder)
        #expect(Self.address(second) != Self.address(first))
        #expect(first.readableBytesView.allSatisfy { $0 == 1 })
        #expect(copy.readableBytesView.allSatisfy { $0 == 1 })
        #expect(second.readableBytesView.allSatisfy { $0 == 2 })
    }

    @Test("a buffer of another size class is not taken")
    func otherSizeClass() throws {
        let cache = LargeFrameBuffers(maximumCount: 4, maximumCapacity: 16 << 20)
        var decoder = FrameDecoder(largeBuffers: cache)
        var first: ByteBuffer? = try Self.decode(size: 1_100_000, fill: 1, with: &decoder)
        let firstAddress = Self.address(first!)
        first = nil
        // 2 MiB would hold it, but would pin twice its size for every such frame queued.
        let small = try Self.decode(size: 200_000, fill: 2, with: &decoder)
        #expect(Self.address(small) != firstAddress)
        #expect(small.readableBytesView.allSatisfy { $0 == 2 })
    }

    @Test("the cache keeps no more than its limits, and no small buffers")
    func limits() throws {
        let cache = LargeFrameBuffers(maximumCount: 3, maximumCapacity: 2 << 20)
        for _ in 0..<5 { cache.keep(ByteBufferAllocator().buffer(capacity: 256 << 10)) }
        #expect(cache.count == 3)
        cache.keep(ByteBufferAllocator().buffer(capacity: 1 << 20))
        #expect(cache.count == 3)  // a fourth is over the count: the oldest goes
        cache.keep(ByteBufferAllocator().buffer(capacity: 1 << 20))
        #expect(cache.count == 2)  // over 2 MiB of capacity: the two 256 KiB ones go
        cache.keep(ByteBufferAllocator().buffer(capacity: 64 << 10))
        cache.keep(ByteBufferAllocator().buffer(capacity: 4 << 20))
        #expect(cache.count == 2)  // too small to keep, larger than the whole cache

        // Larger than any frame asks for up front (a frame that grew as it arrived): never taken
        // again, so not kept.
        let roomy = LargeFrameBuffers(maximumCount: 16, maximumCapacity: 64 << 20)
        roomy.keep(ByteBufferAllocator().buffer(capacity: FrameDecoder.maxReservation))
        roomy.keep(ByteBufferAllocator().buffer(capacity: 2 * FrameDecoder.maxReservation))
        #expect(roomy.count == 1)
    }

    @Test("a lent buffer read into whole is kept too, as the engine reads it (small frames at a read's front)")
    func lentBufferKept() throws {
        let cache = LargeFrameBuffers(maximumCount: 4, maximumCapacity: 16 << 20)
        var decoder = FrameDecoder(largeBuffers: cache)
        var (first, second) = Self.chunks(size: 300_000, fill: 3)
        var flags = FrameFlags()
        var batch = MessageQueue()
        #expect(try decoder.nextFrame(from: &first, flags: &flags, smallMessagesInto: &batch) == nil)
        guard var lent = decoder.lendPartialFrame(minimum: 256 << 10) else {
            Issue.record("a frame of 300,000 octets was not lent")
            return
        }
        lent.writeBuffer(&second)
        let frame = try #require(try decoder.nextFrame(from: &lent, flags: &flags, smallMessagesInto: &batch))
        #expect(frame.bytes == [UInt8](repeating: 3, count: 300_000))
        #expect(cache.count == 1)
    }

    @Test("only a frame whose buffer ends where it does is lent: not one whose header was split, nor one beyond the reservation")
    func lentOnlyWhenPlaced() throws {
        var decoder = FrameDecoder(largeBuffers: LargeFrameBuffers(maximumCount: 4, maximumCapacity: 16 << 20))
        var whole = ByteBuffer()
        whole.writeInteger(FrameFlags.long.rawValue)
        whole.writeInteger(UInt64(300_000))
        whole.writeRepeatingByte(4, count: 300_000)
        var header = whole.readSlice(length: 5)!
        #expect(try decoder.next(from: &header) == nil)
        var more = whole.readSlice(length: 100_000)!
        #expect(try decoder.next(from: &more) == nil)
        #expect(decoder.hasPartialFrame)
        #expect(decoder.lendPartialFrame(minimum: 256 << 10) == nil)
        #expect(try decoder.next(from: &whole)?.body.readableBytes == 300_000)

        let huge = FrameDecoder.maxReservation + 1000
        var (start, _) = Self.chunks(size: huge, fill: 5)
        #expect(try decoder.next(from: &start) == nil)
        #expect(decoder.hasPartialFrame)
        #expect(decoder.lendPartialFrame(minimum: 256 << 10) == nil)
    }
}
