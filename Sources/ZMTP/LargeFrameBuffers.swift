import NIOCore
import Synchronization

/// Buffers of large frames already received, written again for later frames once every reader
/// has let go of them.
///
/// A frame that straddles reads is copied into a buffer of its own. At 128 KiB and more that is a
/// fresh allocation the C allocator often maps anew (it hands memory of that size back to the
/// kernel when a few such frames are freed together), so writing a megabyte into it costs a page
/// fault for every 4 KiB: a third of the receiving CPU at 1 MiB. The decoder keeps a reference to
/// each large frame it hands on; a later frame of the same size class takes a kept buffer whose
/// only remaining reference is ours, so no reader ever sees its octets change.
///
/// Kept buffers the application has dropped stay allocated until reused or pushed out; the cache
/// holds at most `maximumCount` buffers and `maximumCapacity` octets of capacity, for the whole
/// process, so what it pins is bounded whatever the number of connections.
public final class LargeFrameBuffers: Sendable {
    /// Buffers of at least this capacity are kept (a 64 KiB frame and its header need 128 KiB).
    public static let smallestKept = 128 << 10
    /// Larger buffers are not kept: a frame that big grew past the decoder's up-front reservation,
    /// which is the most any later frame asks for.
    public static let largestKept = FrameDecoder.maxReservation
    public let maximumCount: Int
    public let maximumCapacity: Int

    private let kept = Mutex<[ByteBuffer]>([])

    /// The cache the decoders share unless given their own.
    public static let shared = LargeFrameBuffers(maximumCount: 16, maximumCapacity: 32 << 20)

    public init(maximumCount: Int, maximumCapacity: Int) {
        self.maximumCount = maximumCount
        self.maximumCapacity = maximumCapacity
    }

    /// An empty buffer of at least `capacity` octets: a kept one of the same power-of-two size
    /// class (NIO rounds capacities up to one) that nobody else references, else a new one.
    public func buffer(capacity: Int) -> ByteBuffer {
        if capacity >= Self.smallestKept, let reused = takeUnreferenced(capacity: capacity) {
            return reused
        }
        return ByteBufferAllocator().buffer(capacity: capacity)
    }

    /// Keeps a reference to `buffer`, the storage of a frame being handed on, pushing out the
    /// oldest kept buffers beyond the limits.
    public func keep(_ buffer: ByteBuffer) {
        guard buffer.capacity >= Self.smallestKept, buffer.capacity <= min(Self.largestKept, maximumCapacity) else { return }
        kept.withLock { kept in
            kept.append(buffer)
            var total = kept.reduce(0) { $0 + $1.capacity }
            while kept.count > maximumCount || total > maximumCapacity {
                total -= kept.removeFirst().capacity
            }
        }
    }

    /// How many buffers are kept (for tests).
    package var count: Int { kept.withLock { $0.count } }

    /// The most recently kept buffer first: its octets are the likeliest to be in the cache still,
    /// which makes the kernel's copy into it cheaper (a seventh of the receiving CPU at 1 MiB).
    private func takeUnreferenced(capacity: Int) -> ByteBuffer? {
        kept.withLock { kept in
            for index in kept.indices.reversed() where kept[index].capacity >= capacity && kept[index].capacity / 2 < capacity {
                // Unique means no frame, slice or copy anywhere still refers to these octets,
                // and none can appear: only this cache holds the buffer, under the lock.
                if kept[index].modifyIfUniquelyOwned({ $0.clear() }) != nil {
                    return kept.remove(at: index)
                }
            }
            return nil
        }
    }
}
