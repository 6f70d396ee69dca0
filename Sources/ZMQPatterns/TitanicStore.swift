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

/// A Titanic process's hold on the pending requests it dispatches: its name, and how long the
/// hold lasts unless renewed. While one Titanic holds a request, others sharing the store leave
/// it alone; when it stops renewing (it died, or lost the store), its requests are taken up by
/// the others once the lease has run out.
public struct TitanicClaim: Sendable, Hashable {
    /// Who holds: one name per Titanic process sharing a store.
    public var owner: String
    public var lease: Duration

    public init(owner: String, lease: Duration) {
        self.owner = owner
        self.lease = lease
    }
}

/// Where Titanic keeps requests and replies. Every method that changes something returns only
/// once the change is durable: Titanic acknowledges a request to its client after
/// `store(_:claim:)` returns, so a store that returned early could lose an acknowledged request.
/// `SQLiteTitanicStore` is the default; `MemoryTitanicStore` keeps nothing across restarts;
/// `PostgresTitanicStore` can be shared by Titanic processes on several hosts.
///
/// Several Titanic processes may share one store: each pending request is held (claimed) by
/// at most one of them at a time, which alone sends it to its service.
public protocol TitanicStore: Sendable {
    /// Keeps a new request, held by `claim`'s owner if given.
    func store(_ request: TitanicRequest, claim: TitanicClaim?) async throws
    /// The requests with no reply yet, oldest first.
    func pending() async throws -> [TitanicRequest]
    /// Takes up to `limit` pending requests for `claim`'s owner to dispatch, oldest first:
    /// those nobody holds and those whose holder's lease ran out; with `includingOwn`, those
    /// the owner held already too (a Titanic restarted under the same name). Two callers never
    /// take the same request while its lease runs.
    func claim(upTo limit: Int, for claim: TitanicClaim, includingOwn: Bool) async throws -> [TitanicRequest]
    /// Extends `claim`'s owner's hold on each pending request it holds by the lease, from now.
    func renew(_ claim: TitanicClaim) async throws
    /// Whether request `id` is pending and held by `owner`: whether `owner` should send it.
    func holds(_ id: String, for owner: String) async throws -> Bool
    /// Lets go of every request `owner` holds, for another Titanic (or its own restart) to
    /// take up at once.
    func release(_ owner: String) async throws
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

extension TitanicStore {
    /// Keeps a new request, held by nobody.
    public func store(_ request: TitanicRequest) async throws {
        try await store(request, claim: nil)
    }
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
    /// The Titanic that holds it, if any does.
    public var owner: String?

    public init(id: String, service: String, answered: Bool, attempts: Int, stored: Date, owner: String? = nil) {
        (self.id, self.service, self.answered, self.attempts, self.stored, self.owner) = (id, service, answered, attempts, stored, owner)
    }
}

/// A Titanic store in memory: for tests, and for requests that need not outlive the process.
public actor MemoryTitanicStore: TitanicStore {
    private var order: [String] = []
    private var requests: [String: TitanicRequest] = [:]
    private var replies: [String: Message] = [:]
    private var attempts: [String: Int] = [:]
    private var stored: [String: Date] = [:]
    private var holders: [String: (owner: String, until: ContinuousClock.Instant)] = [:]
    private var closed = 0

    public init() {}

    public func store(_ request: TitanicRequest, claim: TitanicClaim?) {
        // The first request stored under an id stands, as in the SQLite store.
        guard requests[request.id] == nil else { return }
        requests[request.id] = request
        stored[request.id] = Date()
        order.append(request.id)
        if let claim { holders[request.id] = (claim.owner, .now + claim.lease) }
    }

    public func claim(upTo limit: Int, for claim: TitanicClaim, includingOwn: Bool) -> [TitanicRequest] {
        let now = ContinuousClock.now
        let free = order.lazy.filter { id in
            guard self.replies[id] == nil else { return false }
            guard let holder = self.holders[id] else { return true }
            return holder.until < now || includingOwn && holder.owner == claim.owner
        }
        let taken = Array(free.prefix(max(0, limit)))
        for id in taken { holders[id] = (claim.owner, now + claim.lease) }
        return taken.compactMap { requests[$0] }
    }

    public func renew(_ claim: TitanicClaim) {
        for (id, holder) in holders where holder.owner == claim.owner && replies[id] == nil {
            holders[id] = (claim.owner, .now + claim.lease)
        }
    }

    public func holds(_ id: String, for owner: String) -> Bool {
        requests[id] != nil && replies[id] == nil && holders[id]?.owner == owner
    }

    public func release(_ owner: String) {
        holders = holders.filter { $0.value.owner != owner }
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
            requests[id].map {
                TitanicStoreItem(id: id, service: $0.service, answered: replies[id] != nil, attempts: attempts[id] ?? 0, stored: stored[id] ?? Date(),
                                 owner: replies[id] == nil ? holders[id]?.owner : nil)
            }
        }
    }

    public func pending() -> [TitanicRequest] {
        order.compactMap { id in replies[id] == nil ? requests[id] : nil }
    }

    public func storeReply(_ reply: Message, for id: String) -> Bool {
        guard requests[id] != nil, replies[id] == nil else { return false }
        replies[id] = reply
        holders[id] = nil
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
        holders[id] = nil
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
