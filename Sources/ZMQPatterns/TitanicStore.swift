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
    /// Counts one more send of request `id` to its service.
    func recordAttempt(for id: String) async throws
    /// What the store holds now, for an operator (`zmq titanic status`).
    func summary() async throws -> TitanicStoreSummary
    /// Each request the store holds, oldest first (`zmq titanic status --list`).
    func items() async throws -> [TitanicStoreItem]
}

/// What a Titanic store holds: requests waiting for a reply, replies waiting to be closed, how
/// many were closed since the store was made, and when the oldest pending request was stored.
public struct TitanicStoreSummary: Sendable, Hashable {
    public var pending: Int
    public var answered: Int
    public var closed: Int
    public var oldestPending: Date?

    public init(pending: Int, answered: Int, closed: Int, oldestPending: Date?) {
        (self.pending, self.answered, self.closed, self.oldestPending) = (pending, answered, closed, oldestPending)
    }
}

/// One request in a Titanic store, as an operator sees it.
public struct TitanicStoreItem: Sendable, Hashable {
    public var id: String
    public var service: String
    public var answered: Bool
    /// How many times it was sent to its service.
    public var attempts: Int
    public var stored: Date

    public init(id: String, service: String, answered: Bool, attempts: Int, stored: Date) {
        (self.id, self.service, self.answered, self.attempts, self.stored) = (id, service, answered, attempts, stored)
    }
}

/// A Titanic store in memory: for tests, and for requests that need not outlive the process.
public actor MemoryTitanicStore: TitanicStore {
    private var order: [String] = []
    private var requests: [String: TitanicRequest] = [:]
    private var replies: [String: Message] = [:]
    private var attempts: [String: Int] = [:]
    private var stored: [String: Date] = [:]
    private var closed = 0

    public init() {}

    public func store(_ request: TitanicRequest) {
        // The first request stored under an id stands, as in the SQLite store.
        guard requests[request.id] == nil else { return }
        requests[request.id] = request
        stored[request.id] = Date()
        order.append(request.id)
    }

    public func recordAttempt(for id: String) {
        if requests[id] != nil { attempts[id, default: 0] += 1 }
    }

    public func summary() -> TitanicStoreSummary {
        let pending = order.filter { replies[$0] == nil }
        return TitanicStoreSummary(pending: pending.count, answered: replies.count, closed: closed, oldestPending: pending.first.flatMap { stored[$0] })
    }

    public func items() -> [TitanicStoreItem] {
        order.compactMap { id in
            requests[id].map { TitanicStoreItem(id: id, service: $0.service, answered: replies[id] != nil, attempts: attempts[id] ?? 0, stored: stored[id] ?? Date()) }
        }
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
        attempts[id] = nil
        stored[id] = nil
        order.removeAll { $0 == id }
        closed += 1
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
