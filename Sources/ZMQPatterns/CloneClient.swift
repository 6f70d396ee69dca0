import Foundation
import Synchronization
import ZMQ

/// A change to a Clone client's map: a key set to a new value, or deleted (`value` nil).
public struct CloneChange: Sendable, Hashable, CustomStringConvertible {
    public let key: String
    /// The new value; nil when the key was deleted.
    public let value: Frame?
    /// The map's sequence number with this change.
    public let sequence: UInt64
    /// For a change that came with a snapshot, which one: 1 for the client's first, more after
    /// each fail-over or resynchronization. Nil for a published update.
    public let snapshot: Int?

    public init(key: String, value: Frame?, sequence: UInt64, snapshot: Int? = nil) {
        self.key = key
        self.value = value
        self.sequence = sequence
        self.snapshot = snapshot
    }

    public var description: String { "\(key)=\(value.map { $0.string ?? "\($0.bytes)" } ?? "")" }
}

/// A Clone client (12/CHP; the Guide, chapter 5): a dictionary shared with every other client
/// of the same servers. It takes a snapshot of the keys under `subtree` from a server, then
/// applies the updates the server publishes; `set` changes a key for everyone.
///
///     let config = try await CloneClient(context, servers: [try CloneEndpoints("tcp://server:5556")])
///     try await config.waitUntilSynchronized()
///     print(config["/config/mode"]?.string ?? "unset")
///     try await config.set("/config/mode", "fast")            // once the server has published it
///     try await config.set("/session/42", "alive", ttl: .seconds(10))   // gone unless set again
///     for await change in config.changes() { print(change) }  // every client's changes
///
/// With two servers (a Binary Star pair of `CloneServer`s), the client follows one; when it
/// hears nothing from it, not even HUGZ, for `serverTimeout`, it asks the other for a fresh
/// snapshot (`serverLost`, `failedOver`), and `changes()` gives what differs between the old map
/// and the new one. Updates go to both servers, so the passive one has them if it takes over.
public final class CloneClient: Sendable {
    public let subtree: String
    private let publisher: ZMQSocket
    private let replica: CloneReplica
    private let agent: Task<Void, any Error>
    private let failure = AgentFailure()
    /// How long `set` waits for its update to come back before sending it again.
    private let resendInterval: Duration

    /// Starts following the first of `servers` (the primary of a pair, then the backup).
    /// A server is lost after `serverTimeout` of silence: give it several of the servers'
    /// heartbeats, and in a pair more than two of the pair's heartbeats, so that the passive
    /// server takes the client's snapshot request as its vote to take over.
    public init(_ context: ZMQContext, servers: [CloneEndpoints], subtree: String = "", serverTimeout: Duration = .seconds(5),
                options: [SocketOption] = []) async throws {
        guard !servers.isEmpty else { throw ZMQError.invalidOption(name: "servers", reason: "a Clone client needs a server") }
        try Settings.positive(serverTimeout, "serverTimeout")
        self.subtree = subtree
        resendInterval = min(serverTimeout / 4, .milliseconds(500))
        let replica = CloneReplica()
        self.replica = replica
        publisher = try context.socket(.pub, options: options + [.linger(.zero)])
        let machine = CloneClientMachine(servers: servers, subtree: subtree, serverTimeout: serverTimeout, options: options)
        let failure = failure
        agent = Task {
            do {
                try await PatternRunner(machine, in: context, onEvent: replica.take).run()
            } catch {
                failure.error.withLock { $0 = error }
                replica.stop()
                throw error
            }
        }
        do {
            for server in servers { try await publisher.connect(server.collector) }
        } catch {
            agent.cancel()
            publisher.close()
            throw error
        }
    }

    /// The value of `key`, nil if the map has no such key.
    public subscript(key: String) -> Frame? {
        replica.state.withLock { $0.entries[key]?.value }
    }

    /// The whole map, as of `sequence`.
    public var values: [String: Frame] {
        replica.state.withLock { $0.entries.mapValues(\.value) }
    }

    /// The whole map with each entry's properties and sequence number.
    public var entries: [String: CloneEntry] {
        replica.state.withLock { $0.entries }
    }

    /// How many messages from the servers were dropped as not 12/CHP (each also reported as a
    /// `messageDropped` event); none of them changed the map.
    public var droppedMessages: Int {
        replica.state.withLock { $0.dropped }
    }

    /// The sequence number of the last update applied (or of the snapshot).
    public var sequence: UInt64 {
        replica.state.withLock { $0.sequence }
    }

    /// Every change to the map from now on, each key set or deleted, in order. With
    /// `includingMap`, the map as it is now comes first, a change per key (with the number of
    /// the snapshot it came with), so nothing falls between reading the map and watching it.
    public func changes(includingMap: Bool = false) -> AsyncStream<CloneChange> {
        replica.watch(\.changeWatchers) { state in
            guard includingMap else { return [] }
            return state.entries.keys.sorted().map { key in
                CloneChange(key: key, value: state.entries[key]!.value, sequence: state.sequence, snapshot: state.snapshots)
            }
        }
    }

    /// What happens with the servers from now on: snapshots, servers lost, fail-overs, messages
    /// dropped.
    public func events() -> AsyncStream<CloneClientEvent> {
        replica.watch(\.eventWatchers) { _ in [] }
    }

    /// Returns once the map is a server's snapshot (at once if it is already). Throws if the
    /// client stopped first, or the task was cancelled.
    public func waitUntilSynchronized() async throws {
        guard await replica.synchronized() else {
            throw failure.error.withLock({ $0 }) ?? ZMQError.cancelled
        }
    }

    /// Sets `key` to `value` for every client (an empty value deletes it), and returns once a
    /// server has published the update: the map then holds it. With `ttl`, the server deletes
    /// the key after that long. The update is sent again every moment until it comes back (the
    /// servers apply it once: it carries a UUID). A key outside the client's subtree never
    /// comes back to it: that update is sent a few times over a moment (a new client's
    /// connections may not be up at first), and `set` returns without knowing it landed.
    ///
    /// Throws `timedOut` if no server published it within `timeout`, `invalidMessage` for a key
    /// 12/CHP reserves or an empty key.
    public func set(_ key: String, _ value: Frame, ttl: Duration? = nil, timeout: Duration = .seconds(30)) async throws {
        guard !key.isEmpty, !CloneProtocol.isReserved(key) else {
            throw ZMQError.invalidMessage("a Clone key may not be empty, ICANHAZ?, KTHXBAI or HUGZ: \(key)")
        }
        try Settings.positive(ttl, "ttl")
        let uuid = CloneProtocol.newUUID()
        let update = CloneEntry(key: key, uuid: uuid, properties: ttl.map { ["ttl": CloneProtocol.secondsText($0)] } ?? [:], value: value)
        guard key.hasPrefix(subtree) else {
            for attempt in 0..<3 {
                if attempt > 0 { try await Task.sleep(for: resendInterval) }
                try publisher.trySend(update.message)
            }
            return
        }
        replica.expect(uuid, deleting: update.deletes ? key : nil)
        defer { replica.forget(uuid) }
        let deadline = ContinuousClock.now + timeout
        while true {
            if let error = failure.error.withLock({ $0 }) { throw error }
            try publisher.trySend(update.message)
            if await replica.echo(of: uuid, within: min(resendInterval, max(.zero, deadline - .now))) { return }
            try Task.checkCancellation()
            guard ContinuousClock.now < deadline else {
                throw ZMQError(code: .timedOut, message: "no Clone server published \(key) within \(timeout)")
            }
        }
    }

    /// Deletes `key` for every client: `set` with an empty value.
    public func delete(_ key: String, timeout: Duration = .seconds(30)) async throws {
        try await set(key, Frame(), timeout: timeout)
    }

    deinit {
        agent.cancel()
        publisher.close()
    }

    /// Stops following and closes the sockets; the streams from `changes()` and `events()` end.
    public func close() async {
        agent.cancel()
        _ = await agent.result
        publisher.close()
        replica.stop()
    }
}

/// A Clone client's map and the watchers of it, fed by the client machine's news on the
/// runner's thread and read from any.
final class CloneReplica: Sendable {
    struct State {
        var entries: [String: CloneEntry] = [:]
        var sequence: UInt64 = 0
        var synchronized = false
        var snapshots = 0
        var dropped = 0
        var stopped = false
        var changeWatchers: [UUID: AsyncStream<CloneChange>.Continuation] = [:]
        var eventWatchers: [UUID: AsyncStream<CloneClientEvent>.Continuation] = [:]
        var synchronizedWaiters: [UUID: CheckedContinuation<Bool, Never>] = [:]
        /// `set`'s updates not back yet (false) or back (true), by UUID.
        var expected: [[UInt8]: Bool] = [:]
        /// The key of each of those updates that deletes one.
        var deleting: [[UInt8]: String] = [:]
        var echoWaiters: [[UInt8]: CheckedContinuation<Bool, Never>] = [:]
    }

    let state = Mutex(State())

    @Sendable func take(_ news: CloneClientNews) {
        switch news {
        case .synchronized(let entries, let sequence):
            let (changes, waiters, echoes, watchers) = state.withLock { state in
                let old = state.entries
                state.snapshots += 1
                let snapshot = state.snapshots
                var changes: [CloneChange] = old.keys.filter { entries[$0] == nil }.sorted()
                    .map { CloneChange(key: $0, value: nil, sequence: sequence, snapshot: snapshot) }
                changes += entries.keys.sorted().filter { old[$0]?.value != entries[$0]!.value }
                    .map { CloneChange(key: $0, value: entries[$0]!.value, sequence: sequence, snapshot: snapshot) }
                state.entries = entries
                state.sequence = sequence
                state.synchronized = true
                let waiters = Array(state.synchronizedWaiters.values)
                state.synchronizedWaiters = [:]
                // An update published while the client was between servers comes back in the
                // snapshot; a deletion, as its key's absence (the server ignores it if sent again).
                let echoes = state.expected.isEmpty ? [] : entries.values.compactMap { state.arrived($0.uuid) }
                    + state.deleting.filter { entries[$0.value] == nil }.keys.compactMap { state.arrived($0) }
                return (changes, waiters, echoes, Array(state.changeWatchers.values))
            }
            for waiter in waiters { waiter.resume(returning: true) }
            for echo in echoes { echo.resume(returning: true) }
            for change in changes { for watcher in watchers { watcher.yield(change) } }
        case .updated(let update):
            let (watchers, echo) = state.withLock { state in
                state.entries[update.key] = update.deletes ? nil : update
                state.sequence = update.sequence
                return (Array(state.changeWatchers.values), state.arrived(update.uuid))
            }
            echo?.resume(returning: true)
            let change = CloneChange(key: update.key, value: update.deletes ? nil : update.value, sequence: update.sequence)
            for watcher in watchers { watcher.yield(change) }
        case .event(let event):
            let watchers = state.withLock { state in
                if event.kind == .messageDropped { state.dropped += 1 }
                return Array(state.eventWatchers.values)
            }
            for watcher in watchers { watcher.yield(event) }
        }
    }

    /// A new watcher's stream, starting with what `first` gives from the state at that moment.
    func watch<Element: Sendable>(_ watchers: WritableKeyPath<State, [UUID: AsyncStream<Element>.Continuation]> & Sendable,
                        first: (State) -> [Element]) -> AsyncStream<Element> {
        let (stream, continuation) = AsyncStream.makeStream(of: Element.self)
        let id = UUID()
        let stopped = state.withLock { state in
            // Yielded under the lock, so that no change taken meanwhile comes before them.
            for element in first(state) { continuation.yield(element) }
            if !state.stopped { state[keyPath: watchers][id] = continuation }
            return state.stopped
        }
        if stopped { continuation.finish() }
        continuation.onTermination = { [weak self] _ in self?.state.withLock { _ = $0[keyPath: watchers].removeValue(forKey: id) } }
        return stream
    }

    /// Returns once the map is a snapshot: true, or false if the client stopped or the task was
    /// cancelled first.
    func synchronized() async -> Bool {
        let id = UUID()
        return await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                let now = state.withLock { state -> Bool? in
                    if state.synchronized || state.stopped || Task.isCancelled { return state.synchronized }
                    state.synchronizedWaiters[id] = continuation
                    return nil
                }
                if let now { continuation.resume(returning: now) }
            }
        } onCancel: {
            state.withLock { $0.synchronizedWaiters.removeValue(forKey: id) }?.resume(returning: false)
        }
    }

    func expect(_ uuid: [UInt8], deleting key: String? = nil) {
        state.withLock { state in
            state.expected[uuid] = false
            state.deleting[uuid] = key
        }
    }

    func forget(_ uuid: [UInt8]) {
        state.withLock { state in
            state.expected[uuid] = nil
            state.deleting[uuid] = nil
        }
    }

    /// Whether the update `uuid` comes back within `interval`.
    func echo(of uuid: [UInt8], within interval: Duration) async -> Bool {
        await withCheckedContinuation { continuation in
            let back = state.withLock { state in
                if state.expected[uuid] == true || state.stopped { return true }
                state.echoWaiters[uuid] = continuation
                return false
            }
            if back { return continuation.resume(returning: state.withLock { $0.expected[uuid] == true }) }
            Task {
                try? await Task.sleep(for: interval)
                self.state.withLock { $0.echoWaiters.removeValue(forKey: uuid) }?.resume(returning: false)
            }
        }
    }

    /// Ends every watcher's stream and wakes every waiter.
    func stop() {
        let (changes, events, waiters, echoes) = state.withLock { state in
            state.stopped = true
            defer {
                state.changeWatchers = [:]
                state.eventWatchers = [:]
                state.synchronizedWaiters = [:]
                state.echoWaiters = [:]
            }
            return (Array(state.changeWatchers.values), Array(state.eventWatchers.values), Array(state.synchronizedWaiters.values),
                    Array(state.echoWaiters.values))
        }
        for watcher in changes { watcher.finish() }
        for watcher in events { watcher.finish() }
        for waiter in waiters { waiter.resume(returning: false) }
        for echo in echoes { echo.resume(returning: false) }
    }
}

extension CloneReplica.State {
    /// Notes that the update `uuid` came back; the waiter to wake, if `set` is waiting on it.
    mutating func arrived(_ uuid: [UInt8]) -> CheckedContinuation<Bool, Never>? {
        guard !uuid.isEmpty, expected[uuid] == false else { return nil }
        expected[uuid] = true
        return echoWaiters.removeValue(forKey: uuid)
    }
}
