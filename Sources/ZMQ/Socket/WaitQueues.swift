import DequeModule

/// How a wait on a socket ended.
enum WaitOutcome: Sendable {
    /// Something changed: look again.
    case lookAgain
    case socketClosed, timedOut, cancelled

    /// The error to throw, if the wait ended for good.
    var error: ZMQError? {
        switch self {
        case .lookAgain: return nil
        case .socketClosed: return .socketClosed
        case .timedOut: return .timedOut
        case .cancelled: return .cancelled
        }
    }
}

/// What a task can wait on one socket for.
enum WaitKind: Equatable, Sendable {
    case send, receive
    /// At least this many peers with a completed handshake.
    case peers(Int)
}

/// Who waits on one socket. Takers are tasks inside `send`, `receive` or `waitForPeers`: each
/// acts on what it finds, so a message wakes one receiver, not all of them. Watchers are pollers:
/// every one hears of every change that may make the socket ready for what it watches, and looks
/// again itself, so a poller never uses up the wakeup a receiver needed.
///
/// A value kept under the socket's lock. Its methods take the waiters to wake out of the queues
/// and hand them back; the caller wakes them once the lock is released, so each waiter is woken
/// exactly once, by whoever took it out. Generic over the waiter and the watcher so that it is
/// tested without tasks.
struct WaitQueues<Waiter: Sendable, Watcher: Sendable>: Sendable {
    private var senders = Deque<(id: UInt64, waiter: Waiter)>()
    private var receivers = Deque<(id: UInt64, waiter: Waiter)>()
    private var peerWaiters = Deque<(id: UInt64, waiter: Waiter)>()
    private var watchers: [(id: UInt64, events: PollEvents, watcher: Watcher)] = []

    /// Whom to wake, taken out under the lock. It is made and dropped for every message sent
    /// and every batch delivered, nearly always empty, so the rarely needed arrays stay nil:
    /// copying an empty one then costs no reference counting. One taker needs no array at all.
    struct Wakeups: Sendable {
        private(set) var first: Waiter?
        private(set) var others: [Waiter]?
        private(set) var watchers: [Watcher]?

        var isEmpty: Bool { first == nil && watchers == nil }
        var takers: [Waiter] { (first.map { [$0] } ?? []) + (others ?? []) }

        mutating func append(_ waiter: Waiter) {
            if first == nil {
                first = waiter
            } else if others == nil {
                others = [waiter]
            } else {
                others!.append(waiter)
            }
        }

        mutating func take(_ queue: inout Deque<(id: UInt64, waiter: Waiter)>, upTo limit: Int = .max) {
            var taken = 0
            while taken < limit, let (_, waiter) = queue.popFirst() {
                append(waiter)
                taken += 1
            }
        }

        mutating func notify(_ watcher: Watcher) {
            if watchers == nil { watchers = [watcher] } else { watchers!.append(watcher) }
        }

        mutating func append(contentsOf other: Wakeups) {
            for waiter in other.takers { append(waiter) }
            for watcher in other.watchers ?? [] { notify(watcher) }
        }
    }

    var hasReceivers: Bool { !receivers.isEmpty }

    mutating func add(_ waiter: Waiter, id: UInt64, for kind: WaitKind) {
        switch kind {
        case .send: senders.append((id, waiter))
        case .receive: receivers.append((id, waiter))
        case .peers: peerWaiters.append((id, waiter))
        }
    }

    /// Takes out the waiter `id` (timed out or cancelled); nil when it was already woken.
    mutating func remove(_ id: UInt64, for kind: WaitKind) -> Waiter? {
        func take(_ queue: inout Deque<(id: UInt64, waiter: Waiter)>) -> Waiter? {
            guard let index = queue.firstIndex(where: { $0.id == id }) else { return nil }
            return queue.remove(at: index).waiter
        }
        switch kind {
        case .send: return take(&senders)
        case .receive: return take(&receivers)
        case .peers: return take(&peerWaiters)
        }
    }

    /// A poller starts watching the socket for `events`, until `unwatch(id)`.
    mutating func watch(_ watcher: Watcher, id: UInt64, for events: PollEvents) {
        watchers.append((id, events, watcher))
    }

    mutating func unwatch(_ id: UInt64) {
        watchers.removeAll { $0.id == id }
    }

    /// `count` messages became receivable: one receiver each, and every watcher of readability.
    mutating func messagesArrived(_ count: Int) -> Wakeups {
        var wakeups = Wakeups()
        wakeups.take(&receivers, upTo: count)
        notifyWatchers(of: .readable, into: &wakeups)
        return wakeups
    }

    /// A full queue made room: every sender tries again, and every watcher of writability looks.
    mutating func roomMade() -> Wakeups {
        var wakeups = Wakeups()
        wakeups.take(&senders)
        notifyWatchers(of: .writable, into: &wakeups)
        return wakeups
    }

    /// A peer completed its handshake: room for senders, and perhaps enough peers; with
    /// `withMessages` (a ROUTER's connect notification) something for a receiver too.
    mutating func peerAttached(withMessages: Bool = false) -> Wakeups {
        var wakeups = roomMade()
        wakeups.take(&peerWaiters)
        if withMessages {
            wakeups.take(&receivers, upTo: 1)
            notifyWatchers(of: .readable, into: &wakeups)
        }
        return wakeups
    }

    /// A peer went away: a sender waiting for it must learn so, and what it left unread (when
    /// `leftMessages`) is for the receivers.
    mutating func peerDetached(leftMessages: Bool) -> Wakeups {
        var wakeups = Wakeups()
        if leftMessages { wakeups.take(&receivers) }
        wakeups.take(&senders)
        notifyWatchers(of: [.readable, .writable], into: &wakeups)
        return wakeups
    }

    /// A send or receive changed what the socket may do next (REQ and REP alternate): only the
    /// watchers need to look again; takers retry on their own.
    mutating func turnTaken() -> Wakeups {
        var wakeups = Wakeups()
        notifyWatchers(of: [.readable, .writable], into: &wakeups)
        return wakeups
    }

    /// The socket is closing: every taker, to fail with `socketClosed`, and every watcher.
    mutating func closeAll() -> Wakeups {
        var wakeups = Wakeups()
        wakeups.take(&receivers)
        wakeups.take(&senders)
        wakeups.take(&peerWaiters)
        notifyWatchers(of: [.readable, .writable], into: &wakeups)
        return wakeups
    }

    private func notifyWatchers(of events: PollEvents, into wakeups: inout Wakeups) {
        guard !watchers.isEmpty else { return }
        for entry in watchers where !entry.events.isDisjoint(with: events) {
            wakeups.notify(entry.watcher)
        }
    }
}
