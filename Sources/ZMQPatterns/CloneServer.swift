import Foundation
import ZMQ

/// A Clone server (12/CHP; the Guide, chapter 5): it holds a map of keys to values that every
/// client shares. Clients take a snapshot of the keys under a subtree, then follow the updates
/// the server publishes; any client may set or delete a key, which the server applies with the
/// next sequence number and publishes to all.
///
///     var server = CloneServer(endpoints: try CloneEndpoints("tcp://*:5556"))   // 5556, 5557, 5558
///     server.onEvent = { print($0) }   // updatePublished key /config/mode sequence 1 …
///     try await server.run(in: context)   // until the task is cancelled
///
/// It speaks 12/CHP, so the Guide's clone clients and any other CHP client work with it. As the
/// Guide's server does, its KVSYNC entries carry their UUID and properties (the RFC shows those
/// frames empty; clients ignore them), with an ephemeral key's `ttl` rewritten to the seconds it
/// has left. A client update without a UUID is applied by the active server only: a passive one
/// cannot match it with its publication, so does not keep it.
/// With `pair` set it is one half of a Binary Star pair (the Guide's model 6): the active server
/// serves; the passive one takes the active one's snapshot, follows its publisher, and keeps
/// the updates clients send it until it sees them published, so that on taking over (when a
/// client asks it for a snapshot after the active one went silent) it loses none of them.
/// Clients (`CloneClient`) send each update to both servers.
///
/// With a `store` (`SQLiteCloneStore`, or `PostgresCloneStore` for a database server), each
/// change is on disk before it is published, and a server restarted on the same store serves
/// the same map with sequence numbers that go on from where they were.
///
/// A snapshot request, a client's update or the peer's message that is not 12/CHP is dropped
/// and reported (`messageDropped`, with the reason), and leaves the map as it was.
public struct CloneServer: Sendable {
    /// Where the snapshot ROUTER, the publisher PUB and the collector SUB bind.
    public var endpoints: CloneEndpoints
    /// HUGZ go out this often while there is nothing to publish; clients take a server silent
    /// for several of them for gone.
    public var heartbeat: Duration = .seconds(1)
    /// Options for every socket (CURVE, for instance).
    public var options: [SocketOption] = []
    /// Set to run as one half of a Binary Star pair; `peer` then says where the other half is.
    public var pair: BinaryStarPairing?
    /// The other server of a pair: its snapshot and publisher endpoints, as this one connects to
    /// them (its collector is not used).
    public var peer: CloneEndpoints?
    /// How many updates a subscriber's queue holds before the publisher drops for it.
    public var publisherHighWaterMark = 100_000
    /// How many messages of a snapshot wait in one client's queue. A snapshot larger than this
    /// goes out as the client reads it; a client that reads nothing costs the server this many.
    public var snapshotHighWaterMark = 10_000
    /// A snapshot whose client takes none of it for this long is dropped (`snapshotAbandoned`).
    public var snapshotTimeout: Duration = .seconds(10)
    /// The most client updates a passive server keeps while waiting to see them published.
    public var pendingLimit = 100_000
    /// Where to keep the map on disk (`cloneStore(at:)`: SQLite or PostgreSQL): loaded at start,
    /// and each change stored before it is published. Without one the map lives as long as the
    /// server. The two servers of a pair need a store each.
    public var store: (any CloneStore)?
    public var onEvent: EventHandler<CloneServerEvent> = { _ in }
    /// The pair's state changes, when `pair` is set.
    public var onPairEvent: EventHandler<BinaryStarEvent> = { _ in }

    public init(endpoints: CloneEndpoints) {
        self.endpoints = endpoints
    }

    /// Serves until the task is cancelled, then returns. Throws if an endpoint cannot be bound,
    /// if a setting cannot work, `invalidFile` if the store cannot be read or written, and in a pair with `splitBrain` when both servers are active or
    /// both passive.
    public func run(in context: ZMQContext) async throws {
        try Settings.positive(heartbeat, "heartbeat")
        try Settings.atLeastOne(pendingLimit, "pendingLimit")
        try Settings.atLeastOne(snapshotHighWaterMark, "snapshotHighWaterMark")
        try Settings.positive(snapshotTimeout, "snapshotTimeout")
        try Settings.positive(pair?.heartbeat, "pair.heartbeat")
        if pair != nil, peer == nil {
            throw ZMQError.invalidOption(name: "peer", reason: "a Clone server in a pair needs its peer's endpoints")
        }
        var stored: (entries: [(entry: CloneEntry, expires: Date?)], sequence: UInt64)?
        do {
            stored = try await store?.load()
        } catch {
            throw ZMQError(code: .invalidFile, message: "the Clone store could not be read: \(error)")
        }
        var settings = CloneServerMachine.Settings(endpoints: endpoints, options: options, heartbeat: heartbeat, peer: peer,
                                                   publisherHighWaterMark: publisherHighWaterMark, snapshotHighWaterMark: snapshotHighWaterMark,
                                                   snapshotTimeout: snapshotTimeout, pendingLimit: pendingLimit, store: store)
        settings.stored = stored
        let onEvent = onEvent
        guard let pair else {
            return try await PatternRunner(CloneServerMachine(settings), in: context, onEvent: onEvent).run()
        }
        let onPairEvent = onPairEvent
        let paired = BinaryStarPairMachine(
            CloneServerMachine(settings, serving: false), frontends: [CloneServerMachine.snapshot], pairing: pair,
            votes: { message, _ in
                // A snapshot request is the client vote (model 6): a client that lost the active
                // server asks this one for the map.
                guard case .success(.snapshotRequest) = CloneProtocol.parse(Message(Array(message.frames.dropFirst()))) else { return false }
                return true
            },
            entered: { machine, state, now in machine.pairState(state, now: now) })
        try await PatternRunner(paired, in: context, onEvent: { event in
            switch event {
            case .pair(let event): onPairEvent(event)
            case .inner(let event): onEvent(event)
            }
        }).run()
    }
}
