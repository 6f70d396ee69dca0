import Foundation
import ZMQ

/// A request Titanic keeps until it is answered and closed: its id (32 hexadecimal digits, as
/// 9/TSP has them), the service it is for, and its body.
public struct TitanicRequest: Sendable, Hashable {
    public var id: String
    public var service: String
    public var body: Message

    public init(id: String, service: String, body: Message) {
        self.id = id
        self.service = service
        self.body = body
    }
}

/// Where a request stands in a Titanic store.
public enum TitanicRequestState: Sendable, Hashable {
    /// No such request: never stored, or closed.
    case unknown
    /// Stored, not answered yet.
    case pending
    /// Answered: the reply, kept until the request is closed.
    case answered(Message)
}

/// Where Titanic keeps requests and replies. Every method that changes something returns only
/// once the change is durable: Titanic acknowledges a request to its client after
/// `store(_:)` returns, so a store that returned early could lose an acknowledged request.
/// `SQLiteTitanicStore` is the default; `MemoryTitanicStore` keeps nothing across restarts.
public protocol TitanicStore: Sendable {
    /// Keeps a new request.
    func store(_ request: TitanicRequest) async throws
    /// The requests with no reply yet, oldest first.
    func pending() async throws -> [TitanicRequest]
    /// Keeps the reply to request `id`, if it is still pending: the first reply stored is the
    /// answer for good, and a later one (a request that ran twice) is dropped. Returns whether
    /// this reply was kept.
    func storeReply(_ reply: Message, for id: String) async throws -> Bool
    /// Where request `id` stands.
    func state(of id: String) async throws -> TitanicRequestState
    /// Forgets request `id` and its reply; nothing happens for an unknown id.
    func close(_ id: String) async throws
}

/// A Titanic store in memory: for tests, and for requests that need not outlive the process.
public actor MemoryTitanicStore: TitanicStore {
    private var order: [String] = []
    private var requests: [String: TitanicRequest] = [:]
    private var replies: [String: Message] = [:]

    public init() {}

    public func store(_ request: TitanicRequest) {
        // The first request stored under an id stands, as in the SQLite store.
        guard requests[request.id] == nil else { return }
        requests[request.id] = request
        order.append(request.id)
    }

    public func pending() -> [TitanicRequest] {
        order.compactMap { id in replies[id] == nil ? requests[id] : nil }
    }

    public func storeReply(_ reply: Message, for id: String) -> Bool {
        guard requests[id] != nil, replies[id] == nil else { return false }
        replies[id] = reply
        return true
    }

    public func state(of id: String) -> TitanicRequestState {
        if let reply = replies[id] { return .answered(reply) }
        return requests[id] == nil ? .unknown : .pending
    }

    public func close(_ id: String) {
        guard requests.removeValue(forKey: id) != nil else { return }
        replies[id] = nil
        order.removeAll { $0 == id }
    }
}

/// Messages as one blob for a database: each frame as a 4-octet big-endian length and its octets.
enum FrameCoding {
    static func encode(_ message: Message) -> Data {
        var data = Data(capacity: message.byteCount + 4 * message.count)
        for frame in message.frames {
            withUnsafeBytes(of: UInt32(frame.count).bigEndian) { data.append(contentsOf: $0) }
            frame.withUnsafeBytes { data.append(contentsOf: $0) }
        }
        return data
    }

    /// Nil for a blob that is not a sequence of frames (a damaged or foreign row).
    static func decode(_ data: Data) -> Message? {
        var frames: [Frame] = []
        var index = data.startIndex
        while index < data.endIndex {
            guard data.endIndex - index >= 4 else { return nil }
            let length = data[index..<index + 4].reduce(0) { $0 << 8 | Int($1) }
            index += 4
            guard data.endIndex - index >= length else { return nil }
            frames.append(Frame(data[index..<index + length]))
            index += length
        }
        return Message(frames)
    }
}
