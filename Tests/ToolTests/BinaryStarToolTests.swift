import Foundation
import Testing
import ZMQ
import ZMQPatterns
import ZMQTestSupport

/// `zmq binary-star` and `zmq req` with several servers, run as a user would run them.
@Suite("zmq binary-star", .serialized, .timeLimit(.minutes(2)))
struct BinaryStarToolTests {
    typealias Running = ToolTests.Running

    /// Reads a running tool's standard error line by line, for the states it prints.
    final class Lines: @unchecked Sendable {
        private let stream: AsyncStream<String>
        private var iterator: AsyncStream<String>.AsyncIterator

        init(_ handle: FileHandle) {
            let (stream, continuation) = AsyncStream.makeStream(of: String.self)
            self.stream = stream
            iterator = stream.makeAsyncIterator()
            Thread.detachNewThread {
                var pending = Data()
                while true {
                    let chunk = handle.availableData
                    if chunk.isEmpty { break }
                    pending.append(chunk)
                    while let newline = pending.firstIndex(of: 10) {
                        continuation.yield(String(decoding: pending[pending.startIndex..<newline], as: UTF8.self))
                        pending.removeSubrange(pending.startIndex...newline)
                    }
                }
                continuation.finish()
            }
        }

        /// The next line; nil once the tool has exited.
        func next() async -> String? {
            await iterator.next()
        }

        /// Every line still to come, until the tool exits.
        func rest() async -> [String] {
            var seen: [String] = []
            while let next = await iterator.next() { seen.append(next) }
            return seen
        }

        /// Waits for `line`; the lines before it, and it.
        func waitFor(_ line: String) async -> [String] {
            var seen: [String] = []
            while let next = await iterator.next() {
                seen.append(next)
                if next == line { break }
            }
            return seen
        }
    }

    static func server(_ role: String, bind: String, stateBind: String, stateConnect: String) throws -> (Running, Lines) {
        let running = try Running(["binary-star", role, "--bind", bind, "--state-bind", stateBind, "--state-connect", stateConnect,
                                   "--echo", "--heartbeat", "0.1"])
        return (running, Lines(running.errors.fileHandleForReading))
    }

    @Test("a primary and a backup: the primary serves, is killed, the backup takes over and exits 0 on SIGTERM; each prints its states")
    func failover() async throws {
        let (front1, front2, state1, state2) = (temporaryIPCEndpoint(), temporaryIPCEndpoint(), temporaryIPCEndpoint(), temporaryIPCEndpoint())
        let (primary, primaryLines) = try Self.server("--primary", bind: front1, stateBind: state1, stateConnect: state2)
        let (backup, backupLines) = try Self.server("--backup", bind: front2, stateBind: state2, stateConnect: state1)
        #expect(await primaryLines.waitFor("binary-star: ACTIVE") == ["binary-star: PRIMARY", "binary-star: ACTIVE"])
        #expect(await backupLines.waitFor("binary-star: PASSIVE") == ["binary-star: BACKUP", "binary-star: PASSIVE"])
        let first = try await ToolTests.run(["req", "--connect", front1, "--connect", front2, "--timeout", "0.3", "--retries", "20", "one"])
        #expect(first.status == 0 && first.output == "one\n", "\(first.errors)")
        kill(primary.process.processIdentifier, SIGKILL)
        _ = await primary.finish()
        let second = try await ToolTests.run(["req", "--connect", front1, "--connect", front2, "--timeout", "0.3", "--retries", "20", "two"])
        #expect(second.status == 0 && second.output == "two\n", "\(second.errors)")
        #expect(await backupLines.waitFor("binary-star: ACTIVE").last == "binary-star: ACTIVE")
        backup.process.terminate()
        #expect(await backup.finish().status == 0)
    }

    @Test("a server that hears its peer active while active itself (dual actives) says so and exits 3")
    func dualActives() async throws {
        let (front1, front2, state1, state2) = (temporaryIPCEndpoint(), temporaryIPCEndpoint(), temporaryIPCEndpoint(), temporaryIPCEndpoint())
        // The first hears the second, but the second cannot hear the first (as across a broken
        // link): each takes a client once its peer has been quiet for two heartbeats.
        let (one, oneLines) = try Self.server("--primary", bind: front1, stateBind: state1, stateConnect: state2)
        let asked = try await ToolTests.run(["req", "--connect", front1, "--timeout", "0.3", "--retries", "30", "hello"])
        #expect(asked.status == 0, "\(asked.errors)")
        _ = await oneLines.waitFor("binary-star: ACTIVE")
        let (other, _) = try Self.server("--primary", bind: front2, stateBind: state2, stateConnect: temporaryIPCEndpoint())
        let again = try await ToolTests.run(["req", "--connect", front2, "--timeout", "0.3", "--retries", "30", "hello"])
        #expect(again.status == 0, "\(again.errors)")
        let said = await oneLines.rest()
        #expect(await one.finish().status == 3)
        #expect(said.contains { $0.contains("dual actives") }, "\(said)")
        other.process.terminate()
        #expect(await other.finish().status == 0)
    }

    @Test("req with several --connect tries each server in turn, and counts --retries over all of them")
    func reqFailsOver() async throws {
        let (silent, answering) = (temporaryIPCEndpoint(), temporaryIPCEndpoint())
        let context = ZMQContext()
        let router = try context.socket(.router)
        try await router.bind(silent)  // takes the request and never answers
        let rep = try Running(["rep", "--bind", answering, "--count", "1"])
        let run = try await ToolTests.run(["req", "--connect", silent, "--connect", answering, "--timeout", "0.3", "--retries", "2", "hello"])
        #expect(run.status == 0, "\(run.errors)")
        #expect(run.output == "hello\n", "zmq rep echoes")
        #expect(await rep.finish().status == 0)
        let gaveUp = try await ToolTests.run(["req", "--connect", silent, "--connect", silent, "--timeout", "0.1", "--retries", "3", "again"])
        #expect(gaveUp.status == 1 && gaveUp.errors.contains("no reply after 3 attempts"), "\(gaveUp.errors)")
        await context.shutdown()
    }
}
