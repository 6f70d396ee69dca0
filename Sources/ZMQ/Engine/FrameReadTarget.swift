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
    /// Where the lent buffer's memory starts, and how many octets it held: the chunk that
    /// comes back is the same memory with more octets.
    private var lentStorage: UInt?
    private(set) var lentCount = 0
    /// A lent buffer was read into: the reads after it take little, enough for the next frame's
    /// header, so that little of a large frame is read other than into place. That lasts to the
    /// end of the read event, and through the first read of the next one if the lent read was
    /// the event's last (NIO reads again within an event only while buffers come back full).
    var probing = false
    /// Small reads made for `probing` in the current read event.
    var probesThisEvent = 0
    static let probeSize = 64

    /// How many buffers this connection's reads were given. NIO's pool keeps the first
    /// `nioKeeps` it is given (one per read of a readiness event) and, since this allocator
    /// never names a size, never uses them again; so those are not reused here, and no frame's
    /// buffer is lent until they are given out, which leaves a lent buffer referenced by its
    /// frame alone.
    private var handedOut = 0
    static let nioKeeps = 4
    /// Ordinary read buffers, handled and given back (`recycle`), taken again for a later read
    /// once every slice of them is gone, as NIO's own pool does.
    private var ordinary: [ByteBuffer] = []
    static let ordinaryKept = 4

    var mayLend: Bool { handedOut >= Self.nioKeeps }

    /// The read event is over: whether to go on probing into the next one.
    func readEventEnded(partialFrame: Bool) {
        if probing, partialFrame || probesThisEvent > 0 { probing = false }
        probesThisEvent = 0
    }

    func lend(_ buffer: ByteBuffer) {
        lentCount = buffer.readableBytes
        lentStorage = Self.storage(of: buffer)
        lent = buffer
    }

    /// Whether `chunk` is the lent buffer, read into.
    func isLentBuffer(_ chunk: ByteBuffer) -> Bool {
        chunk.readableBytes > lentCount && Self.storage(of: chunk) == lentStorage
    }

    private static func storage(of buffer: ByteBuffer) -> UInt {
        buffer.withVeryUnsafeBytes { UInt(bitPattern: $0.baseAddress) }
    }

    /// A buffer for a read the lent frame does not take: a small one while probing, else one
    /// of `size` octets, reused when nothing refers to it any more.
    fileprivate func readBuffer(size: Int, allocator: ByteBufferAllocator) -> ByteBuffer {
        handedOut += 1
        if probing {
            probesThisEvent += 1
            return allocator.buffer(capacity: Self.probeSize)
        }
        if handedOut <= Self.nioKeeps { return allocator.buffer(capacity: size) }
        for index in ordinary.indices where ordinary[index].capacity >= size && ordinary[index].capacity / 4 < size {
            if ordinary[index].modifyIfUniquelyOwned({ $0.clear() }) != nil {
                // Moved out: a second reference would make NIO's read into it copy it.
                return ordinary.remove(at: index)
            }
        }
        return allocator.buffer(capacity: size)
    }

    /// An ordinary read's buffer, handled: kept to be read into again (`readBuffer`).
    func recycle(_ buffer: ByteBuffer) {
        guard handedOut > Self.nioKeeps, buffer.capacity >= Self.smallestKept else { return }
        if ordinary.count == Self.ordinaryKept { ordinary.removeFirst() }
        ordinary.append(buffer)
    }
    static let smallestKept = 1024

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
/// With `nextBufferSize()` nil, NIO's pool asks `buffer(allocator:)` for every read, and
/// `record` answering that buffers may grow keeps it from clearing one it holds for reuse.
struct ReadInPlaceAllocator: RecvByteBufferAllocator {
    private var sizes = AdaptiveRecvByteBufferAllocator(minimum: 64, initial: 2048, maximum: 256 * 1024)
    let target: FrameReadTarget

    init(target: FrameReadTarget) {
        self.target = target
    }

    func buffer(allocator: ByteBufferAllocator) -> ByteBuffer {
        target.handOutLent() ?? target.readBuffer(size: sizes.nextBufferSize() ?? 2048, allocator: allocator)
    }

    func nextBufferSize() -> Int? { nil }

    mutating func record(actualReadBytes: Int) -> Bool {
        _ = sizes.record(actualReadBytes: actualReadBytes)
        return true
    }
}
