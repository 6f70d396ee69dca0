import Synchronization
import ZMTP

/// A pipe's outbound queue, between one producer (the sending socket, under its lock) and one
/// consumer (the engine taking batches for the wire, or for an inproc peer), with no lock
/// between the two: libzmq's `ypipe`, in its own way.
///
/// Messages are written into chunks of slots linked in order. `state` holds how many are queued
/// and whether the consumer is asleep:
/// - the producer writes a slot, then adds one (which publishes it). If it finds the consumer
///   asleep, it wakes it: it clears the flag and says so, and the caller schedules a drain;
/// - the consumer moves out what the count showed and subtracts it. It goes to sleep only when
///   it finds nothing: it swaps a count of zero for the flag, and if the producer added one in
///   between the swap fails and it takes that message instead.
/// So a stream of sends costs one atomic add each and wakes the engine once, and neither side
/// waits for the other. The count is the queue's length for the high-water mark.
///
/// What is neither appending nor taking (subscriptions put ahead of the queue, the queue of a
/// peer that left dropped, `conflate`) needs the queue to itself: `exclusively` runs with the
/// caller holding the producer's lock and takes `consumerLock`, which each take holds.
final class OutboundQueue: @unchecked Sendable {
    private final class Chunk {
        /// Slots in a queue's first chunk: a pipe that never sends (most accepted peers of a
        /// PULL or a SUB) holds this little. Later chunks are `capacity`.
        static let firstCapacity = 4
        static let capacity = 128
        let slotCount: Int
        let slots: UnsafeMutablePointer<Message>
        /// Set by the producer before it publishes a message in the next chunk.
        @exclusivity(unchecked) var next: Chunk?

        init(slotCount: Int) {
            self.slotCount = slotCount
            slots = .allocate(capacity: slotCount)
        }

        deinit { slots.deallocate() }
    }

    private static let asleep = 1 << 62
    private static let countMask = asleep - 1

    // The producer's fields first, then the consumer's, a cache line apart: the consumer's
    // writes at each take would otherwise cost the producer a cache miss on its next append.
    private let state = Atomic<Int>(OutboundQueue.asleep)
    /// The last full-size chunk the consumer emptied, kept for the producer's next one (libzmq's
    /// yqueue keeps a spare chunk too): a steady stream allocates nothing.
    private let spare = Atomic<Unmanaged<Chunk>?>(nil)
    /// The producer's end: the chunk it writes and its next slot there.
    @exclusivity(unchecked) private var tail: Chunk
    @exclusivity(unchecked) private var tailIndex = 0
    /// How many chunks the producer has made (tests: a steady stream reuses the spare).
    @exclusivity(unchecked) private(set) var chunksMade = 1
    private let cacheLineGap: (Int, Int, Int, Int, Int, Int, Int, Int) = (0, 0, 0, 0, 0, 0, 0, 0)
    /// Held by each take, and by `exclusively`.
    let consumerLock = Mutex<Void>(())
    /// The consumer's end.
    @exclusivity(unchecked) private var head: Chunk
    @exclusivity(unchecked) private var headIndex = 0

    init() {
        let chunk = Chunk(slotCount: Chunk.firstCapacity)
        tail = chunk
        head = chunk
    }

    deinit {
        spare.exchange(nil, ordering: .acquiring)?.release()
        for _ in 0..<(state.load(ordering: .acquiring) & Self.countMask) { _ = popHead() }
    }

    /// How many messages are queued. Read without a lock it may be larger than the queue is by
    /// then (the consumer took some since), never smaller: only the producer adds.
    @inline(__always)
    var count: Int { state.load(ordering: .relaxed) & Self.countMask }


    /// The same, ordered with a flag the consumer reads after its take (see `Pipe.hasRoom`).
    var countAfterFlag: Int { state.load(ordering: .sequentiallyConsistent) & Self.countMask }

    /// Producer: queues a copy of `message` (`Message.copy(into:)`: a send keeps the caller's).
    /// True when the consumer was asleep: tell it.
    @inline(__always)
    func append(copying message: borrowing Message) -> Bool {
        message.copy(into: nextSlot())
        return publish()
    }

    /// Producer: moves `message`, made for this queue (a ROUTER's without its routing id), into
    /// the next slot: nothing retained. True when the consumer was asleep: tell it.
    @inline(__always)
    func append(moving message: consuming Message) -> Bool {
        nextSlot().initialize(to: consume message)
        return publish()
    }

    /// Producer: makes the message just written into the next slot visible to the consumer.
    @inline(__always)
    private func publish() -> Bool {
        let old = state.wrappingAdd(1, ordering: .acquiringAndReleasing).oldValue
        guard old & Self.asleep != 0 else { return false }
        // Only this side clears the flag, and the consumer sets it only when the count is zero.
        state.wrappingSubtract(Self.asleep, ordering: .acquiringAndReleasing)
        return true
    }

    /// Consumer, with `consumerLock` held: moves up to `limit` messages into `batch`, and returns
    /// how many. Zero means the queue was empty, and the consumer is asleep until an append says.
    @inline(__always)
    func take(into batch: inout MessageQueue, limit: Int) -> Int {
        while true {
            let current = state.load(ordering: .acquiring)
            let available = current & Self.countMask
            if available == 0 {
                if current & Self.asleep != 0 { return 0 }
                if state.compareExchange(expected: 0, desired: Self.asleep, ordering: .acquiringAndReleasing).exchanged { return 0 }
                continue
            }
            let taking = min(available, limit)
            // A run of slots at a time, not a message at a time.
            var remaining = taking
            while remaining > 0 {
                if headIndex == head.slotCount {
                    let emptied = head
                    head = head.next!
                    headIndex = 0
                    recycle(emptied)
                }
                let run = min(remaining, head.slotCount - headIndex)
                batch.appendMoving(from: head.slots + headIndex, count: run)
                headIndex &+= run
                remaining &-= run
            }
            // Ordered before the consumer reads the producer's "saw it full" flag.
            state.wrappingSubtract(taking, ordering: .sequentiallyConsistent)
            return taking
        }
    }

    /// With the producer's lock held by the caller: the queue to itself, as a `MessageQueue` for
    /// `body` to change. Afterwards the consumer is awake if anything is queued (the caller tells
    /// the engine, when there is one) and asleep if not.
    func exclusively<T>(_ body: (inout MessageQueue) throws -> T) rethrows -> T {
        try consumerLock.withLock { _ in
            var queue = MessageQueue()
            for _ in 0..<(state.load(ordering: .acquiring) & Self.countMask) { queue.append(popHead()) }
            defer {
                let count = queue.count
                while let message = queue.popFirst() { write(message) }
                state.store(count == 0 ? Self.asleep : count, ordering: .releasing)
            }
            return try body(&queue)
        }
    }

    /// With the producer's lock held by the caller: a new consumer, told nothing yet. It is
    /// asleep if the queue is empty (the next append wakes it); otherwise awake, and the caller
    /// tells it. Returns whether messages wait.
    func resetWake() -> Bool {
        consumerLock.withLock { _ in
            let count = state.load(ordering: .acquiring) & Self.countMask
            state.store(count == 0 ? Self.asleep : count, ordering: .releasing)
            return count > 0
        }
    }

    /// With the producer's lock held by the caller: drops everything queued, in place, and
    /// returns how many. The consumer is asleep afterwards (the next append wakes it).
    func removeAll() -> Int {
        consumerLock.withLock { _ in
            let dropped = state.load(ordering: .acquiring) & Self.countMask
            for _ in 0..<dropped { _ = popHead() }
            state.store(Self.asleep, ordering: .releasing)
            return dropped
        }
    }

    /// Producer, for `conflate`: drops what is queued and queues `message`. Returns how many
    /// were dropped, and whether the consumer was asleep (tell it).
    func replaceAll(with message: Message) -> (dropped: Int, wake: Bool) {
        consumerLock.withLock { _ in
            let current = state.load(ordering: .acquiring)
            let dropped = current & Self.countMask
            for _ in 0..<dropped { _ = popHead() }
            write(message)
            // A consumer about to go to sleep on finding nothing fails to, and takes this one.
            state.store(1, ordering: .releasing)
            return (dropped, current & Self.asleep != 0)
        }
    }

    /// Consumer: keeps an emptied full-size chunk as the spare (all its messages were moved out).
    private func recycle(_ chunk: Chunk) {
        guard chunk.slotCount == Chunk.capacity else { return }
        chunk.next = nil
        spare.exchange(Unmanaged.passRetained(chunk), ordering: .acquiringAndReleasing)?.release()
    }

    @inline(__always)
    private func write(_ message: consuming Message) {
        nextSlot().initialize(to: message)
    }

    /// Producer: the next free slot, for one message to be written into at once.
    @inline(__always)
    private func nextSlot() -> UnsafeMutablePointer<Message> {
        if tailIndex == tail.slotCount {
            let chunk = spare.exchange(nil, ordering: .acquiringAndReleasing)?.takeRetainedValue() ?? {
                chunksMade &+= 1
                return Chunk(slotCount: Chunk.capacity)
            }()
            tail.next = chunk
            tail = chunk
            tailIndex = 0
        }
        defer { tailIndex &+= 1 }
        return tail.slots + tailIndex
    }

    @inline(__always)
    private func popHead() -> Message {
        if headIndex == head.slotCount {
            head = head.next!
            headIndex = 0
        }
        defer { headIndex &+= 1 }
        return (head.slots + headIndex).move()
    }
}
