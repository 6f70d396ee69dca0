import ArgumentParser
import Foundation
import ZMQ
import ZMQPatterns

struct Receive: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "recv",
        abstract: "Print each message received, one per line, frames separated by a tab.",
        discussion: """
            A frame that is not printable text (or that starts with 0x) is printed as 0x and hex, \
            as `zmq send` reads it back. A ROUTER and a STREAM print the sender's routing id as \
            the first frame, a SERVER and a PEER theirs in decimal, a DISH the group and a DGRAM \
            the sender's address; a REP answers each request with an empty message. With \
            --max-lag, each message must carry the stamp zmq send --stamp adds (its last frame: \
            8 octets, microseconds since the Unix epoch, network order), which is not printed; \
            one that arrives later than that after its stamp ends the tool (the Guide's \
            Suicidal Snail). Exits 0 after --count messages, 1 if --timeout passes first, 3 \
            when a message arrives too late.
            """
    )

    @OptionGroup var socket: SocketArguments
    @OptionGroup(title: "Security") var security: SecurityArguments

    @Option(help: "Exit after this many messages.")
    var count: Int?

    @Option(help: "Exit with status 1 if the messages have not all arrived after this many seconds.")
    var timeout: Double?

    @Option(help: ArgumentHelp(
        "SUB or XSUB: receive messages whose first frame starts with this prefix (repeatable).",
        discussion: "Without it a SUB or XSUB socket subscribes to everything."))
    var subscribe: [String] = []

    @Option(help: ArgumentHelp(
        "DISH: receive the messages of this group (repeatable).",
        discussion: "--group \"\" joins the empty group, which a RADIO sends to when it names none."))
    var group: [String] = []

    @Option(help: "Exit 3 when a message arrives more than this many seconds after its stamp (see zmq send --stamp).")
    var maxLag: Double?

    @Option(help: ArgumentHelp(
        "Disconnect a peer that sends a message larger than this many octets (default 64 MiB).",
        discussion: "0 means no limit."))
    var maxMessageSize: Int?

    func validate() throws {
        if let maxMessageSize, maxMessageSize < 0 { throw ValidationError("--max-message-size must not be negative") }
        if let count, count < 1 { throw ValidationError("--count must be at least 1") }
        if let timeout, timeout <= 0 { throw ValidationError("--timeout must be positive") }
        if let maxLag, !(0.000001...86_400).contains(maxLag) { throw ValidationError("--max-lag must be between 0.000001 and 86400 seconds") }
        let type = socket.type.uppercased()
        if let known = SocketType(rawValue: type), !known.traits.receives { throw ValidationError("a \(type) socket cannot receive") }
        if type == "REQ" { throw ValidationError("a REQ asks first: use zmq send --type REQ, which prints each reply") }
        if !subscribe.isEmpty, type != "SUB", type != "XSUB" {
            throw ValidationError("--subscribe needs --type SUB or XSUB")
        }
        if !group.isEmpty, type != "DISH" { throw ValidationError("--group needs --type DISH") }
        if type == "DISH", group.isEmpty {
            throw ValidationError("a DISH receives only the groups it joins: give --group (--group \"\" joins the empty group)")
        }
        for group in group { try MessageShape.checkGroup(group) }
    }

    func run() async throws {
        let context = ZMQContext.forTool()
        let prefixes = subscribe.isEmpty ? [""] : subscribe
        let socket = try await self.socket.open(in: context, security: security.settings) { socket in
            try socket.set(.linger(.zero))
            if let maxMessageSize { try socket.set(.maxMessageSize(maxMessageSize == 0 ? nil : maxMessageSize)) }
            switch socket.type {
            case .sub: for prefix in prefixes { try socket.subscribe(prefix) }
            case .xsub: for prefix in prefixes { try socket.trySend(Message(Frame([1] + Array(prefix.utf8)))) }
            case .dish: for group in Set(group) { try socket.join(group) }
            default: break
            }
        }
        let shape = MessageShape(socket.type)
        let deadline = timeout.map { ContinuousClock.now + .milliseconds(Int64($0 * 1000)) }
        let lagGuard = maxLag.map { LagGuard(maxLag: .microseconds(Int64($0 * 1_000_000))) }
        var received = 0
        var timedOut = false
        var tooLate: String?
        while count.map({ received < $0 }) ?? true {
            if let deadline {
                let left = deadline - ContinuousClock.now
                guard left > .zero else { timedOut = true; break }
                try socket.set(.receiveTimeout(left))
            }
            do {
                var message = try await socket.receive()
                if let lagGuard { message = try lagGuard.check(message) }
                StandardOutput.writeLine(shape.printed(message))
                received += 1
                if socket.type == .rep { try await socket.send(Message(Frame())) }
            } catch ZMQError.timedOut {
                timedOut = true
                break
            } catch let error as ZMQError where error.code == .subscriberTooSlow || error.code == .invalidMessage {
                tooLate = error.message
                break
            }
        }
        await context.shutdown()
        if let tooLate {
            FileHandle.standardError.write(Data("zmq recv: \(tooLate); stopping after \(received) message(s)\n".utf8))
            throw ExitCode(3)
        }
        if timedOut {
            FileHandle.standardError.write(Data("zmq recv: timed out after \(received) message(s)\n".utf8))
            throw ExitCode(1)
        }
    }
}

/// Prints messages a line each through one buffer of at most `FrameText.chunkSize` octets:
/// a line of small frames is one write, a huge frame a few dozen.
enum StandardOutput {
    static func writeLine(_ message: Message) {
        var pending: [UInt8] = []
        pending.reserveCapacity(256)
        FrameText.write(message) { piece in
            if pending.count + piece.count > FrameText.chunkSize {
                flush(&pending)
            }
            pending.append(contentsOf: piece)
        }
        pending.append(UInt8(ascii: "\n"))
        flush(&pending)
    }

    private static func flush(_ pending: inout [UInt8]) {
        guard !pending.isEmpty else { return }
        FileHandle.standardOutput.write(Data(pending))
        pending.removeAll(keepingCapacity: true)
    }
}
