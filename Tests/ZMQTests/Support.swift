import Foundation
import ZMQ

/// Runs `body` with a fresh context that is shut down afterwards, whatever happens.
func withContext<R>(_ body: (ZMQContext) async throws -> R) async throws -> R {
    let context = ZMQContext()
    do {
        let result = try await body(context)
        await context.shutdown()
        return result
    } catch {
        await context.shutdown()
        throw error
    }
}

/// Waits for the first event that matches, from a monitor opened before the action.
func nextEvent(_ events: AsyncStream<SocketEvent>, where matches: (SocketEvent) -> Bool) async -> SocketEvent? {
    for await event in events where matches(event) { return event }
    return nil
}

/// A fresh ipc path in the temporary directory.
func temporaryIPCEndpoint(_ name: String = "zmq") -> String {
    "ipc://\(NSTemporaryDirectory())/\(name)-\(getpid())-\(UInt32.random(in: 0...UInt32.max)).sock"
}

/// The transports a socket test runs over.
enum Transport: String, CaseIterable {
    case tcp, ipc, inproc

    /// A fresh endpoint to bind: an ephemeral loopback port, a new ipc path, a new inproc name.
    var freshEndpoint: String {
        switch self {
        case .tcp: "tcp://127.0.0.1:*"
        case .ipc: temporaryIPCEndpoint(rawValue)
        case .inproc: "inproc://test-\(UUID().uuidString)"
        }
    }
}

/// The number of open file descriptors of this process.
func openFileDescriptorCount() -> Int {
    (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd").count) ?? -1
}

extension Message {
    var strings: [String?] { frames.map(\.string) }
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
