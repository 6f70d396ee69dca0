import NIOCore

/// Where a ZMTP connection's next read goes. Usually a buffer sized by how much the last reads
/// brought; while a large frame is arriving, that frame's own buffer, so the rest of it is read
/// straight into place, in one read where the kernel holds it all, with no copy after.
///
/// The engine lends the frame's buffer at the end of a read (`channelReadComplete`): the next
/// read then follows a readiness event, which on epoll means data is there, so the read does
/// not come back empty and drop the buffer. The engine checks that the chunk it gets next is
/// that buffer all the same. Confined to the channel's event loop.
final class FrameReadTarget: @unchecked Sendable {
    /// The frame's buffer, until the next read takes it.
    var lent: ByteBuffer?
    /// Where the lent buffer's memory starts, its capacity, where its octets start and how many
    /// it held: the chunk that comes back is the same memory with more octets.
    private var lentStorage: UInt?
    private var lentCapacity = 0
    private var lentReaderIndex = 0
    private(set) var lentCount = 0
    /// A lent buffer was read into: the reads after it take little, enough for the next frame's
    /// header, so that little of a large frame is read other than into place. That lasts to the
    /// end of the read event, and through the first read of the next one if the lent read was
    /// the event's last (NIO reads again within an event only while buffers come back full).
    var probing = false
    /// Small reads made for `probing` in the current read event.
    var probesThisEvent = 0
    static let probeSize = 64

    /// How many buffers this connection's reads were given by `buffer(allocator:)`. NIO's pool
    /// keeps the first `nioKeeps` of them (its capacity: the channel's reads per readiness
    /// event) to reuse; a buffer given after those is referenced by its frame alone. So no
    /// frame's buffer is lent until that many were given, and while a frame waits for that
    /// (`fillingPool`), NIO is made to ask for new buffers rather than reuse its own.
    private var handedOut = 0
    var nioKeeps = 4
    var fillingPool = false

    var mayLend: Bool { handedOut >= nioKeeps }

    /// The read event is over: whether to go on probing into the next one.
    func readEventEnded(partialFrame: Bool) {
        if probing, partialFrame || probesThisEvent > 0 { probing = false }
        probesThisEvent = 0
    }

    func lend(_ buffer: ByteBuffer) {
        lentCount = buffer.readableBytes
        lentStorage = Self.storage(of: buffer)
        lentCapacity = buffer.capacity
        lentReaderIndex = buffer.readerIndex
        lent = buffer
    }

    /// Whether `chunk` is the lent buffer, read into.
    func isLentBuffer(_ chunk: ByteBuffer) -> Bool {
        chunk.readableBytes > lentCount && chunk.readerIndex == lentReaderIndex && chunk.capacity == lentCapacity
            && Self.storage(of: chunk) == lentStorage
    }

    private static func storage(of buffer: ByteBuffer) -> UInt {
        buffer.withVeryUnsafeBytes { UInt(bitPattern: $0.baseAddress) }
    }

    /// A buffer for a read the lent frame does not take: a small one while probing, else one
    /// of `size` octets.
    fileprivate func readBuffer(size: Int, allocator: ByteBufferAllocator) -> ByteBuffer {
        handedOut += 1
        if mayLend { fillingPool = false }
        if probing {
            probesThisEvent += 1
            return allocator.buffer(capacity: Self.probeSize)
        }
        return allocator.buffer(capacity: size)
    }

    fileprivate func handOutLent() -> ByteBuffer? {
        guard let buffer = lent else { return nil }
        handedOut += 1
        lent = nil
        probing = true
        return buffer
    }
}

/// The receive allocator of a ZMTP connection: NIO's adaptive sizes, or the frame buffer lent
/// to the next read (`FrameReadTarget`).
///
/// NIO's pool sizes and reuses its own buffers unless `nextBufferSize()` is nil; then it asks
/// `buffer(allocator:)` for a new one. So that is nil while a buffer is lent (and for the small
/// reads after it, and while the pool is being filled). `record` always answers that buffers may
/// grow, which keeps the pool from reusing its own buffer in place of the one lent.
struct ReadInPlaceAllocator: RecvByteBufferAllocator {
    private var sizes = AdaptiveRecvByteBufferAllocator(minimum: 64, initial: 2048, maximum: 256 * 1024)
    let target: FrameReadTarget

    init(target: FrameReadTarget) {
        self.target = target
    }

    func buffer(allocator: ByteBufferAllocator) -> ByteBuffer {
        target.handOutLent() ?? target.readBuffer(size: sizes.nextBufferSize() ?? 2048, allocator: allocator)
    }

    func nextBufferSize() -> Int? {
        target.lent == nil && !target.probing && !target.fillingPool ? sizes.nextBufferSize() : nil
    }

    mutating func record(actualReadBytes: Int) -> Bool {
        _ = sizes.record(actualReadBytes: actualReadBytes)
        return true
    }
}
