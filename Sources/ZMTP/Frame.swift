#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import NIOCore

/// One part of a ZeroMQ message.
///
/// Up to 32 octets are stored inline, with no reference to count and nothing to allocate (like
/// libzmq's "very small messages"). A frame made from octets or a string of up to
/// `compactCapacity` takes one allocation holding its octets (a `ByteBuffer` takes two, its
/// object and its bytes). Other frames hold a `ByteBuffer`; a large frame read from the network
/// is a slice of the buffer the octets arrived in, so receiving it copies nothing.
public struct Frame: Sendable, Hashable, CustomStringConvertible {
    @usableFromInline
    enum Storage: Sendable {
        case inline(InlineBytes)
        case compact(CompactBytes)
        case buffer(ByteBuffer)
        case permanent(PermanentBytes)
    }

    @usableFromInline var storage: Storage

    /// Frames of up to this many octets are stored inline.
    public static let inlineCapacity = InlineBytes.capacity

    init(storage: Storage) {
        self.storage = storage
    }

    public init(buffer: ByteBuffer) {
        if buffer.readableBytes <= InlineBytes.capacity {
            storage = .inline(buffer.withUnsafeReadableBytes { InlineBytes($0) })
        } else {
            storage = .buffer(buffer)
        }
    }

    /// An inline frame of up to seven octets as one word, octet i in bits 8i...8i+7 (the rest
    /// zero), and its count; nil for any other frame. A routing id, read as a table keys it
    /// without a closure.
    @inlinable
    package var shortWord: (word: UInt64, count: Int)? {
        guard case .inline(let small) = storage, small.count <= 7 else { return nil }
        return (UInt64(littleEndian: small.words.0), small.count)
    }

    /// Frames made from octets of up to this many take one allocation (above `inlineCapacity`).
    /// Larger ones are a `ByteBuffer`, which the engines hand to the wire without copying.
    public static let compactCapacity = 8 * 1024

    public init(_ string: String) {
        var string = string
        if let storage = string.withUTF8({ Self.storage(copying: UnsafeRawBufferPointer($0)) }) {
            self.storage = storage
        } else {
            self.storage = .buffer(ByteBuffer(string: string))
        }
    }

    public init(_ bytes: some Sequence<UInt8>) {
        if let storage = bytes.withContiguousStorageIfAvailable({ Self.storage(copying: UnsafeRawBufferPointer($0)) }) ?? nil {
            self.init(storage: storage)
        } else {
            self.init(buffer: ByteBuffer(bytes: bytes))
        }
    }

    /// Inline or compact storage holding a copy of `octets`; nil when they are too many for both.
    private static func storage(copying octets: UnsafeRawBufferPointer) -> Storage? {
        if octets.count <= InlineBytes.capacity { return .inline(InlineBytes(octets)) }
        if octets.count <= compactCapacity { return .compact(CompactBytes.make(copying: octets)) }
        return nil
    }

    public init() {
        storage = .inline(InlineBytes(UnsafeRawBufferPointer(start: nil, count: 0)))
    }

    /// A frame whose octets are kept for the rest of the program: copied once and never freed.
    /// Copies of it share them with no reference count, so sending it again and again, or from
    /// one thread to another, costs no atomic operation (libzmq's `zmq_msg_init_data` with no
    /// free function); only a frame of 16 KiB or more written to tcp or ipc hands the network
    /// its buffer, which counts. For payloads a program sends many times, such as a fixed header
    /// or a reply that never changes; each frame made this way keeps its octets until the process
    /// ends, so do not make one per message. Up to `inlineCapacity` octets it is an ordinary
    /// inline frame.
    public init(permanent octets: some Sequence<UInt8>) {
        let bytes = Array(octets)
        if bytes.count <= InlineBytes.capacity {
            self.init(bytes)
        } else {
            self.init(storage: .permanent(PermanentBytes.make(copying: bytes)))
        }
    }

    /// The octets as a `ByteBuffer` (a new one for an inline frame).
    public var buffer: ByteBuffer {
        switch storage {
        case .buffer(let buffer): return buffer
        case .permanent(let bytes): return bytes.buffer
        case .inline, .compact: return withUnsafeBytes { ByteBuffer(bytes: $0) }
        }
    }

    /// The number of octets in the frame.
    public var count: Int {
        switch storage {
        case .inline(let small): return small.count
        case .compact(let bytes): return bytes.count
        case .buffer(let buffer): return buffer.readableBytes
        case .permanent(let bytes): return bytes.count
        }
    }

    public var isEmpty: Bool { count == 0 }

    /// The octets as an array (a copy).
    public var bytes: [UInt8] { withUnsafeBytes { Array($0) } }

    /// The octets as text, or nil when they are not valid UTF-8.
    public var string: String? {
        withUnsafeBytes { String(validating: $0, as: UTF8.self) }
    }

    @inlinable
    public func withUnsafeBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        switch storage {
        case .inline(let small): return try small.withUnsafeBytes(body)
        case .compact(let bytes): return try bytes.withUnsafeBytes(body)
        case .buffer(let buffer): return try buffer.withUnsafeReadableBytes(body)
        case .permanent(let bytes): return try body(UnsafeRawBufferPointer(start: bytes.base, count: bytes.count))
        }
    }

    /// Appends the octets to `target`: a copy for inline frames, a buffer append otherwise.
    public func write(into target: inout ByteBuffer) {
        switch storage {
        case .buffer(let buffer): target.writeImmutableBuffer(buffer)
        case .inline, .compact, .permanent: withUnsafeBytes { _ = target.writeBytes($0) }
        }
    }

    public static func == (lhs: Frame, rhs: Frame) -> Bool {
        lhs.withUnsafeBytes { left in
            rhs.withUnsafeBytes { right in
                left.count == right.count && (left.count == 0 || memcmp(left.baseAddress!, right.baseAddress!, left.count) == 0)
            }
        }
    }

    public func hash(into hasher: inout Hasher) {
        withUnsafeBytes { hasher.combine(bytes: $0) }
    }

    public var description: String {
        string ?? "0x" + bytes.map { byte in
            let hex = String(byte, radix: 16)
            return hex.count == 1 ? "0" + hex : hex
        }.joined()
    }
}

/// Up to 32 octets held in the value itself. `@usableFromInline`, as the other storages, so that
/// `Frame.withUnsafeBytes` is specialized where it is called (a generic call costs a few hundred
/// instructions, on paths every message takes: routing ids, topics).
@usableFromInline
struct InlineBytes: Sendable {
    static let capacity = 32
    @usableFromInline var words: (UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0)
    @usableFromInline let count: Int

    init(_ source: UnsafeRawBufferPointer) {
        precondition(source.count <= Self.capacity)
        count = source.count
        if let base = source.baseAddress, count > 0 {
            withUnsafeMutableBytes(of: &words) { $0.baseAddress!.copyMemory(from: base, byteCount: count) }
        }
    }

    /// Borrows `words`, never a copy through `withUnsafeBytes(of: &copy)`: Swift 6.3's optimizer
    /// drops the stores to such a copy when the body reads it a word at a time
    /// (`loadUnaligned(as: UInt64.self)` read 0 or garbage in release builds), which broke the
    /// pattern runner's request ids once this was inlined into other modules.
    @inlinable
    func withUnsafeBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        let count = self.count
        return try Swift.withUnsafeBytes(of: words) { try body(UnsafeRawBufferPointer(start: $0.baseAddress, count: count)) }
    }
}

/// A frame's octets in one allocation. Never changed once made, so it is shared between threads
/// as it is. The count is kept here, not in the object: the object's reference count changes on
/// every hand-over between threads, and reading the count beside it would share that cache line.
@usableFromInline
struct CompactBytes: @unchecked Sendable {
    @usableFromInline let storage: ManagedBuffer<Void, UInt8>
    @usableFromInline let count: Int

    static func make(copying octets: UnsafeRawBufferPointer) -> CompactBytes {
        let storage = ManagedBuffer<Void, UInt8>.create(minimumCapacity: octets.count) { _ in }
        storage.withUnsafeMutablePointerToElements { elements in
            UnsafeMutableRawPointer(elements).copyMemory(from: octets.baseAddress!, byteCount: octets.count)
        }
        return CompactBytes(storage: storage, count: octets.count)
    }

    @inlinable @inline(__always)
    func withUnsafeBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        try storage.withUnsafeMutablePointerToElements { elements in
            try body(UnsafeRawBufferPointer(start: elements, count: count))
        }
    }
}

/// Octets kept for the rest of the program (`Frame(permanent:)`): a `ByteBuffer` that nothing
/// ever frees, held by an object nothing ever releases. A frame holds the octets' address, its
/// count and the object unretained, so copying one touches no reference count; the buffer is
/// handed out only where a `ByteBuffer` is wanted (a large frame written without a copy).
@usableFromInline
struct PermanentBytes: @unchecked Sendable {
    final class Keeper: Sendable {
        let buffer: ByteBuffer
        init(_ buffer: ByteBuffer) { self.buffer = buffer }
    }

    @usableFromInline let base: UnsafeRawPointer
    @usableFromInline let count: Int
    let keeper: Unmanaged<Keeper>

    static func make(copying octets: [UInt8]) -> PermanentBytes {
        let keeper = Unmanaged.passRetained(Keeper(ByteBuffer(bytes: octets)))  // never released
        // The buffer is never written again and never freed, so its octets stay where they
        // are after the look that finds them.
        let base = keeper.takeUnretainedValue().buffer.withUnsafeReadableBytes { $0.baseAddress! }
        return PermanentBytes(base: base, count: octets.count, keeper: keeper)
    }

    var buffer: ByteBuffer { keeper.takeUnretainedValue().buffer }
}

/// `"weather.\(city)"` makes a frame too, not only a plain literal.
extension Frame: ExpressibleByStringInterpolation {
    public init(stringLiteral value: String) {
        self.init(value)
    }
}

/// A ZeroMQ message: one or more frames, sent and delivered whole or not at all.
///
/// A one-frame message, the common case, is stored without an array.
public struct Message: Sendable, Hashable, RandomAccessCollection, ExpressibleByArrayLiteral {
    @usableFromInline
    enum Storage: Hashable, Sendable {
        case single(Frame)
        case multipart([Frame])
        /// Frames with a routing id or a group (the draft socket types). Boxed, so that every
        /// other message stays as small as it was.
        indirect case addressed(Storage, Address)
    }

    /// The routing id and group a message of the draft socket types carries.
    @usableFromInline
    struct Address: Hashable, Sendable {
        var routingID: UInt32?
        var group: String?
    }

    @usableFromInline var storage: Storage

    // Its two stored properties are all a message holds: `MessageQueue.writeSmallMessages` lets
    // go of a one-frame inline message without destroying it, and `copy(into:)` copies one that
    // holds no reference as plain memory; a third property would break both.

    /// Where a received message came from (peer address, user id, the connection's properties),
    /// shared by every message of one connection; nil on messages made locally and from inproc.
    /// Not part of equality: two messages with the same frames are equal wherever they came from.
    public var metadata: MessageMetadata?

    public init(_ frame: Frame) {
        storage = .single(frame)
    }

    public init(_ frames: [Frame]) {
        storage = frames.count == 1 ? .single(frames[0]) : .multipart(frames)
    }

    /// Frames that stand for a received message (its envelope added or taken off), keeping
    /// where the message came from.
    public init(_ frames: [Frame], metadata: MessageMetadata?) {
        self.init(frames)
        self.metadata = metadata
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

    /// The frames without a routing id or group.
    var unaddressed: Storage {
        if case .addressed(let inner, _) = storage { return inner }
        return storage
    }

    private var address: Address? {
        if case .addressed(_, let address) = storage { return address }
        return nil
    }

    private mutating func setAddress(_ change: (inout Address) -> Void) {
        var address = self.address ?? Address()
        change(&address)
        storage = address == Address() ? unaddressed : .addressed(unaddressed, address)
    }

    /// SERVER and PEER: the peer a received message came from, and the peer a message sent goes
    /// to (a nonzero 32-bit id, 47/CLIENTSERVER and 51/P2P). nil on other messages. Not part of
    /// equality, as `metadata` is not.
    public var routingID: UInt32? {
        get { address?.routingID }
        set { setAddress { $0.routingID = newValue } }
    }

    /// RADIO and DISH: the group a message is sent to, or was received in (at most 255 octets,
    /// 48/RADIO-DISH). nil on other messages. Not part of equality.
    public var group: String? {
        get { address?.group }
        set { setAddress { $0.group = newValue } }
    }

    public var frames: [Frame] {
        switch storage {
        case .single(let frame): return [frame]
        case .multipart(let frames): return frames
        case .addressed(let inner, _): return Message(storage: inner).frames
        }
    }

    @usableFromInline
    init(storage: Storage) {
        self.storage = storage
    }

    public var startIndex: Int { 0 }

    /// Inlinable, the rare case apart: a ROUTER asks several times per message it routes.
    @inlinable
    public var endIndex: Int {
        switch storage {
        case .single: return 1
        case .multipart(let frames): return frames.count
        case .addressed: return addressedFrameCount
        }
    }

    /// The number of frames, read off the storage (`Collection`'s own would measure the
    /// distance between the indices through a generic call).
    @inlinable
    public var count: Int { endIndex }

    @usableFromInline
    var addressedFrameCount: Int {
        guard case .addressed(let inner, _) = storage else { return endIndex }
        return Message(storage: inner).endIndex
    }

    public subscript(position: Int) -> Frame {
        switch storage {
        case .single(let frame):
            precondition(position == 0, "frame index out of range")
            return frame
        case .multipart(let frames):
            return frames[position]
        case .addressed(let inner, _):
            return Message(storage: inner)[position]
        }
    }

    public static func == (lhs: Message, rhs: Message) -> Bool {
        lhs.unaddressed == rhs.unaddressed
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(unaddressed)
    }

    /// The message with `frame` put before its frames (a routing id, an envelope), keeping where
    /// it came from: one allocation, where `Message([frame] + message.frames)` takes two.
    public func prepending(_ frame: Frame) -> Message {
        var result: Message
        switch storage {
        case .single(let only):
            result = Message(storage: .multipart([frame, only]))
        case .multipart(let all):
            var frames: [Frame] = []
            frames.reserveCapacity(all.count + 1)
            frames.append(frame)
            frames.append(contentsOf: all)
            result = Message(storage: .multipart(frames))
        case .addressed(let inner, let address):
            result = Message(storage: .addressed(Message(storage: inner).prepending(frame).storage, address))
        }
        result.metadata = metadata
        return result
    }

    /// Puts `frame` before the frames in place (a routing id as a message is handed out): where
    /// the message came from stays as it is, untouched, which copying it into a new message
    /// would not leave it.
    package mutating func prepend(_ frame: Frame) {
        switch storage {
        case .single(let only):
            storage = .multipart([frame, only])
        case .multipart(var frames):
            // Let go of the message's reference first, so the frames move rather than copy.
            storage = .single(Frame())
            frames.insert(frame, at: 0)
            storage = .multipart(frames)
        case .addressed:
            self = prepending(frame)
        }
    }

    /// The message without its first `count` frames (a routing id, an envelope), keeping where it
    /// came from. One frame left takes no allocation.
    public func droppingFirst(_ count: Int = 1) -> Message {
        var result: Message
        switch storage {
        case .single(let only):
            result = Message(storage: count == 0 ? .single(only) : .multipart([]))
        case .multipart(let all):
            if count == all.count - 1 {
                result = Message(storage: .single(all[count]))
            } else {
                result = Message(storage: .multipart(count >= all.count ? [] : Array(all[count...])))
            }
        case .addressed(let inner, let address):
            result = Message(storage: .addressed(Message(storage: inner).droppingFirst(count).storage, address))
        }
        result.metadata = metadata
        return result
    }

    /// The message without its first frame, as a send puts it on the wire (ROUTER's routing id
    /// taken off): without where the message came from, which the wire does not carry.
    package func droppingFirstForWire() -> Message {
        if case .multipart(let all) = storage, all.count == 2 { return Message(storage: .single(all[1])) }
        var result = droppingFirst()
        result.metadata = nil
        return result
    }

    /// The total number of octets in all frames.
    public var byteCount: Int {
        switch storage {
        case .single(let frame): return frame.count
        case .multipart(let frames): return frames.reduce(0) { $0 + $1.count }
        case .addressed(let inner, _): return Message(storage: inner).byteCount
        }
    }
}

extension Message: ExpressibleByStringInterpolation {
    /// A one-frame message holding the text.
    public init(stringLiteral value: String) {
        self.init(Frame(value))
    }
}
