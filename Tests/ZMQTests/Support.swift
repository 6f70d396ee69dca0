import Foundation
import ZMQ
import ZMQTestSupport

/// What each open file descriptor of this process is (for failure messages).
func openFileDescriptorTargets() -> [String] {
    let names = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd")) ?? []
    return names.sorted().map { name in
        "\(name)→\((try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/fd/\(name)")) ?? "?")"
    }
}

/// The number of open file descriptors of this process.
func openFileDescriptorCount() -> Int {
    (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd").count) ?? -1
}

/// Runs blocking work (a raw peer's reads) on a thread of its own, off the cooperative pool.
func onThread<T: Sendable>(_ body: @escaping @Sendable () -> T) async -> T {
    await withCheckedContinuation { continuation in
        Thread.detachNewThread { continuation.resume(returning: body()) }
    }
}

/// Publishes `messages` over and over until the returned task is cancelled. Whether a
/// subscription has reached a publisher cannot be seen from the publishing side, so tests of
/// plain PUB keep publishing until the subscriber has what it waits for.
func keepPublishing(_ messages: [Message], on publisher: ZMQSocket) -> Task<Void, Never> {
    Task {
        while !Task.isCancelled {
            for message in messages { try? publisher.trySend(message) }
            await Task.yield()
        }
    }
}

/// The handshake failures a connecting socket reports and the waits before its retries, until
/// `retries` retries have been scheduled: what a refused client does, and how it backs off.
func failuresAndRetryDelays(_ events: AsyncStream<SocketEvent>, retries: Int) async -> (failures: [HandshakeFailure], delays: [Duration]) {
    var failures: [HandshakeFailure] = []
    var delays: [Duration] = []
    for await event in events {
        if let failure = event.failure { failures.append(failure) }
        if event.kind == .connectRetried, let delay = event.delay { delays.append(delay) }
        if delays.count == retries { break }
    }
    return (failures, delays)
}
