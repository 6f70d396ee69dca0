import OrderedCollections
import ZMQ

/// The snapshots a Clone server is sending its clients (the entries under a subtree, then
/// KTHXBAI), a part of the map at a time.
///
/// A snapshot is the map as it was when the client's turn came: a copy of the dictionary, which
/// costs nothing until the map next changes. It goes in key order and ends with KTHXBAI at that
/// map's sequence number, so the client's updates after that number apply on top of it.
///
/// It is sent a chunk at a time on the snapshot ROUTER, which has a high-water mark and
/// `routerMandatory`. When the client's queue is full the socket refuses the send, the rest of
/// that chunk is not sent, and the snapshot tries again from the entry refused, a little later
/// each time. So a client that does not read costs the server at most one queue's worth, and a
/// client that reads gets every key in order, with no gap a full queue could leave. A snapshot
/// whose client takes nothing for `timeout`, or that has gone, is dropped.
///
/// A client has one snapshot at a time (asking again starts it afresh). At most `limit` are
/// under way; the requests beyond wait their turn, one per client.
struct CloneSnapshots {
    typealias Action = PatternAction<CloneServerEvent>
    /// The map a snapshot is taken of: its entries, the ephemeral keys' expiries, its sequence.
    typealias Source = (map: [String: CloneEntry], expiries: [String: ContinuousClock.Instant], sequence: UInt64)

    private struct Snapshot {
        let client: Frame
        let subtree: String
        let source: Source
        let keys: [String]
        /// The first key not yet sent; `keys.endIndex` once all have gone.
        var next: Int
        /// Where the last chunk began, to find the key a refusal stopped at.
        var chunkStart = 0
        /// KTHXBAI went with the last chunk: the snapshot is done unless it was refused.
        var ended = false
        /// The socket refused part of the last chunk.
        var refused = false
        /// When the next chunk goes.
        var due: ContinuousClock.Instant
        /// How long to wait after the next refusal.
        var backoff = CloneSnapshots.firstRetry
        /// When the client last took a message, for `timeout`.
        var progressed: ContinuousClock.Instant
    }

    /// Entries sent before the runner reads its sockets again.
    static let chunk = 256
    static let firstRetry = Duration.milliseconds(1)
    static let lastRetry = Duration.milliseconds(100)

    let socket: SocketName
    let limit: Int
    let timeout: Duration
    private var sending: [Frame: Snapshot] = [:]
    private var waiting: OrderedDictionary<Frame, String> = [:]

    init(on socket: SocketName, limit: Int, timeout: Duration) {
        self.socket = socket
        self.limit = limit
        self.timeout = timeout
    }

    /// How many snapshots are under way, and how many wait their turn.
    var counts: (sending: Int, waiting: Int) { (sending.count, waiting.count) }

    /// When a snapshot next has something to send.
    var nextDeadline: ContinuousClock.Instant? { sending.values.lazy.map(\.due).min() }

    /// ICANHAZ? from `client`: its snapshot starts now, in place of any it had under way, or
    /// waits for one of the others to end.
    mutating func requested(by client: Frame, subtree: String, from source: Source, now: ContinuousClock.Instant) -> [Action] {
        guard sending[client] != nil || sending.count < limit else {
            waiting[client] = subtree
            return []
        }
        return start(client, subtree: subtree, from: source, now: now)
    }

    /// Sends the next chunk of every snapshot that is due; finishes those whose KTHXBAI went, and
    /// drops those whose client has taken nothing for `timeout`.
    mutating func tick(from source: Source, now: ContinuousClock.Instant) -> [Action] {
        var actions: [Action] = []
        for (client, var snapshot) in sending where snapshot.due <= now {
            if !snapshot.refused {
                snapshot.progressed = now
                snapshot.backoff = Self.firstRetry
            }
            if snapshot.ended, !snapshot.refused {
                sending[client] = nil
                continue
            }
            if now - snapshot.progressed >= timeout {
                sending[client] = nil
                let reason = "the client took none of it for \(timeout)"
                actions.append(.report(CloneServerEvent(.snapshotAbandoned, key: snapshot.subtree, sequence: snapshot.source.sequence, reason: reason)))
                continue
            }
            actions += sendChunk(&snapshot, now: now)
            sending[client] = snapshot
        }
        return actions + startWaiting(from: source, now: now)
    }

    /// The socket refused `message`, a snapshot's entry or its KTHXBAI, and did not send the rest
    /// of its chunk: the snapshot goes on from there after a while, or ends if its client has gone.
    mutating func refused(_ message: Message, error: ZMQError, from source: Source, now: ContinuousClock.Instant) -> [Action] {
        guard message.count > 1, var snapshot = sending[message[0]] else { return [] }
        guard error.code == .wouldBlock else {
            sending[message[0]] = nil
            let event = CloneServerEvent(.snapshotAbandoned, key: snapshot.subtree, sequence: snapshot.source.sequence, reason: "\(error)")
            return [.report(event)] + startWaiting(from: source, now: now)
        }
        let key = message[1].string
        // Where the refusal stopped the chunk (not finding the key cannot happen; sending the
        // whole chunk again would do no harm).
        let index: Int
        if snapshot.ended, key == CloneProtocol.snapshotEndName {
            index = snapshot.keys.endIndex
        } else {
            index = snapshot.keys[snapshot.chunkStart..<snapshot.next].firstIndex(of: key ?? "") ?? snapshot.chunkStart
        }
        if index > snapshot.chunkStart {
            // The entries before it went: the client is reading.
            snapshot.progressed = now
            snapshot.backoff = Self.firstRetry
        }
        snapshot.next = index
        snapshot.ended = false
        snapshot.refused = true
        snapshot.due = now + snapshot.backoff
        snapshot.backoff = min(snapshot.backoff * 2, Self.lastRetry)
        sending[message[0]] = snapshot
        return []
    }

    private mutating func start(_ client: Frame, subtree: String, from source: Source, now: ContinuousClock.Instant) -> [Action] {
        let keys = source.map.keys.filter { $0.hasPrefix(subtree) }.sorted()
        var snapshot = Snapshot(client: client, subtree: subtree, source: source, keys: keys, next: 0, due: now, progressed: now)
        let actions = sendChunk(&snapshot, now: now)
        sending[client] = snapshot
        return actions
    }

    private mutating func startWaiting(from source: Source, now: ContinuousClock.Instant) -> [Action] {
        var actions: [Action] = []
        while sending.count < limit, !waiting.isEmpty {
            let (client, subtree) = waiting.removeFirst()
            actions += start(client, subtree: subtree, from: source, now: now)
        }
        return actions
    }

    /// The next entries, and KTHXBAI after the last. After a refusal only one entry goes, to
    /// see whether the client reads again before building a whole chunk.
    private func chunk(of snapshot: inout Snapshot, now: ContinuousClock.Instant) -> (messages: [Message], report: CloneServerEvent?) {
        let count = snapshot.refused ? 1 : Self.chunk
        let end = min(snapshot.next + count, snapshot.keys.endIndex)
        var messages: [Message] = []
        messages.reserveCapacity(end - snapshot.next + 1)
        for key in snapshot.keys[snapshot.next..<end] {
            var entry = snapshot.source.map[key]!
            // An ephemeral key goes with the time it has left, so a server that takes this
            // snapshot expires it when this one would.
            if let expiry = snapshot.source.expiries[key] {
                entry.properties["ttl"] = CloneProtocol.secondsText(max(expiry - now, .milliseconds(1)))
            }
            messages.append(Message([snapshot.client] + entry.message.frames))
        }
        snapshot.chunkStart = snapshot.next
        snapshot.next = end
        guard end == snapshot.keys.endIndex, messages.count < count else { return (messages, nil) }
        snapshot.ended = true
        let sequence = snapshot.source.sequence
        messages.append(Message([snapshot.client] + CloneProtocol.snapshotEnd(sequence: sequence, subtree: snapshot.subtree).frames))
        return (messages, CloneServerEvent(.snapshotSent, key: snapshot.subtree, sequence: sequence))
    }

    private func sendChunk(_ snapshot: inout Snapshot, now: ContinuousClock.Instant) -> [Action] {
        let (messages, report) = chunk(of: &snapshot, now: now)
        snapshot.refused = false
        // Unless refused, the next chunk goes at the next tick, after the runner has read its
        // sockets: one client's large snapshot does not hold up the others or the updates.
        snapshot.due = now
        return [.sendInOrder(messages, on: socket, report: report)]
    }
}
