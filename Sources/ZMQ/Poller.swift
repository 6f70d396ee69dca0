import NIOCore
import ZMTP
import Synchronization

/// What a poller waits for on a socket.
public struct PollEvents: OptionSet, Sendable, Hashable, CustomStringConvertible {
    public let rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue }

    /// A `receive` would return a message without waiting (libzmq's ZMQ_POLLIN).
    public static let readable = PollEvents(rawValue: 1)
    /// A `send` would queue a message without waiting (libzmq's ZMQ_POLLOUT).
    public static let writable = PollEvents(rawValue: 2)

    public var description: String {
        let names = [(PollEvents.readable, "readable"), (.writable, "writable")].filter { contains($0.0) }.map(\.1)
        return "[" + names.joined(separator: ", ") + "]"
    }
}

/// Waits on several sockets at once, like `zmq_poll` and pyzmq's `Poller`: register each socket
/// with what to wait for, then `poll` until at least one is ready.
///
///     var poller = ZMQPoller()
///     poller.register(frontend, for: .readable)
///     poller.register(backend, for: .readable)
///     for ready in try await poller.poll(timeout: .seconds(1)) {
///         let message = try ready.socket.tryReceive()
///         …
///     }
///
/// Readiness is level-triggered, as in libzmq: a socket stays readable until its messages are
/// received. A poller never takes a message or a wakeup away from a task waiting in `receive`.
public struct ZMQPoller: Sendable {
    public struct Item: Sendable {
        public let socket: ZMQSocket
        public let events: PollEvents
    }

    /// The sockets registered, in order, with what each is watched for.
    public private(set) var items: [Item] = []

    public init() {}

    /// Watches `socket` for `events`; registering a socket again replaces its events.
    public mutating func register(_ socket: ZMQSocket, for events: PollEvents = .readable) {
        if let index = items.firstIndex(where: { $0.socket === socket }) {
            items[index] = Item(socket: socket, events: events)
        } else {
            items.append(Item(socket: socket, events: events))
        }
    }

    public mutating func unregister(_ socket: ZMQSocket) {
        items.removeAll { $0.socket === socket }
    }

    /// Waits until at least one registered socket is ready for what it is registered for, and
    /// returns those that are, in registration order, each with what it is ready for. Returns an
    /// empty array when `timeout` passes first (`.zero` only looks; nil waits without limit).
    /// With no socket registered it only sleeps for `timeout`. Throws `socketClosed` if a
    /// registered socket is closed, and `cancelled` when the task is cancelled.
    public func poll(timeout: Duration? = nil) async throws -> [Item] {
        guard let first = items.first else {
            guard let timeout else { throw ZMQError.invalidState("a poller with no sockets would wait forever") }
            do { try await Task.sleep(for: timeout) } catch { throw ZMQError.cancelled }
            return []
        }
        let ready = try readyItems()
        if !ready.isEmpty || timeout == .zero { return ready }
        let signal = PollSignal()
        var watches: [(ZMQSocket, UInt64)] = []
        defer { for (socket, id) in watches { socket.unwatch(id) } }
        for item in items {
            watches.append((item.socket, try item.socket.watch(signal, for: item.events)))
        }
        let deadline = timeout.map { NIODeadline.now() + TimeAmount($0) }
        let timer = deadline.map { deadline in
            first.socket.eventLoop.scheduleTask(deadline: deadline) { signal.fire() }
        }
        defer { timer?.cancel() }
        while true {
            // Whatever fired since the watches began (or since the last look) wakes this at once.
            await withTaskCancellationHandler {
                await signal.wait()
            } onCancel: {
                signal.fire()
            }
            if Task.isCancelled { throw ZMQError.cancelled }
            let ready = try readyItems()
            if !ready.isEmpty { return ready }
            if let deadline, NIODeadline.now() >= deadline { return [] }
        }
    }

    private func readyItems() throws(ZMQError) -> [Item] {
        var ready: [Item] = []
        for item in items {
            let events = try item.socket.readiness(item.events)
            if !events.isEmpty { ready.append(Item(socket: item.socket, events: events)) }
        }
        return ready
    }
}

/// Wakes one poll: fired by any socket it watches (or by its timeout, or cancellation), waited
/// on by the polling task. A fire while nobody waits is remembered, so none is lost between a
/// look at the sockets and the next wait.
final class PollSignal: Sendable {
    private enum State {
        case idle
        case fired
        case waiting(UnsafeContinuation<Void, Never>)
    }

    private let state = Mutex(State.idle)

    func fire() {
        let waiting = state.withLock { state -> UnsafeContinuation<Void, Never>? in
            if case .waiting(let continuation) = state {
                state = .idle
                return continuation
            }
            state = .fired
            return nil
        }
        waiting?.resume()
    }

    /// Returns once fired: at once if it fired since the last wait.
    func wait() async {
        await withUnsafeContinuation { (continuation: UnsafeContinuation<Void, Never>) in
            let firedAlready = state.withLock { state -> Bool in
                if case .fired = state {
                    state = .idle
                    return true
                }
                state = .waiting(continuation)
                return false
            }
            if firedAlready { continuation.resume() }
        }
    }
}

extension ZMQPoller {
    /// The messages of the sockets registered for `.readable`, merged as they arrive, each with
    /// the socket it came from. Ready sockets take turns, one message each. A socket that closes
    /// leaves the sequence, which ends when none is left; the task's cancellation ends it too.
    ///
    ///     for try await (socket, message) in poller.messages() {
    ///         if socket === control { break }
    ///         …
    ///     }
    public func messages() -> MergedMessages {
        MergedMessages(sockets: items.filter { $0.events.contains(.readable) }.map(\.socket))
    }
}

/// See `ZMQPoller.messages()`.
public struct MergedMessages: AsyncSequence, Sendable {
    public typealias Element = (socket: ZMQSocket, message: Message)
    let sockets: [ZMQSocket]

    public struct AsyncIterator: AsyncIteratorProtocol {
        var poller = ZMQPoller()
        var pending: [Element] = []

        public mutating func next() async throws -> Element? {
            while pending.isEmpty {
                for item in poller.items where item.socket.isClosed { poller.unregister(item.socket) }
                if poller.items.isEmpty { return nil }
                let ready: [ZMQPoller.Item]
                do {
                    ready = try await poller.poll()
                } catch ZMQError.socketClosed {
                    continue
                } catch ZMQError.cancelled {
                    return nil
                }
                for item in ready {
                    // A task receiving on the same socket may have taken the message meanwhile.
                    do {
                        pending.append((item.socket, try item.socket.tryReceive()))
                    } catch ZMQError.wouldBlock, ZMQError.socketClosed {
                        continue
                    }
                }
            }
            return pending.removeFirst()
        }
    }

    public func makeAsyncIterator() -> AsyncIterator {
        var poller = ZMQPoller()
        for socket in sockets { poller.register(socket, for: .readable) }
        return AsyncIterator(poller: poller)
    }
}
