import DequeModule
import Foundation
import HeapModule
import ZMQ

/// What a Clone server (`CloneServer`) did with its map.
public struct CloneServerEvent: ComponentEvent, Hashable {
    public typealias Kind = EventKind<CloneServerEvent>

    public let kind: Kind
    /// The key concerned; for `snapshotSent`, the subtree the client asked for.
    public let key: String?
    /// The map's sequence number after the event.
    public let sequence: UInt64?
    /// Why, for a dropped message: what was wrong with it.
    public let reason: String?
    /// For a dropped message: how many the server has dropped since it started.
    public let dropped: Int?

    public init(_ kind: Kind, key: String? = nil, sequence: UInt64? = nil, reason: String? = nil, dropped: Int? = nil) {
        self.kind = kind
        self.key = key
        self.sequence = sequence
        self.reason = reason
        self.dropped = dropped
    }

    public var description: String {
        describe(kind, ("key", key), ("sequence", sequence.map(String.init)), ("reason", reason), ("dropped", dropped.map(String.init)))
    }
}

extension EventKind where Event == CloneServerEvent {
    /// A client's update was applied and published (KVPUB) with the next sequence number.
    public static var updatePublished: Self { Self("updatePublished") }
    /// An ephemeral key's time to live ran out: it was deleted and the delete published.
    public static var keyExpired: Self { Self("keyExpired") }
    /// A client was sent the keys it asked for (ICANHAZ? … KTHXBAI).
    public static var snapshotSent: Self { Self("snapshotSent") }
    /// A client's snapshot was given up, the rest not sent: the client took none of it for the
    /// snapshot timeout, or it has gone (`reason` says which). A client that is still there
    /// asks again.
    public static var snapshotAbandoned: Self { Self("snapshotAbandoned") }
    /// An update whose UUID was applied already (a client sending again) was ignored.
    public static var duplicateIgnored: Self { Self("duplicateIgnored") }
    /// A passive server kept a client's update until it sees the active one publish it, or
    /// takes over.
    public static var updateHeld: Self { Self("updateHeld") }
    /// A passive server took the active one's snapshot.
    public static var synchronized: Self { Self("synchronized") }
    /// A passive server missed some of the active one's updates (a gap in their sequence
    /// numbers, or a dropped connection) and takes its snapshot again.
    public static var updatesMissed: Self { Self("updatesMissed") }
    /// A message that is not 12/CHP, or not one this socket takes, was dropped; the map is as
    /// it was.
    public static var messageDropped: Self { Self("messageDropped") }
}

/// The Clone server's rules (12/CHP, the Guide's clonesrv models 5 and 6): the map and its
/// sequence number, ephemeral keys, HUGZ while idle, snapshots by subtree, and as one half of a
/// Binary Star pair, the passive server's following of the active one.
///
/// A server that serves (alone, or active) applies each client update (KVSET on the collector)
/// with the next sequence number and publishes it (KVPUB). A passive server instead follows the
/// active one's publisher, having taken its snapshot, and holds the updates clients send it in
/// a pending list until it sees the active one publish them (matched by UUID); on taking over it
/// applies what is still pending, so that no update a client sent to both servers is lost.
struct CloneServerMachine: PatternMachine {
    typealias Event = CloneServerEvent
    typealias Action = PatternAction<Event>

    static let snapshot: SocketName = "snapshot"
    static let publisher: SocketName = "publisher"
    static let collector: SocketName = "collector"
    /// A passive server's SUB on the active one's publisher.
    static let peerUpdates: SocketName = "peer-updates"
    /// A passive server's DEALER asking the active one for its snapshot.
    static let peerSnapshot: SocketName = "peer-snapshot"

    struct Settings {
        var endpoints: CloneEndpoints
        var options: [SocketOption] = []
        var heartbeat: Duration = .seconds(1)
        /// The other server of a pair, to follow while passive (its snapshot and publisher).
        var peer: CloneEndpoints?
        var publisherHighWaterMark = 100_000
        /// How many messages of a snapshot wait in a client's queue, at most.
        var snapshotHighWaterMark = 10_000
        /// A snapshot whose client takes none of it for this long is dropped.
        var snapshotTimeout: Duration = .seconds(10)
        /// How many snapshots are sent at once; more requests wait their turn.
        var concurrentSnapshots = 64
        /// The most updates a passive server holds; beyond, the oldest is dropped.
        var pendingLimit = 100_000
        /// How many UUIDs of applied updates are remembered to ignore a repeat.
        var rememberedUpdates = 65_536
        /// Where the map is kept on disk, if anywhere: each change is stored before it is published.
        var store: (any CloneStore)?
        /// What the store held when the server started (read before the machine starts).
        var stored: (entries: [(entry: CloneEntry, expires: Date?)], sequence: UInt64)?
        /// The wall clock, for a stored ephemeral key's expiry (an instant of the machine's clock
        /// means nothing to the next process).
        var wallClock: @Sendable () -> Date = Date.init
    }

    /// An ephemeral key's expiry, in the heap of expiries. A key set again leaves its old
    /// expiry in the heap, which `expiries` no longer matches: it is skipped when it comes up.
    private struct Expiry: Comparable {
        let instant: ContinuousClock.Instant
        let key: String
        static func < (a: Self, b: Self) -> Bool { a.instant < b.instant }
    }

    let settings: Settings
    private(set) var map: [String: CloneEntry] = [:]
    private(set) var sequence: UInt64 = 0
    /// Alone or active: applies updates, publishes, expires keys.
    private(set) var serving: Bool
    private(set) var pending: Deque<CloneEntry> = []
    /// The UUIDs in `pending`, so a client sending an update again does not hold it twice.
    private var pendingIDs: Set<[UInt8]> = []
    private(set) var drops = 0
    private var expiries: [String: ContinuousClock.Instant] = [:]
    private var expiryQueue = Heap<Expiry>()
    private var seen: RecentSet<[UInt8]>
    /// HUGZ go out every heartbeat, busy or not, active or passive: a client following a quiet
    /// subtree hears nothing else, and a client failing over to the passive server waits for
    /// its first message before asking it for the snapshot that makes it take over.
    private var nextHeartbeat: ContinuousClock.Instant?
    /// Passive: following the active server.
    private(set) var passive = false
    /// Taking the active server's snapshot: the entries so far, whether ICANHAZ? has gone (it
    /// waits for a first message from the active one's publisher, which shows the subscription
    /// in place), and when to start again unless more arrives.
    private var synchronizing: (entries: [String: CloneEntry], asked: Bool, deadline: ContinuousClock.Instant)?
    /// The snapshots being sent to clients.
    private(set) var snapshots: CloneSnapshots

    init(_ settings: Settings, serving: Bool = true) {
        self.settings = settings
        self.serving = serving
        seen = RecentSet(limit: settings.rememberedUpdates)
        snapshots = CloneSnapshots(on: Self.snapshot, limit: settings.concurrentSnapshots, timeout: settings.snapshotTimeout)
    }

    var nextDeadline: ContinuousClock.Instant? {
        [synchronizing?.deadline, nextHeartbeat, serving ? expiryQueue.min?.instant : nil, snapshots.nextDeadline].compactMap { $0 }.min()
    }

    /// The map as a snapshot takes it.
    private var snapshotSource: CloneSnapshots.Source { (map, expiries, sequence) }

    /// While taking the active server's snapshot, its updates wait in their queue.
    func reads(_ socket: SocketName) -> Bool {
        socket != Self.peerUpdates || !(synchronizing?.asked ?? false)
    }

    mutating func start(now: ContinuousClock.Instant) -> [Action] {
        if let (entries, sequence) = settings.stored {
            let wallNow = settings.wallClock()
            for (entry, expires) in entries {
                // An ephemeral key that expired while the server was down goes at the first tick.
                let left = expires.map { Duration.milliseconds(Int64(max(0, $0.timeIntervalSince(wallNow)) * 1000)) }
                keep(entry, expiry: left.map { now + $0 })
                // A client's update sent again after the restart is still applied once.
                if !entry.uuid.isEmpty { seen.insert(entry.uuid) }
            }
            self.sequence = sequence
        }
        let endpoints = settings.endpoints
        var actions: [Action] = [
            // A full client queue refuses the send (`routerMandatory`) rather than drop an entry:
            // the snapshot waits and goes on from there, with no gap.
            .open(Self.snapshot, SocketPlan(.router, bind: [endpoints.snapshot], options: settings.options
                + [.sendHighWaterMark(settings.snapshotHighWaterMark), .routerMandatory(true)])),
            .open(Self.publisher, SocketPlan(.pub, bind: [endpoints.publisher], options: settings.options
                + [.sendHighWaterMark(settings.publisherHighWaterMark)])),
            .open(Self.collector, SocketPlan(.sub, bind: [endpoints.collector], options: settings.options, subscriptions: [""])),
        ]
        if let peer = settings.peer {
            var updates = SocketPlan(.sub, connect: [peer.publisher], options: settings.options, subscriptions: [""])
            updates.reportsDisconnects = true
            actions.append(.open(Self.peerUpdates, updates))
        }
        nextHeartbeat = now + settings.heartbeat
        return actions
    }

    mutating func received(_ message: Message, on socket: SocketName, now: ContinuousClock.Instant) -> [Action] {
        if socket == Self.snapshot {
            guard message.count > 1 else { return drop("a message with no routing id") }
            let client = message[0]
            switch CloneProtocol.parse(Message(Array(message.frames.dropFirst()))) {
            case .success(.snapshotRequest(let subtree)): return snapshots.requested(by: client, subtree: subtree, from: snapshotSource, now: now)
            case .success: return drop(CloneProtocolError.unexpected("anything but ICANHAZ? on the snapshot port").description)
            case .failure(let error): return drop(error.description)
            }
        }
        let command: CloneCommand
        switch CloneProtocol.parse(message) {
        case .success(let parsed): command = parsed
        case .failure(let error): return drop(error.description)
        }
        if socket == Self.peerUpdates, synchronizing?.asked == false {
            // The subscription is in place: what the active one publishes from now on arrives
            // here, and what it published before is in its snapshot.
            self.synchronizing = ([:], true, now + synchronizationTimeout)
            return [.send(CloneProtocol.snapshotRequest(subtree: ""), on: Self.peerSnapshot)]
        }
        switch (socket, command) {
        case (Self.collector, .entry(let entry)):
            return serving ? apply(entry, now: now) : hold(entry)
        case (Self.peerUpdates, .heartbeat):
            return []
        case (Self.peerUpdates, .entry(let entry)):
            return follow(entry, now: now)
        case (Self.peerSnapshot, .entry(let entry)):
            let deadline = now + synchronizationTimeout
            synchronizing?.entries[entry.key] = entry
            synchronizing?.deadline = deadline
            return []
        case (Self.peerSnapshot, .snapshotEnd(let sequence, _)):
            return synchronized(sequence: sequence, now: now)
        default:
            return drop(CloneProtocolError.unexpected("\(command) on the \(socket) socket").description)
        }
    }

    /// A client's queue was full, or the client gone, for a message of its snapshot.
    mutating func sendFailed(_ message: Message, on socket: SocketName, error: ZMQError, now: ContinuousClock.Instant) -> [Action] {
        guard socket == Self.snapshot else { return [] }
        return snapshots.refused(message, error: error, from: snapshotSource, now: now)
    }

    mutating func tick(now: ContinuousClock.Instant) -> [Action] {
        var actions: [Action] = []
        if let due = snapshots.nextDeadline, now >= due {
            actions += snapshots.tick(from: snapshotSource, now: now)
        }
        if let deadline = synchronizing?.deadline, now >= deadline {
            actions += askForSnapshot(now: now)
        }
        if let heartbeat = nextHeartbeat, now >= heartbeat {
            actions.append(.send(CloneProtocol.heartbeat, on: Self.publisher))
            nextHeartbeat = now + settings.heartbeat
        }
        guard serving else { return actions }
        while let due = expiryQueue.min, due.instant <= now {
            expiryQueue.removeMin()
            guard expiries[due.key] == due.instant else { continue }
            actions += publish(CloneEntry(key: due.key, value: Frame()), now: now, as: .keyExpired)
        }
        return actions
    }

    /// The Binary Star pair this server is half of changed state.
    mutating func pairState(_ state: BinaryStarState, now: ContinuousClock.Instant) -> [Action] {
        switch state {
        case .active:
            guard !serving else { return [] }
            serving = true
            passive = false
            var actions: [Action] = synchronizing == nil ? [] : [.close(Self.peerSnapshot)]
            synchronizing = nil
            // Expiries were not kept in the heap while passive (the active one deleted them).
            expiryQueue = Heap(expiries.map { Expiry(instant: $0.value, key: $0.key) })
            pendingIDs = []
            while let update = pending.popFirst() { actions += apply(update, now: now) }
            return actions
        case .passive:
            serving = false
            passive = true
            return askForSnapshot(now: now)
        default:
            return []
        }
    }

    // MARK: Serving

    /// A client's update, applied with the next sequence number and published.
    private mutating func apply(_ update: CloneEntry, now: ContinuousClock.Instant) -> [Action] {
        guard !CloneProtocol.isReserved(update.key) else { return drop(CloneProtocolError.unexpected("key \(update.key)").description) }
        if !update.uuid.isEmpty {
            guard seen.insert(update.uuid) else { return [.report(CloneServerEvent(.duplicateIgnored, key: update.key, sequence: sequence))] }
        }
        return publish(update, now: now, as: .updatePublished)
    }

    private mutating func publish(_ update: CloneEntry, now: ContinuousClock.Instant, as kind: CloneServerEvent.Kind) -> [Action] {
        sequence += 1
        var update = update
        update.sequence = sequence
        return store(update, now: now) + [.send(update.message, on: Self.publisher, report: CloneServerEvent(kind, key: update.key, sequence: sequence))]
    }

    /// Applies `entry` to the map, and writes it to the store if there is one: the write the
    /// runner waits for before what follows it (nothing is published that is not stored).
    private mutating func store(_ entry: CloneEntry, now: ContinuousClock.Instant) -> [Action] {
        keep(entry, expiry: entry.timeToLive.map { now + $0 })
        guard let store = settings.store else { return [] }
        let (expires, sequence) = (entry.timeToLive.map { settings.wallClock() + seconds($0) }, sequence)
        return [Self.write("store \(entry.key) at \(sequence)") { try await store.record(entry, expires: expires, sequence: sequence) }]
    }

    /// A write to the store; one that fails ends the run, saying so.
    private static func write(_ what: String, _ body: @escaping @Sendable () async throws -> Void) -> Action {
        .perform(PatternWork(what) {
            do {
                try await body()
            } catch {
                throw ZMQError(code: .invalidFile, message: "the Clone store could not be written: \(error)")
            }
        })
    }

    private mutating func keep(_ entry: CloneEntry, expiry: ContinuousClock.Instant?) {
        if entry.deletes {
            map[entry.key] = nil
            expiries[entry.key] = nil
            return
        }
        map[entry.key] = entry
        expiries[entry.key] = expiry
        guard serving, let expiry else { return }
        expiryQueue.insert(Expiry(instant: expiry, key: entry.key))
        // A key set again leaves its old expiry behind; keep those from piling up.
        if expiryQueue.count > 2 * expiries.count + 1024 {
            expiryQueue = Heap(expiries.map { Expiry(instant: $0.value, key: $0.key) })
        }
    }

    // MARK: Passive

    /// A client's update while passive: kept until the active server is seen to publish it.
    /// One without a UUID cannot be matched with its publication, so it is not kept (it would
    /// be applied a second time on taking over, after newer values): only the active server
    /// applies it.
    private mutating func hold(_ update: CloneEntry) -> [Action] {
        guard !CloneProtocol.isReserved(update.key) else { return drop(CloneProtocolError.unexpected("key \(update.key)").description) }
        guard !update.uuid.isEmpty, !seen.contains(update.uuid), pendingIDs.insert(update.uuid).inserted else { return [] }
        var actions: [Action] = []
        if pending.count >= settings.pendingLimit {
            let oldest = pending.removeFirst()
            pendingIDs.remove(oldest.uuid)
            actions += drop("the pending list is full (\(settings.pendingLimit)); the oldest update, to \(oldest.key), is forgotten")
        }
        pending.append(update)
        return actions + [.report(CloneServerEvent(.updateHeld, key: update.key, sequence: sequence))]
    }

    /// An update the active server published. Until this server is passive (it has the active
    /// one's snapshot then), there is nothing to follow.
    private mutating func follow(_ update: CloneEntry, now: ContinuousClock.Instant) -> [Action] {
        guard passive else { return [] }
        if !update.uuid.isEmpty {
            seen.insert(update.uuid)
            if pendingIDs.remove(update.uuid) != nil { pending.removeAll { $0.uuid == update.uuid } }
        }
        guard update.sequence > sequence else { return [] }
        guard update.sequence == sequence + 1 else {
            let missed = CloneServerEvent(.updatesMissed, sequence: sequence, reason: "update \(update.sequence) after \(sequence)")
            return [.report(missed)] + askForSnapshot(now: now)
        }
        sequence = update.sequence
        return store(update, now: now)
    }

    /// The connection to the active server's publisher dropped: what it published meanwhile
    /// is lost to this server, so it takes the snapshot again.
    mutating func disconnected(_ socket: SocketName, now: ContinuousClock.Instant) -> [Action] {
        guard socket == Self.peerUpdates, passive else { return [] }
        let missed = CloneServerEvent(.updatesMissed, sequence: sequence, reason: "the connection to the active server's publisher dropped")
        return [.report(missed)] + askForSnapshot(now: now)
    }

    /// How long a snapshot may go quiet before it is asked for again.
    private var synchronizationTimeout: Duration { settings.heartbeat * 4 }

    /// A fresh DEALER to the active server; ICANHAZ? goes once its publisher is heard.
    private mutating func askForSnapshot(now: ContinuousClock.Instant) -> [Action] {
        guard let peer = settings.peer else { return [] }
        synchronizing = ([:], false, now + synchronizationTimeout)
        return [.open(Self.peerSnapshot, SocketPlan(.dealer, connect: [peer.snapshot], options: settings.options))]
    }

    private mutating func synchronized(sequence: UInt64, now: ContinuousClock.Instant) -> [Action] {
        guard let entries = synchronizing?.entries else { return [] }
        synchronizing = nil
        map = [:]
        expiries = [:]
        expiryQueue = Heap()
        for entry in entries.values {
            keep(entry, expiry: entry.timeToLive.map { now + $0 })
            // Published by the active one: a client's copy here is not to be applied again.
            if !entry.uuid.isEmpty, seen.insert(entry.uuid), pendingIDs.remove(entry.uuid) != nil {
                pending.removeAll { $0.uuid == entry.uuid }
            }
        }
        self.sequence = sequence
        var actions: [Action] = []
        if let store = settings.store {
            let wallNow = settings.wallClock()
            let stored = entries.values.map { ($0, $0.timeToLive.map { wallNow + seconds($0) }) }
            actions.append(Self.write("store the active server's snapshot at \(sequence)") { try await store.replace(with: stored, sequence: sequence) })
        }
        return actions + [.close(Self.peerSnapshot), .report(CloneServerEvent(.synchronized, sequence: sequence))]
    }

    private mutating func drop(_ reason: String) -> [Action] {
        drops += 1
        return [.report(CloneServerEvent(.messageDropped, sequence: sequence, reason: reason, dropped: drops))]
    }
}

/// The last `limit` values inserted, for "seen this before?".
struct RecentSet<Value: Hashable> {
    let limit: Int
    private var members: Set<Value> = []
    private var order: Deque<Value> = []

    init(limit: Int) { self.limit = limit }

    func contains(_ value: Value) -> Bool { members.contains(value) }

    /// False when `value` is a member already.
    @discardableResult
    mutating func insert(_ value: Value) -> Bool {
        guard members.insert(value).inserted else { return false }
        order.append(value)
        if order.count > limit { members.remove(order.removeFirst()) }
        return true
    }
}

/// A duration in seconds, for `Date` arithmetic.
func seconds(_ duration: Duration) -> TimeInterval {
    Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
}
