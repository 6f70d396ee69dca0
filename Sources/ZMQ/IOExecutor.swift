import NIOCore

/// A task executor that runs jobs on one of the context's I/O threads.
///
/// Latency-sensitive code can run there with `withTaskExecutorPreference(socket.ioExecutor)`:
/// a message that arrives resumes the waiting task on the thread that read it, and a send is
/// picked up by that same thread, so no other thread has to be woken on either path. Code run
/// this way must never block: it would stall every connection on that thread.
public final class IOExecutor: TaskExecutor, @unchecked Sendable {
    let eventLoop: any EventLoop
    /// The thread's connections with messages waiting to be written.
    let drains: DrainQueue<ZMTPEngine>

    init(eventLoop: any EventLoop) {
        self.eventLoop = eventLoop
        drains = DrainQueue(eventLoop: eventLoop)
    }

    public func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        eventLoop.execute {
            job.runSynchronously(on: self.asUnownedTaskExecutor())
        }
    }
}
