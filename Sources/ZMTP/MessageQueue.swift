/// A first-in, first-out queue of messages: the pipes between a socket and its connections, the
/// batches an engine reads and writes, and the messages a socket has received.
///
/// A ring buffer that moves messages in and out. `MessageQueue` copies every message it takes
/// in (its `append` hands the element to a closure), and copying a `Message` goes through its
/// value witness: on the path every message takes, that was a tenth of the work. A copied queue
/// shares its storage until one of the copies changes (copy on write), as any Swift collection.
/// Sendable as any copy-on-write collection of Sendable elements is (the storage class cannot say
/// so itself: `ManagedBuffer` is marked never Sendable).
public struct MessageQueue: @unchecked Sendable {
    @usableFromInline
    struct Header {
        /// A power of two, so that a slot is an index masked, not divided.
        @usableFromInline var capacity: Int
        @usableFromInline var head = 0
        @usableFromInline var count = 0

        @usableFromInline
        init(capacity: Int) { self.capacity = capacity }

        /// The slot of the `offset`-th message from the front.
        @inlinable @inline(__always)
        func slot(_ offset: Int) -> Int { (head &+ offset) & (capacity &- 1) }
    }

    @usableFromInline
    final class Storage: ManagedBuffer<Header, Message> {
        @inlinable
        var elements: UnsafeMutablePointer<Message> { withUnsafeMutablePointerToElements { $0 } }

        /// Through a pointer: `ManagedBuffer.header` is a class property, and every access to
        /// one costs a runtime exclusivity check.
        @inlinable
        var state: UnsafeMutablePointer<Header> { withUnsafeMutablePointerToHeader { $0 } }

        /// The queued messages as one or two runs of slots, front first.
        @inlinable
        func forEachRun(_ body: (UnsafeMutablePointer<Message>, Int) -> Void) {
            let (capacity, head, count) = (state.pointee.capacity, state.pointee.head, state.pointee.count)
            let first = Swift.min(count, capacity - head)
            if first > 0 { body(elements + head, first) }
            if count > first { body(elements, count - first) }
        }

        deinit {
            forEachRun { start, count in start.deinitialize(count: count) }
        }
    }

    @usableFromInline var storage: Storage?

    @inlinable
    public init() {}

    public init(_ messages: some Sequence<Message>) {
        for message in messages { append(message) }
    }

    @inlinable
    public var count: Int { storage?.state.pointee.count ?? 0 }

    @inlinable
    public var isEmpty: Bool { count == 0 }

    /// How many messages fit before the storage grows.
    public var capacity: Int { storage?.state.pointee.capacity ?? 0 }

    @inlinable
    public mutating func append(_ message: consuming Message) {
        prepareToWrite(adding: 1)
        let storage = self.storage.unsafelyUnwrapped
        (storage.elements + storage.state.pointee.slot(storage.state.pointee.count)).initialize(to: message)
        storage.state.pointee.count &+= 1
    }

    @inlinable
    public mutating func prepend(_ message: consuming Message) {
        prepareToWrite(adding: 1)
        let storage = self.storage.unsafelyUnwrapped
        storage.state.pointee.head = storage.state.pointee.slot(storage.state.pointee.capacity &- 1)
        (storage.elements + storage.state.pointee.head).initialize(to: message)
        storage.state.pointee.count &+= 1
    }

    /// Moves `count` messages from `source` (left uninitialized) to the end of the queue: one
    /// look at the storage for the run, where `append` looks once per message.
    @inlinable
    package mutating func appendMoving(from source: UnsafeMutablePointer<Message>, count: Int) {
        guard count > 0 else { return }
        prepareToWrite(adding: count)
        let storage = self.storage.unsafelyUnwrapped
        let tail = storage.state.pointee.slot(storage.state.pointee.count)
        let first = Swift.min(count, storage.state.pointee.capacity &- tail)
        (storage.elements + tail).moveInitialize(from: source, count: first)
        if count > first { storage.elements.moveInitialize(from: source + first, count: count &- first) }
        storage.state.pointee.count &+= count
    }

    /// Moves the first `count` messages of `source` to the end of this queue, in order.
    @inlinable
    package mutating func appendMoving(first count: Int, of source: inout MessageQueue) {
        guard count > 0 else { return }
        precondition(count <= source.count, "appendMoving: more than the source holds")
        source.prepareToWrite(adding: 0)
        let from = source.storage.unsafelyUnwrapped
        let head = from.state.pointee.head
        let first = Swift.min(count, from.state.pointee.capacity &- head)
        appendMoving(from: from.elements + head, count: first)
        if count > first { appendMoving(from: from.elements, count: count &- first) }
        from.state.pointee.head = from.state.pointee.slot(count)
        from.state.pointee.count &-= count
    }

    /// The same, giving each moved message that carries no metadata `metadata`, in place: a
    /// connection's messages get its metadata as they reach the receiving thread, where taking
    /// each out and appending it again looked at the storage twice a message.
    @inlinable
    package mutating func appendMoving(first count: Int, of source: inout MessageQueue, tagging metadata: MessageMetadata) {
        let start = self.count
        appendMoving(first: count, of: &source)
        guard count > 0 else { return }
        let storage = self.storage.unsafelyUnwrapped
        for offset in start..<(start &+ count) {
            let slot = storage.elements + storage.state.pointee.slot(offset)
            if slot.pointee.metadata == nil { slot.pointee.metadata = metadata }
        }
    }

    public mutating func append(contentsOf messages: some Sequence<Message>) {
        for message in messages { append(message) }
    }

    /// Puts `messages` before the queued ones, in their order.
    public mutating func prepend(contentsOf messages: some BidirectionalCollection<Message>) {
        for message in messages.reversed() { prepend(message) }
    }

    /// Takes the first message out; nil when there is none.
    @inlinable
    public mutating func popFirst() -> Message? {
        guard count > 0 else { return nil }
        prepareToWrite(adding: 0)
        let storage = self.storage.unsafelyUnwrapped
        let message = (storage.elements + storage.state.pointee.head).move()
        storage.state.pointee.head = storage.state.pointee.slot(1)
        storage.state.pointee.count &-= 1
        return message
    }

    @inlinable
    public mutating func removeFirst() -> Message {
        guard let message = popFirst() else { preconditionFailure("removeFirst on an empty MessageQueue") }
        return message
    }

    /// Takes the last message out; nil when there is none.
    @inlinable
    public mutating func popLast() -> Message? {
        guard count > 0 else { return nil }
        prepareToWrite(adding: 0)
        let storage = self.storage.unsafelyUnwrapped
        storage.state.pointee.count &-= 1
        return (storage.elements + storage.state.pointee.slot(storage.state.pointee.count)).move()
    }

    @inlinable
    public mutating func removeLast() -> Message {
        guard let message = popLast() else { preconditionFailure("removeLast on an empty MessageQueue") }
        return message
    }

    public mutating func removeAll(keepingCapacity: Bool = false) {
        guard keepingCapacity, isKnownUniquelyReferenced(&storage), let storage else {
            storage = nil
            return
        }
        storage.forEachRun { start, count in start.deinitialize(count: count) }
        storage.state.pointee.head = 0
        storage.state.pointee.count = 0
    }

    /// Removes the messages `shouldBeRemoved` picks, keeping the others in order (and the storage).
    public mutating func removeAll(where shouldBeRemoved: (Message) -> Bool) {
        guard !isEmpty else { return }
        prepareToWrite(adding: 0)
        let storage = self.storage.unsafelyUnwrapped
        let elements = storage.elements
        var kept = 0
        for offset in 0..<storage.state.pointee.count {
            let slot = elements + storage.state.pointee.slot(offset)
            if shouldBeRemoved(slot.pointee) {
                slot.deinitialize(count: 1)
            } else {
                if kept != offset { (elements + storage.state.pointee.slot(kept)).moveInitialize(from: slot, count: 1) }
                kept += 1
            }
        }
        storage.state.pointee.count = kept
    }

    /// Replaces each message with what `transform` makes of it, in place: each is moved out and
    /// the result moved back, where reading and assigning through the subscript copies.
    public mutating func transformEach(_ transform: (Message) -> Message) {
        guard !isEmpty else { return }
        prepareToWrite(adding: 0)
        let storage = self.storage.unsafelyUnwrapped
        for offset in 0..<storage.state.pointee.count {
            let slot = storage.elements + storage.state.pointee.slot(offset)
            slot.initialize(to: transform(slot.move()))
        }
    }

    public mutating func reserveCapacity(_ minimumCapacity: Int) {
        if capacity < minimumCapacity || !isKnownUniquelyReferenced(&storage) {
            reallocate(minimumCapacity: Swift.max(minimumCapacity, count))
        }
    }

    /// Makes the storage this queue's own, with room for `extra` more messages.
    @inlinable @inline(__always)
    mutating func prepareToWrite(adding extra: Int) {
        if _fastPath(isKnownUniquelyReferenced(&storage)),
           _fastPath(storage.unsafelyUnwrapped.state.pointee.count &+ extra <= storage.unsafelyUnwrapped.state.pointee.capacity) {
            return
        }
        reallocate(minimumCapacity: count + extra)
    }

    /// New storage of at least `minimumCapacity` (and twice the old, when growing), holding the
    /// queue's messages from slot 0: moved when the old storage was this queue's alone, copied
    /// when it is shared.
    @usableFromInline
    mutating func reallocate(minimumCapacity: Int) {
        let unique = isKnownUniquelyReferenced(&storage)
        let old = storage
        // Doubled only when the old storage is too small: a copy made only to unshare keeps its
        // size (doubling then grew a queue copied again and again without bound).
        var capacity = Swift.max(8, old.map { $0.state.pointee.capacity < minimumCapacity ? 2 * $0.state.pointee.capacity : $0.state.pointee.capacity } ?? 0)
        while capacity < minimumCapacity { capacity <<= 1 }
        let new = unsafeDowncast(Storage.create(minimumCapacity: capacity) { _ in Header(capacity: capacity) }, to: Storage.self)
        if let old {
            var filled = 0
            old.forEachRun { start, count in
                if unique {
                    (new.elements + filled).moveInitialize(from: start, count: count)
                } else {
                    (new.elements + filled).initialize(from: start, count: count)
                }
                filled += count
            }
            new.state.pointee.count = filled
            if unique { old.state.pointee.count = 0 }
        }
        storage = new
    }
}

extension MessageQueue: RandomAccessCollection, MutableCollection {
    public var startIndex: Int { 0 }
    public var endIndex: Int { count }

    public subscript(position: Int) -> Message {
        get {
            precondition(position >= 0 && position < count, "MessageQueue index out of range")
            let storage = self.storage.unsafelyUnwrapped
            return (storage.elements + storage.state.pointee.slot(position)).pointee
        }
        set {
            precondition(position >= 0 && position < count, "MessageQueue index out of range")
            prepareToWrite(adding: 0)
            let storage = self.storage.unsafelyUnwrapped
            (storage.elements + storage.state.pointee.slot(position)).pointee = newValue
        }
    }
}

extension MessageQueue: ExpressibleByArrayLiteral, Equatable, CustomStringConvertible {
    public init(arrayLiteral messages: Message...) {
        self.init(messages)
    }

    public static func == (lhs: MessageQueue, rhs: MessageQueue) -> Bool {
        lhs.elementsEqual(rhs)
    }

    public var description: String { Array(self).description }
}
