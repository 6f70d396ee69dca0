import Foundation
import ZMQ
import ZMQTestSupport

/// A libzmq peer running Tests/InteropTests/peer.py under the Python that has the pinned pyzmq.
/// The interpreter is `$SWIFT_ZMQ_PYTHON` or `python3`; if pyzmq is missing the peer fails,
/// and so does the test: an interop test never passes without its peer.
final class PythonPeer: @unchecked Sendable {
    static let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("peer.py").path
    static let python = ProcessInfo.processInfo.environment["SWIFT_ZMQ_PYTHON"] ?? "python3"

    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    private let process = Process()
    private let output = Pipe()
    private let errors = Pipe()
    private var lines: AsyncStream<String>.AsyncIterator

    /// Runs peer.py with `arguments`; in the network namespace `namespace` if one is given.
    convenience init(_ arguments: [String], namespace: String? = nil) throws {
        try self.init(script: Self.script, arguments, namespace: namespace)
    }

    init(script: String, _ arguments: [String], namespace: String? = nil) throws {
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        let command = [Self.python, script] + arguments
        process.arguments = namespace.map { ["ip", "netns", "exec", $0] + command } ?? command
        process.standardOutput = output
        process.standardError = errors
        let (stream, continuation) = AsyncStream.makeStream(of: String.self)
        lines = stream.makeAsyncIterator()
        let handle = output.fileHandleForReading
        // A plain thread turns the peer's stdout into lines; it ends when the peer exits.
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
        try process.run()
    }

    /// The next line the peer printed, or a failure with its stderr if it exited first.
    func nextLine() async throws -> String {
        if let line = await lines.next() { return line }
        // Cancelled (a test's time limit): the peer may still be running, so end it rather than
        // wait for it.
        if Task.isCancelled {
            kill()
            throw Failure(description: "cancelled while waiting for the peer's output")
        }
        process.waitUntilExit()
        let stderr = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        throw Failure(description: "peer exited (status \(process.terminationStatus)) without output: \(stderr)")
    }

    /// Waits for the `ENDPOINT …` line printed once the peer's socket is bound or connected.
    func endpoint() async throws -> String {
        let line = try await nextLine()
        guard line.hasPrefix("ENDPOINT ") else { throw Failure(description: "expected ENDPOINT, got \(line)") }
        return String(line.dropFirst("ENDPOINT ".count))
    }

    /// Waits for a line starting with `prefix` (progress reports).
    func waitFor(_ prefix: String) async throws {
        while true {
            let line = try await nextLine()
            if line.hasPrefix(prefix) { return }
            if line.hasPrefix("{") { throw Failure(description: "peer finished early: \(line)") }
        }
    }

    /// The peer's final JSON report; throws unless it says ok and the peer exited 0.
    @discardableResult
    func result() async throws -> [String: Any] {
        var line = try await nextLine()
        while !line.hasPrefix("{") { line = try await nextLine() }
        process.waitUntilExit()
        let report = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any] ?? [:]
        guard report["ok"] as? Bool == true, process.terminationStatus == 0 else {
            throw Failure(description: "peer reported failure: \(line)")
        }
        return report
    }

    /// Asks the peer to stop (SIGTERM), as a user would.
    func terminate() {
        if process.isRunning { process.terminate() }
    }

    /// Kills the peer at once, as a crash would: no linger, no goodbye.
    func kill() {
        if process.isRunning { Foundation.kill(process.processIdentifier, SIGKILL) }
        process.waitUntilExit()
    }

    deinit { kill() }
}

/// The message pattern peer.py checks: message i has the frame sizes of shapes[i % shapes.count],
/// and octet j of frame f is (i + 7f + j) mod 251.
enum Pattern {
    static let table: [UInt8] = (0..<(251 + (1 << 21))).map { UInt8($0 % 251) }

    static func message(_ index: Int, shapes: [[Int]]) -> Message {
        let shape = shapes[index % shapes.count]
        return Message(shape.enumerated().map { frame, size in
            let start = (index + 7 * frame) % 251
            return Frame(table[start..<start + size])
        })
    }

    static func parse(_ text: String) -> [[Int]] {
        text.split(separator: ";").map { $0.split(separator: ",").map { Int($0)! } }
    }
}

/// Starts a peer.py peer and joins it to `socket`: the side `binder` names binds (on a fresh
/// loopback port or ipc path), the other connects to what it bound.
func startPeer(_ socket: ZMQSocket, binder: InteropTests.Binder, transport: Transport, arguments: [String]) async throws -> PythonPeer {
    let local = transport.freshEndpoint
    if binder == .swift {
        let endpoint = try await socket.bind(local)
        let peer = try PythonPeer(arguments + ["--connect", endpoint])
        _ = try await peer.endpoint()
        return peer
    }
    let peer = try PythonPeer(arguments + ["--bind", local])
    try await socket.connect(try await peer.endpoint())
    return peer
}
