import CoreMetrics
import DequeModule
import Foundation
import ZMQ

/// What a disk spool (`DiskSpool`) did.
public struct DiskSpoolEvent: ComponentEvent, Hashable {
    public typealias Kind = EventKind<DiskSpoolEvent>

    public let kind: Kind
    /// The messages and octets in the store after the event.
    public let messages: Int
    public let octets: Int
    /// For `dropped`: how many, and why.
    public let count: Int?
    public let reason: String?

    public init(_ kind: Kind, messages: Int, octets: Int, count: Int? = nil, reason: String? = nil) {
        self.kind = kind
        self.messages = messages
        self.octets = octets
        self.count = count
        self.reason = reason
    }

    public var description: String {
        describe(kind, ("messages", String(messages)), ("octets", String(octets)), ("count", count.map(String.init)), ("reason", reason))
    }
}

extension EventKind where Event == DiskSpoolEvent {
    /// The output could not take a message: from now on messages go to disk first.
    public static var spillStarted: Self { Self("spillStarted") }
    /// Everything on disk has been handed to the output: messages go straight through again.
    public static var spillStopped: Self { Self("spillStopped") }
    /// The store is at its maximum and the policy is to block: the input is not read.
    public static var inputBlocked: Self { Self("inputBlocked") }
    /// The store has room again: the input is read again.
    public static var inputResumed: Self { Self("inputResumed") }
    /// Messages were dropped at the store's maximum (`dropNewest`, `dropOldest`).
    public static var dropped: Self { Self("dropped") }
    /// The store could not take more (its disk is full): the input is not read, and the batch
    /// in hand is kept, until a write succeeds (`inputResumed`).
    public static var storeFull: Self { Self("storeFull") }
}

extension ZMQError.Code {
    /// A store could not write: its disk (or its database server's) is full.
    public static let storeFull = ZMQError.Code("storeFull")
}

/// Overflow to disk, as a device on top of the sockets (where libzmq's authors said it belongs
/// when they removed libzmq's swap): messages from an input socket go to an output socket while
/// the output has room, and when it has none (its peers' queues are full, or it has no peer) to
/// a store on disk, from which they are fed out again, oldest first, as room returns.
///
///     let spool = DiskSpool(input: SocketPlan(.pull, bind: ["tcp://*:5557"]),
///                           output: SocketPlan(.push, connect: ["tcp://consumer:5558"]),
///                           store: try SQLiteSpoolStore(path: "spool.sqlite"))
///     try await spool.run(in: context)   // until the task is cancelled
///
/// Order is kept end to end: while anything waits on disk, new messages go behind it. A
/// message goes to disk in a batch of at most `batch` (one commit for the lot), and leaves the
/// disk in a batch of at most `batch` just before it is handed to the output. The output hands
/// messages only to connected peers (`immediate`) and queues at most `outputHighWaterMark`
/// (100) of them, so what a kill of the spool can lose is what the output had queued and the
/// batch in hand: at most `outputHighWaterMark + batch` messages. Nothing is sent twice, and
/// what is on disk is there after a restart.
///
/// At `maxMessages` or `maxOctets` on disk, `whenFull` decides: `.block` stops reading the
/// input (its senders then wait at their high-water marks), `.dropNewest` drops what arrives,
/// `.dropOldest` drops the oldest on disk; drops are reported (`dropped`) with their count. The
/// backlog is reported as the gauges `zmq_spool_messages` and `zmq_spool_octets` (with the
/// `name` dimension), and spilling starting and stopping as events.
///
/// A store whose disk is full (`storeFull`) loses nothing: the batch it refused is kept in
/// memory, the input is not read, and the write is tried again each time messages leave the
/// disk (or after a second); the output goes on draining meanwhile.
public struct DiskSpool: Sendable {
    public enum WhenFull: Sendable, Hashable {
        case block, dropNewest, dropOldest
    }

    public var input: SocketPlan
    public var output: SocketPlan
    public var store: any SpoolStore
    public var maxMessages = 10_000_000
    public var maxOctets = 10 << 30
    public var whenFull = WhenFull.block
    public var outputHighWaterMark = 100
    /// Messages per commit, each way.
    public var batch = 32
    /// The `name` dimension of the gauges.
    public var name = "spool"
    /// Where the gauges go; nil for the process's `MetricsSystem`.
    public var metrics: (any MetricsFactory)?
    public var onEvent: EventHandler<DiskSpoolEvent> = { _ in }

    public init(input: SocketPlan, output: SocketPlan, store: any SpoolStore) {
        self.input = input
        self.output = output
        self.store = store
    }

    /// Runs until the task is cancelled, then returns. Throws if a socket cannot be opened, a
    /// setting cannot work, or the store cannot be read or written (`invalidFile`): nothing is
    /// taken from the input that could not be stored.
    public func run(in context: ZMQContext) async throws {
        for (value, name) in [(maxMessages, "maxMessages"), (maxOctets, "maxOctets"), (outputHighWaterMark, "outputHighWaterMark"), (batch, "batch")] {
            try Settings.atLeastOne(value, name)
        }
        let inputSocket = try await input.open(in: context)
        defer { inputSocket.close() }
        let outputSocket = try await output.open(in: context, adding: [.sendHighWaterMark(outputHighWaterMark), .immediate(true)])
        defer { outputSocket.close() }
        var loop = SpoolLoop(spool: self, input: inputSocket, output: outputSocket, backlog: try await stored { try await store.backlog() })
        try await withTaskExecutorPreference(inputSocket.ioExecutor) {
            try await loop.run()
        }
    }
}

/// Runs `body` on the store, making any failure an `invalidFile` that says so.
private func stored<T>(_ body: () async throws -> T) async throws -> T {
    do {
        return try await body()
    } catch let error as ZMQError {
        throw error
    } catch {
        throw ZMQError(code: .invalidFile, message: "the spool's store failed: \(error)")
    }
}

/// The spool's one loop: hand out what waits (the batch in hand, then the disk), then take
/// input, straight through while nothing waits, to disk otherwise; wait on a poller when
/// neither can move.
private struct SpoolLoop {
    let spool: DiskSpool
    let input: ZMQSocket
    let output: ZMQSocket
    var backlog: SpoolBacklog
    /// Taken off the disk, not yet handed to the output.
    var inHand: Deque<Message> = []
    var spilling = false
    var blocked = false
    let messagesGauge: Gauge
    let octetsGauge: Gauge

    init(spool: DiskSpool, input: ZMQSocket, output: ZMQSocket, backlog: SpoolBacklog) {
        self.spool = spool
        self.input = input
        self.output = output
        self.backlog = backlog
        let factory = spool.metrics ?? MetricsSystem.factory
        messagesGauge = Gauge(label: "zmq_spool_messages", dimensions: [("name", spool.name)], factory: factory)
        octetsGauge = Gauge(label: "zmq_spool_octets", dimensions: [("name", spool.name)], factory: factory)
    }

    /// Taken from the input, refused by a full store: they go after what is on disk, to the
    /// store when it has room again or straight to the output once the disk is empty.
    var unwritten: Deque<Message> = []
    /// When to try writing `unwritten` again, if nothing leaves the disk before.
    var retryWriteAt: ContinuousClock.Instant?
    static let retryWriteInterval = Duration.seconds(1)

    var waiting: Bool { !inHand.isEmpty || backlog.messages > 0 || !unwritten.isEmpty }
    var full: Bool { backlog.messages >= spool.maxMessages || backlog.octets >= spool.maxOctets }

    mutating func run() async throws {
        if waiting { report(.spillStarted) }
        spilling = waiting
        while !Task.isCancelled {
            let handed = try await handOut()
            if !unwritten.isEmpty, handed || retryWriteAt.map({ $0 <= .now }) == true {
                try await writeUnwritten()
            }
            let taken = try await takeInput()
            publishGauges()
            if handed || taken { continue }
            var poller = ZMQPoller()
            if !blocked, unwritten.isEmpty { poller.register(input, for: .readable) }
            if waiting { poller.register(output, for: .writable) }
            do {
                _ = try await poller.poll(timeout: retryWriteAt.map { max(.zero, $0 - .now) })
            } catch ZMQError.cancelled {
                return
            }
        }
    }

    /// Hands what waits to the output while it takes it; whether anything went.
    private mutating func handOut() async throws -> Bool {
        var handed = false
        while true {
            if inHand.isEmpty {
                // Off the disk only when the output can take some: what is in hand is what a
                // kill loses.
                if backlog.messages == 0, !unwritten.isEmpty {
                    // The disk is empty: what it could not take goes straight out, in order.
                    guard let next = unwritten.first, try hand(next) else { break }
                    unwritten.removeFirst()
                    handed = true
                    if unwritten.isEmpty { storeHasRoom() }
                    continue
                }
                guard backlog.messages > 0, try await outputHasRoom() else { break }
                let taken = try await stored { try await spool.store.takeOldest(spool.batch) }
                if taken.isEmpty {
                    backlog = try await stored { try await spool.store.backlog() }
                    break
                }
                backlog.messages -= taken.count
                backlog.octets -= taken.reduce(0) { $0 + $1.byteCount }
                inHand = Deque(taken)
            }
            guard let next = inHand.first, try hand(next) else { break }
            inHand.removeFirst()
            handed = true
        }
        if spilling, !waiting {
            spilling = false
            backlog = try await stored { try await spool.store.backlog() }
            report(.spillStopped)
        }
        if blocked, !full {
            blocked = false
            report(.inputResumed)
        }
        return handed
    }

    /// Takes up to a batch from the input; whether anything came.
    private mutating func takeInput() async throws -> Bool {
        guard !blocked, unwritten.isEmpty else { return false }
        var toDisk: [Message] = []
        var taken = 0
        while taken < spool.batch, let message = try? input.tryReceive() {
            taken += 1
            if !waiting, toDisk.isEmpty, try hand(message) { continue }
            toDisk.append(message)
        }
        guard !toDisk.isEmpty else { return taken > 0 }
        try await store(toDisk)
        return true
    }

    private mutating func store(_ messages: [Message]) async throws {
        var messages = messages
        let octets = messages.reduce(0) { $0 + $1.byteCount }
        if backlog.messages + messages.count > spool.maxMessages || backlog.octets + octets > spool.maxOctets {
            switch spool.whenFull {
            case .block:
                // These are taken already: they go on disk past the maximum, and the input waits.
                break
            case .dropNewest:
                // As many of the first as fit under both maxima.
                var (count, octets) = (backlog.messages, backlog.octets)
                let room = messages.prefix { message in
                    count += 1
                    octets += message.byteCount
                    return count <= spool.maxMessages && octets <= spool.maxOctets
                }.count
                let dropped = messages.count - room
                if dropped > 0 {
                    messages.removeLast(dropped)
                    report(.dropped, count: dropped, reason: "the store holds its maximum; the newest messages are dropped")
                }
            case .dropOldest:
                // The oldest on disk first, then, if that is not enough, the oldest arriving.
                var gone = 0
                func over(_ arriving: [Message]) -> Bool {
                    backlog.messages + arriving.count > spool.maxMessages
                        || backlog.octets + arriving.reduce(0) { $0 + $1.byteCount } > spool.maxOctets
                }
                while over(messages), backlog.messages > 0 {
                    let excess = max(1, backlog.messages + messages.count - spool.maxMessages)
                    let taken = try await stored { try await spool.store.takeOldest(min(excess, backlog.messages)) }
                    if taken.isEmpty { break }
                    backlog.messages -= taken.count
                    backlog.octets -= taken.reduce(0) { $0 + $1.byteCount }
                    gone += taken.count
                }
                while over(messages), !messages.isEmpty {
                    messages.removeFirst()
                    gone += 1
                }
                if gone > 0 {
                    report(.dropped, count: gone, reason: "the store holds its maximum; the oldest messages are dropped")
                }
            }
        }
        guard !messages.isEmpty else { return }
        do {
            try await stored { try await spool.store.append(messages) }
        } catch let error as ZMQError where error.code == .storeFull {
            // Taken from the input already: kept, and the input waits, until the store has room.
            unwritten = Deque(messages)
            retryWriteAt = .now + Self.retryWriteInterval
            if !spilling {
                spilling = true
                report(.spillStarted)
            }
            report(.storeFull, reason: error.message)
            return
        }
        backlog.messages += messages.count
        backlog.octets += messages.reduce(0) { $0 + $1.byteCount }
        if !spilling {
            spilling = true
            report(.spillStarted)
        }
        if spool.whenFull == .block, full, !blocked {
            blocked = true
            report(.inputBlocked)
        }
    }

    /// Tries again to store what a full store refused.
    private mutating func writeUnwritten() async throws {
        do {
            try await stored { try await spool.store.append(Array(unwritten)) }
        } catch let error as ZMQError where error.code == .storeFull {
            retryWriteAt = .now + Self.retryWriteInterval
            return
        }
        backlog.messages += unwritten.count
        backlog.octets += unwritten.reduce(0) { $0 + $1.byteCount }
        unwritten = []
        storeHasRoom()
    }

    private mutating func storeHasRoom() {
        retryWriteAt = nil
        if !blocked { report(.inputResumed) }
    }

    private func outputHasRoom() async throws -> Bool {
        var poller = ZMQPoller()
        poller.register(output, for: .writable)
        return try await !poller.poll(timeout: .zero).isEmpty
    }

    /// Whether the output took `message` now.
    private func hand(_ message: Message) throws -> Bool {
        do {
            try output.trySend(message)
            return true
        } catch ZMQError.wouldBlock {
            return false
        }
    }

    private func report(_ kind: DiskSpoolEvent.Kind, count: Int? = nil, reason: String? = nil) {
        spool.onEvent(DiskSpoolEvent(kind, messages: backlog.messages + inHand.count + unwritten.count, octets: backlog.octets, count: count, reason: reason))
    }

    private func publishGauges() {
        messagesGauge.record(backlog.messages + inHand.count)
        octetsGauge.record(backlog.octets)
    }
}
