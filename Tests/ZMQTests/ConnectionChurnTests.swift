import Foundation
import Logging
import NIOCore
import Synchronization
import Testing
@testable import ZMQ
import ZMQTestSupport

/// Connections come and go by the thousand against one socket, well-behaved or not: every one is
/// freed, memory stays flat, and the log stays short.
@Suite("Connection churn", .timeLimit(.minutes(2)))
struct ConnectionChurnTests {
    /// How a raw client session ends.
    enum Ending: CaseIterable {
        /// Handshake, one message, then an orderly close.
        case plain
        /// Handshake, then part of a large frame, then close.
        case midFrame
        /// Part of a greeting, then close.
        case midHandshake
        /// Connect and reset at once, before the server's greeting can be written.
        case reset
    }

    static func session(_ ending: Ending, port: Int) throws {
        let peer = try RawPeer(port: port)
        defer { peer.close() }
        switch ending {
        case .plain:
            peer.send(RawPeer.greeting + RawPeer.ready("PUSH"))
            // Read what the server sends first, so closing sends FIN rather than a reset.
            guard peer.skipHandshake() else { return }
            peer.send([0x00, 5] + Array("hello".utf8))
        case .midFrame:
            peer.send(RawPeer.greeting + RawPeer.ready("PUSH"))
            guard peer.skipHandshake() else { return }
            // A frame announced as 1 MiB, of which 20,000 octets arrive.
            peer.send([0x02, 0, 0, 0, 0, 0, 0x10, 0, 0] + [UInt8](repeating: 0xAB, count: 20_000))
        case .midHandshake:
            _ = peer.read(64)
            peer.send(Array(RawPeer.greeting.prefix(30)))
        case .reset:
            peer.reset()
        }
    }

    /// The process's resident memory, in octets.
    static func residentMemory() -> Int {
        #if os(Linux)
        let fields = (try? String(contentsOfFile: "/proc/self/statm", encoding: .utf8))?.split(separator: " ") ?? []
        return (fields.count > 1 ? Int(fields[1]) ?? 0 : 0) * Int(sysconf(Int32(_SC_PAGESIZE)))
        #else
        // No /proc: the peak instead (in octets on Darwin), which can only overstate growth.
        var usage = rusage()
        getrusage(RUSAGE_SELF, &usage)
        return Int(usage.ru_maxrss)
        #endif
    }

    /// Waits until `sessions` more connections of `socket` have ended, each in exactly one failed
    /// handshake or disconnection, every engine made since `enginesBefore` has been freed, and
    /// no timer of theirs is left (a handshake timer left behind would wait 30 s).
    static func expectEnded(_ sessions: Int, of socket: ZMQSocket, finishedBefore: Int, enginesBefore: Int, timersBefore: Int, _ note: String = "",
                            sourceLocation: SourceLocation = #_sourceLocation) async {
        let finished = await eventually {
            let now = socket.connectionStatistics
            return now.handshakesFailed + now.disconnections - finishedBefore >= sessions
        }
        #expect(finished, "\(note)\(socket.connectionStatistics)", sourceLocation: sourceLocation)
        let freed = await eventually { ZMTPEngine.liveCount.load(ordering: .relaxed) <= enginesBefore }
        #expect(freed, "\(note)\(ZMTPEngine.liveCount.load(ordering: .relaxed) - enginesBefore) engines still alive", sourceLocation: sourceLocation)
        let timersGone = await eventually(within: .seconds(10)) { ZMTPEngine.pendingTimers.load(ordering: .relaxed) <= timersBefore }
        #expect(timersGone, "\(note)\(ZMTPEngine.pendingTimers.load(ordering: .relaxed) - timersBefore) timers still pending", sourceLocation: sourceLocation)
    }

    /// Checks `condition` every few milliseconds until it holds or `limit` passes.
    static func eventually(within limit: Duration = .seconds(30), _ condition: () -> Bool) async -> Bool {
        let deadline = ContinuousClock.now + limit
        while !condition() {
            if ContinuousClock.now > deadline { return false }
            try? await Task.sleep(for: .milliseconds(5))
        }
        return true
    }

    @Test("10,000 connections that end well, mid-frame, mid-handshake or with a reset leave no engine, timer, memory or log flood behind")
    func churn() async throws {
        let lines = LogLines()
        let context = ZMQContext(logger: Logger(label: "churn") { _ in lines })
        let pull = try context.socket(.pull)
        // Heartbeats, so that sessions that complete their handshake have a heartbeat timer
        // to cancel as well as a handshake timer.
        try pull.set(.heartbeatInterval(.seconds(1)))
        let port = port(of: try await pull.bind("tcp://127.0.0.1:*"))
        let received = Atomic<Int>(0)
        let reader = Task {
            for try await _ in pull.messages { received.add(1, ordering: .relaxed) }
        }
        let enginesBefore = ZMTPEngine.liveCount.load(ordering: .relaxed)
        let timersBefore = ZMTPEngine.pendingTimers.load(ordering: .relaxed)
        let started = ContinuousClock.now

        func run(_ sessions: Int) async throws {
            let before = pull.connectionStatistics
            let finishedBefore = before.handshakesFailed + before.disconnections
            try await onThread { () -> Result<Void, any Error> in
                Result {
                    for index in 0..<sessions {
                        try Self.session(Ending.allCases[index % Ending.allCases.count], port: port)
                    }
                }
            }.get()
            await Self.expectEnded(sessions, of: pull, finishedBefore: finishedBefore, enginesBefore: enginesBefore, timersBefore: timersBefore)
        }

        try await run(2_000)  // warms up the allocator and NIO's pools
        let memoryAfterWarmUp = Self.residentMemory()
        let descriptorsBefore = openFileDescriptorCount()
        let targetsBefore = openFileDescriptorTargets()
        try await run(10_000)
        let growth = Self.residentMemory() - memoryAfterWarmUp

        let plainSessions = (2_000 + 10_000) / Ending.allCases.count
        #expect(await Self.eventually { received.load(ordering: .relaxed) == plainSessions })
        // A leak of 1 KiB per connection would be 10 MiB; mid-frame sessions alone held 28 KiB each.
        print("churn: RSS growth \(growth / 1024) KiB")
        #expect(growth < 4 << 20, "resident memory grew by \(growth / 1024) KiB over 10,000 connections")
        #expect(await Self.eventually { openFileDescriptorCount() <= descriptorsBefore },
                "descriptors before: \(targetsBefore); now: \(openFileDescriptorTargets())")
        // Failures are logged at most once per ten seconds.
        let elapsed = ContinuousClock.now - started
        #expect(lines.count <= Int(elapsed / .seconds(10)) + 1, "\(lines.count) log lines in \(elapsed)")
        #expect(lines.count >= 1)
        #expect(lines.octets <= lines.count * 1024, "\(lines.octets) octets in \(lines.count) lines")
        print("churn: \(lines.count) log lines, \(lines.octets) octets, for 12,000 connections in \(elapsed)")

        reader.cancel()
        await context.shutdown()
    }

    @Test("a log line is let through once per window, with the count of those held back")
    func logLimiter() {
        var limiter = LogLimiter(window: .seconds(10))
        let start = NIODeadline.uptimeNanoseconds(1_000_000_000)
        #expect(limiter.admit(now: start) == 0)
        #expect(limiter.admit(now: start + .seconds(1)) == nil)
        #expect(limiter.admit(now: start + .seconds(9)) == nil)
        #expect(limiter.admit(now: start + .seconds(10)) == 2)
        #expect(limiter.admit(now: start + .seconds(30)) == 0)
    }

    @Test("without a logger the library logs nothing")
    func silentByDefault() {
        #expect(ZMQContext().logger.handler is SwiftLogNoOpLogHandler)
    }
}

/// A log handler that counts the lines it is given.
/// Counts the lines logged through it, and their octets (message and metadata, as a handler
/// that prints them would write).
final class LogLines: LogHandler, @unchecked Sendable {
    private let lines = Mutex((count: 0, octets: 0))
    var count: Int { lines.withLock { $0.count } }
    var octets: Int { lines.withLock { $0.octets } }
    var metadata: Logger.Metadata = [:]
    var logLevel: Logger.Level = .trace

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        let metadata = (event.metadata ?? [:]).merging(self.metadata) { new, _ in new }
        let octets = "\(event.level) \(event.message) \(metadata)".utf8.count + 1
        lines.withLock { $0.count += 1; $0.octets += octets }
    }
}
