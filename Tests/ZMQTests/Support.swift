import Foundation
import ZMQ

/// Runs `body` with a fresh context that is shut down afterwards, whatever happens. After a
/// failure the shutdown is cancelled at once: messages a failed test left queued would otherwise
/// linger forever (the default, as in libzmq) and turn the failure into a hang.
func withContext<R>(_ body: (ZMQContext) async throws -> R) async throws -> R {
    let context = ZMQContext()
    do {
        let result = try await body(context)
        await context.shutdown()
        return result
    } catch {
        let shutdown = Task { await context.shutdown() }
        shutdown.cancel()
        await shutdown.value
        throw error
    }
}

/// A tcp port on 127.0.0.1 that nothing uses now, chosen by the kernel. A port picked at random
/// can be the local port of a connection in TIME-WAIT, which makes `bind` fail.
func unusedTCPPort() -> Int {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    defer { close(fd) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    withUnsafeMutablePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
            _ = bind(fd, $0, length)
            _ = getsockname(fd, $0, &length)
        }
    }
    return Int(UInt16(bigEndian: address.sin_port))
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
