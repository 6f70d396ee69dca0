import Synchronization
import Testing
@testable import ZMQ

/// The list of an I/O thread's connections waiting to be written (`DrainQueue`).
@Suite("Drain queue")
struct DrainQueueTests {
    /// A connection that counts its drains and may be handed something to do during one.
    final class Connection: Drainable, @unchecked Sendable {
        var drained = 0
        var duringDrain: (() -> Void)?
        func drain() {
            drained += 1
            duringDrain?()
        }
    }

    /// The tasks a queue asked its thread to run, run when the test says.
    final class Thread: Sendable {
        private let tasks = Mutex<[@Sendable () -> Void]>([])
        var pending: Int { tasks.withLock { $0.count } }
        func execute(_ task: @escaping @Sendable () -> Void) { tasks.withLock { $0.append(task) } }
        func runPending() {
            for task in tasks.withLock({ tasks in defer { tasks = [] }; return tasks }) { task() }
        }
    }

    @Test("wake-ups before the thread runs share one task and drain each connection once; one during the drain gets a new task")
    func wakeUpsShareATask() {
        let thread = Thread()
        let queue = DrainQueue<Connection> { thread.execute($0) }
        let a = Connection(), b = Connection(), c = Connection()
        queue.schedule(a)
        queue.schedule(b)
        queue.schedule(c)
        #expect(thread.pending == 1, "one task for three wake-ups")
        // b's drain wakes a again (a sender sent to it meanwhile): that waits for a task of its own.
        b.duringDrain = { queue.schedule(a) }
        thread.runPending()
        #expect([a.drained, b.drained, c.drained] == [1, 1, 1])
        #expect(thread.pending == 1, "the wake-up during the drain scheduled the next task")
        b.duringDrain = nil
        thread.runPending()
        #expect([a.drained, b.drained, c.drained] == [2, 1, 1])
        #expect(thread.pending == 0)
    }

    @Test("many connections in one burst are all drained, and the next burst still schedules a task")
    func largeBurst() {
        let thread = Thread()
        let queue = DrainQueue<Connection> { thread.execute($0) }
        let connections = (0..<5_000).map { _ in Connection() }
        for round in 1...2 {
            for connection in connections { queue.schedule(connection) }
            #expect(thread.pending == 1)
            thread.runPending()
            #expect(connections.allSatisfy { $0.drained == round })
        }
    }
}
