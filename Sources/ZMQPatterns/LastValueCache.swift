import ZMQ

/// What a last value cache (`LastValueCache`) did.
public struct LastValueCacheEvent: ComponentEvent, Hashable {
    public typealias Kind = EventKind<LastValueCacheEvent>

    public let kind: Kind
    /// The topic concerned (for `subscribed`, the subscriber's prefix).
    public let topic: [UInt8]
    /// For `subscribed`: how many cached messages went out for it.
    public let count: Int?

    public init(_ kind: Kind, topic: [UInt8], count: Int? = nil) {
        self.kind = kind
        self.topic = topic
        self.count = count
    }

    public var description: String {
        describe(kind, ("topic", String(validating: topic, as: UTF8.self) ?? hex(topic)), ("count", count.map(String.init)))
    }
}

extension EventKind where Event == LastValueCacheEvent {
    /// A subscriber subscribed: the cached messages under its prefix (`count` of them) were
    /// sent to the backend first.
    public static var subscribed: Self { Self("subscribed") }
    /// The cache holds `maxTopics` topics: a message on a new topic was forwarded, not kept.
    public static var cacheFull: Self { Self("cacheFull") }
}

/// The Guide's last value cache (chapter 5, `lvcache`): a proxy between a publisher and its
/// subscribers that keeps the last message of each topic (its first frame), and gives a new
/// subscriber the last message of every topic under its prefix at once, before any later
/// update, so that a subscriber joining late does not wait for the next update to know the
/// state.
///
///     let cache = LastValueCache(frontend: "tcp://publisher:5557", backend: "tcp://*:5558")
///     try await cache.run(in: context)   // until the task is cancelled
///
/// The frontend is a SUB that connects to the publisher and takes everything; the backend is
/// an XPUB (verbose, so a second subscriber to a topic is heard too) that subscribers connect
/// to. The cached messages go out on the XPUB, so every subscriber of the topic gets them
/// again, as with the Guide's; a subscriber that must not see a value twice keeps the last it
/// saw. They go out at once, so the backend's send high-water mark (`backendHighWaterMark`,
/// 100,000) bounds how many a subscription to a broad prefix gets: the XPUB drops the rest for
/// that subscriber, as it drops for any subscriber that falls that far behind.
public struct LastValueCache: Sendable {
    /// The publisher(s) to connect the SUB to.
    public var frontend: [String]
    /// Where subscribers connect (the XPUB binds here).
    public var backend: [String]
    public var frontendOptions: [SocketOption] = []
    public var backendOptions: [SocketOption] = []
    /// The most topics kept; a message on a topic beyond is forwarded and not kept.
    public var maxTopics = 1_000_000
    /// How many messages wait for one subscriber before the XPUB drops for it.
    public var backendHighWaterMark = 100_000
    public var onEvent: EventHandler<LastValueCacheEvent> = { _ in }

    public init(frontend: String, backend: String) {
        self.frontend = [frontend]
        self.backend = [backend]
    }

    /// Runs until the task is cancelled, then returns. Throws if an endpoint cannot be bound
    /// or connected.
    public func run(in context: ZMQContext) async throws {
        try Settings.atLeastOne(maxTopics, "maxTopics")
        let machine = LastValueCacheMachine(
            frontend: SocketPlan(.sub, connect: frontend, options: frontendOptions, subscriptions: [""]),
            backend: SocketPlan(.xpub, bind: backend, options: [.sendHighWaterMark(backendHighWaterMark)] + backendOptions + [.xpubVerbose(true)]),
            maxTopics: maxTopics)
        try await PatternRunner(machine, in: context, onEvent: onEvent).run()
    }
}

/// The last value cache's rules: forward every message, keep the last per topic, answer a
/// subscription with what is kept under its prefix.
struct LastValueCacheMachine: PatternMachine {
    typealias Event = LastValueCacheEvent
    typealias Action = PatternAction<Event>

    static let frontend: SocketName = "frontend"
    static let backend: SocketName = "backend"

    let frontendPlan: SocketPlan
    let backendPlan: SocketPlan
    let maxTopics: Int
    private(set) var cache: [[UInt8]: Message] = [:]

    init(frontend: SocketPlan, backend: SocketPlan, maxTopics: Int) {
        frontendPlan = frontend
        backendPlan = backend
        self.maxTopics = maxTopics
    }

    var nextDeadline: ContinuousClock.Instant? { nil }

    mutating func start(now: ContinuousClock.Instant) -> [Action] {
        [.open(Self.backend, backendPlan), .open(Self.frontend, frontendPlan)]
    }

    mutating func received(_ message: Message, on socket: SocketName, now: ContinuousClock.Instant) -> [Action] {
        if socket == Self.frontend {
            guard let topic = message.first?.bytes else { return [] }
            var actions: [Action] = []
            if cache[topic] != nil || cache.count < maxTopics {
                cache[topic] = message
            } else {
                actions.append(.report(LastValueCacheEvent(.cacheFull, topic: topic)))
            }
            return actions + [.send(message, on: Self.backend)]
        }
        // On the XPUB: 1 and the prefix for a subscription, 0 for its end.
        guard message.count == 1, let frame = message.first, frame.bytes.first == 1 else { return [] }
        let prefix = Array(frame.bytes.dropFirst())
        let kept = cache.keys.filter { $0.starts(with: prefix) }.sorted { $0.lexicographicallyPrecedes($1) }
        return kept.map { .send(cache[$0]!, on: Self.backend) } + [.report(LastValueCacheEvent(.subscribed, topic: prefix, count: kept.count))]
    }

    func tick(now: ContinuousClock.Instant) -> [Action] { [] }
}
