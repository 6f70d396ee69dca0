import NIOCore
import Synchronization

/// The connections of one I/O thread that have messages waiting to be written, drained together
/// in one task of that thread.
///
/// A sender wakes a connection when its queue goes from empty to not (`OutboundQueue`). When
/// each message goes to another peer (a PUB whose subscribers each match few topics, a ROUTER
/// answering many peers) that is a wake-up per message, and NIO's `execute` takes two locks and
/// allocates a task each time. Here a wake-up appends the connection to a list under one lock,
/// and only the first since the list was last drained schedules a task.
final class DrainQueue<Engine: Drainable>: Sendable {
    private struct State {
        var waiting: [Engine] = []
        /// The last drained list, emptied, kept for its capacity.
        var spare: [Engine] = []
    }

    /// Runs a task on the queue's thread: the event loop's `execute`.
    private let execute: @Sendable (@escaping @Sendable () -> Void) -> Void
    private let state = Mutex(State())
    private static var spareLimit: Int { 1024 }

    convenience init(eventLoop: any EventLoop) {
        self.init { eventLoop.execute($0) }
    }

    init(execute: @escaping @Sendable (@escaping @Sendable () -> Void) -> Void) {
        self.execute = execute
    }

    /// Drains `engine` soon on this queue's thread, which must be the engine's.
    func schedule(_ engine: Engine) {
        // A list that was empty has no task to drain it yet.
        let first = state.withLock { state in
            state.waiting.append(engine)
            return state.waiting.count == 1
        }
        if first { execute { self.drainWaiting() } }
    }

    private func drainWaiting() {
        var engines = state.withLock { state in
            var taken = state.spare
            state.spare = []
            swap(&taken, &state.waiting)
            return taken
        }
        for engine in engines { engine.drain() }
        // A burst to thousands of peers keeps no large list afterwards.
        guard engines.capacity <= Self.spareLimit else { return }
        engines.removeAll(keepingCapacity: true)
        state.withLock { $0.spare = engines }
    }
}

/// What a `DrainQueue` drains: a connection that writes what its queue holds, on its thread.
protocol Drainable: AnyObject, Sendable {
    func drain()
}
