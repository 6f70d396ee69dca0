import Foundation
import Synchronization
import ZMQ
import ZMQPatterns

// What the test targets share: a context per test, fresh endpoints, the transports, waiting for
// a monitor event, and a clock for machines that tests move by hand.

/// Runs `body` with a fresh context that is shut down afterwards, whatever happens. After a
/// failure the shutdown is cancelled at once: messages a failed test left queued would otherwise
/// linger forever (the default, as in libzmq) and turn the failure into a hang.
public func withContext<R>(_ body: (ZMQContext) async throws -> R) async throws -> R {
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
public func unusedTCPPort() -> Int {
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
public func nextEvent(_ events: AsyncStream<SocketEvent>, where matches: (SocketEvent) -> Bool) async -> SocketEvent? {
    for await event in events where matches(event) { return event }
    return nil
}

/// A fresh ipc path in the temporary directory.
public func temporaryIPCEndpoint(_ name: String = "zmq") -> String {
    "ipc://\(NSTemporaryDirectory())/\(name)-\(getpid())-\(UInt32.random(in: 0...UInt32.max)).sock"
}

/// The transports a socket test runs over.
public enum Transport: String, CaseIterable, Sendable {
    case tcp, ipc, inproc

    /// A fresh endpoint to bind: an ephemeral loopback port, a new ipc path, a new inproc name.
    public var freshEndpoint: String {
        switch self {
        case .tcp: "tcp://127.0.0.1:*"
        case .ipc: temporaryIPCEndpoint(rawValue)
        case .inproc: "inproc://test-\(UUID().uuidString)"
        }
    }

    /// The transports a peer in another process can reach: libzmq's, through pyzmq.
    public static let overNetwork: [Transport] = [.tcp, .ipc]
}

extension Message {
    public var strings: [String?] { frames.map(\.string) }
}

/// Instants for machines that read no clock (`PatternMachine`s): `FixedClock.at(1.5)` is a second
/// and a half after an instant fixed when the tests start, so a test moves time by hand.
public enum FixedClock {
    public static let start = ContinuousClock.now

    public static func at(_ seconds: Double) -> ContinuousClock.Instant {
        start + .milliseconds(Int(seconds * 1000))
    }
}

/// Collects the events a component reports, for the test to look at.
public final class EventLog<Event: ComponentEvent>: Sendable {
    private let events = Mutex<[Event]>([])

    public init(of type: Event.Type = Event.self) {}

    public var all: [Event] { events.withLock { $0 } }
    public var handler: EventHandler<Event> { { event in self.events.withLock { $0.append(event) } } }
    public func count(_ kind: EventKind<Event>) -> Int { all.filter { $0.kind == kind }.count }
}

/// The events a component reports, in order, for a test to wait on.
public struct EventFeed<Event: Sendable>: Sendable {
    public let stream: AsyncStream<Event>
    public let handler: @Sendable (Event) -> Void

    public init(of type: Event.Type = Event.self) {
        let (stream, continuation) = AsyncStream.makeStream(of: Event.self)
        self.stream = stream
        handler = { continuation.yield($0) }
    }
}
