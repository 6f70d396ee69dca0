import ZMQ

/// What a Clone client (`CloneClient`) tells the application about its servers.
public struct CloneClientEvent: ComponentEvent, Hashable {
    public typealias Kind = EventKind<CloneClientEvent>

    public let kind: Kind
    /// The server concerned, by its snapshot endpoint.
    public let server: String?
    /// The client's sequence number after the event.
    public let sequence: UInt64?
    /// Why, for a dropped message or missed updates.
    public let reason: String?

    public init(_ kind: Kind, server: String? = nil, sequence: UInt64? = nil, reason: String? = nil) {
        self.kind = kind
        self.server = server
        self.sequence = sequence
        self.reason = reason
    }

    public var description: String {
        describe(kind, ("server", server), ("sequence", sequence.map(String.init)), ("reason", reason))
    }
}

extension EventKind where Event == CloneClientEvent {
    /// A snapshot arrived whole (KTHXBAI): the map is the server's, as of `sequence`.
    public static var snapshotReceived: Self { Self("snapshotReceived") }
    /// The server said nothing, not even HUGZ, for the server timeout, or did not answer a
    /// snapshot request in that time: the client turns to the next server.
    public static var serverLost: Self { Self("serverLost") }
    /// The client took its map from a server other than the one before.
    public static var failedOver: Self { Self("failedOver") }
    /// An update's sequence number skipped some (a subscriber queue overflowed at the server),
    /// or the connection to the publisher dropped: the client takes the map again.
    public static var updatesMissed: Self { Self("updatesMissed") }
    /// A message that is not 12/CHP, or not one expected here, was dropped; the map is as it was.
    public static var messageDropped: Self { Self("messageDropped") }
}

/// What the client machine hands the `CloneClient` around it.
enum CloneClientNews: Sendable {
    /// A whole snapshot: the map is now `entries`, as of `sequence`.
    case synchronized([String: CloneEntry], sequence: UInt64)
    /// A published update, newer than the map.
    case updated(CloneEntry)
    case event(CloneClientEvent)
}

/// The Clone client's rules (12/CHP; the Guide's clone agent, model 6): follow one server at a
/// time, take its snapshot, apply its updates in sequence, and on its silence turn to the next.
///
/// The subscription must be in place before the snapshot is asked for, or updates published in
/// between are lost to this client. Subscribing first is not enough on its own: the SUB's
/// subscription reaches the server some time after `subscribe` returns. So the client waits
/// for the first message on its subscriber (an update, or HUGZ, which servers send while idle)
/// and only then sends ICANHAZ?; the snapshot then holds everything up to some sequence, and the
/// subscriber everything after it.
struct CloneClientMachine: PatternMachine {
    typealias Event = CloneClientNews
    typealias Action = PatternAction<Event>

    static let snapshot: SocketName = "snapshot"
    static let subscriber: SocketName = "subscriber"
    /// Updates kept while a snapshot arrives; past it the subscriber drops, and with no subtree
    /// the gap in sequence numbers sends the client back for a fresh snapshot.
    static let queuedUpdates = 100_000

    enum Phase {
        /// Subscribed, waiting for a first message to show the subscription is in place.
        case joining(deadline: ContinuousClock.Instant)
        /// Snapshot asked for; updates wait in the subscriber's queue.
        case synchronizing(entries: [String: CloneEntry], deadline: ContinuousClock.Instant)
        /// Applying updates newer than `sequence`; the server is lost at `expiry` unless heard.
        case following(sequence: UInt64, expiry: ContinuousClock.Instant)
    }

    let servers: [CloneEndpoints]
    let subtree: String
    let serverTimeout: Duration
    let options: [SocketOption]
    private(set) var server = 0
    private(set) var phase: Phase = .joining(deadline: .now)
    /// The server the map was last taken from.
    private var synchronizedWith: Int?
    private(set) var drops = 0

    init(servers: [CloneEndpoints], subtree: String, serverTimeout: Duration, options: [SocketOption]) {
        precondition(!servers.isEmpty, "a Clone client needs a server")
        self.servers = servers
        self.subtree = subtree
        self.serverTimeout = serverTimeout
        self.options = options
    }

    var nextDeadline: ContinuousClock.Instant? {
        switch phase {
        case .joining(let deadline), .synchronizing(_, let deadline): deadline
        case .following(_, let expiry): expiry
        }
    }

    func reads(_ socket: SocketName) -> Bool {
        if case .synchronizing = phase { return socket != Self.subscriber }
        return true
    }

    mutating func start(now: ContinuousClock.Instant) -> [Action] {
        join(now: now)
    }

    mutating func received(_ message: Message, on socket: SocketName, now: ContinuousClock.Instant) -> [Action] {
        switch (phase, socket) {
        case (.joining, Self.subscriber):
            // Published before the snapshot is taken, so in it.
            return askForSnapshot(now: now)
        case (.following(let sequence, _), Self.subscriber):
            phase = .following(sequence: sequence, expiry: now + serverTimeout)
            switch CloneProtocol.parse(message) {
            case .success(.heartbeat):
                return []
            case .success(.entry(let update)):
                // Subscribed to "HUGZ" too, which lets a key such as "HUGZY" through.
                guard update.sequence > sequence, update.key.hasPrefix(subtree) else { return [] }
                if subtree.isEmpty, update.sequence != sequence + 1 {
                    let reason = "update \(update.sequence) after \(sequence)"
                    return [.report(.event(CloneClientEvent(.updatesMissed, server: name, sequence: sequence, reason: reason)))]
                        + askForSnapshot(now: now)
                }
                phase = .following(sequence: update.sequence, expiry: now + serverTimeout)
                return [.report(.updated(update))]
            case .success(let command):
                return drop(CloneProtocolError.unexpected("\(command) from the publisher").description)
            case .failure(let error):
                return drop(error.description)
            }
        case (.synchronizing(var entries, _), Self.snapshot):
            switch CloneProtocol.parse(message) {
            case .success(.entry(let entry)):
                if !entry.deletes { entries[entry.key] = entry }
                // A large map takes a while: the server is lost only when the snapshot stalls.
                phase = .synchronizing(entries: entries, deadline: now + serverTimeout)
                return []
            case .success(.snapshotEnd(let sequence, _)):
                phase = .following(sequence: sequence, expiry: now + serverTimeout)
                let movedOn = synchronizedWith.map { $0 != server } ?? false
                synchronizedWith = server
                return [.report(.synchronized(entries, sequence: sequence)),
                        .report(.event(CloneClientEvent(.snapshotReceived, server: name, sequence: sequence)))]
                    + (movedOn ? [.report(.event(CloneClientEvent(.failedOver, server: name, sequence: sequence)))] : [])
            case .success(let command):
                return drop(CloneProtocolError.unexpected("\(command) in a snapshot").description)
            case .failure(let error):
                return drop(error.description)
            }
        default:
            // A snapshot's remains after the client gave up on it, or a message from the server
            // being left: nothing the map needs.
            return []
        }
    }

    /// The connection to the publisher dropped (the server restarted, or the network failed):
    /// what it published meanwhile is lost to this client, and a snapshot under way may be the
    /// old server's, so it takes the map again from the start.
    mutating func disconnected(_ socket: SocketName, now: ContinuousClock.Instant) -> [Action] {
        guard socket == Self.subscriber else { return [] }
        let missed = CloneClientEvent(.updatesMissed, server: name, reason: "the connection to the publisher dropped")
        return [.report(.event(missed))] + join(now: now)
    }

    mutating func tick(now: ContinuousClock.Instant) -> [Action] {
        guard let deadline = nextDeadline, now >= deadline else { return [] }
        let lost = CloneClientEvent(.serverLost, server: name, reason: "silent for \(serverTimeout)")
        server = (server + 1) % servers.count
        return [.report(.event(lost))] + join(now: now)
    }

    private var name: String { servers[server].snapshot }

    /// Fresh sockets to the current server (in place of any to the one before), subscribed to
    /// the subtree and to HUGZ.
    private mutating func join(now: ContinuousClock.Instant) -> [Action] {
        phase = .joining(deadline: now + serverTimeout)
        let topics = subtree.isEmpty ? [""] : [subtree, CloneProtocol.heartbeatName]
        var subscriber = SocketPlan(.sub, connect: [servers[server].publisher], options: options
                                    + [.receiveHighWaterMark(Self.queuedUpdates)], subscriptions: topics)
        subscriber.reportsDisconnects = true
        return [.open(Self.subscriber, subscriber),
                .open(Self.snapshot, SocketPlan(.dealer, connect: [servers[server].snapshot], options: options))]
    }

    private mutating func askForSnapshot(now: ContinuousClock.Instant) -> [Action] {
        phase = .synchronizing(entries: [:], deadline: now + serverTimeout)
        return [.send(CloneProtocol.snapshotRequest(subtree: subtree), on: Self.snapshot)]
    }

    private mutating func drop(_ reason: String) -> [Action] {
        drops += 1
        return [.report(.event(CloneClientEvent(.messageDropped, server: name, reason: reason)))]
    }
}
