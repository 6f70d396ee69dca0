import ArgumentParser
import Foundation
import ZMQ

struct Send: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Send the frames as one message, --count times; with no frames, each line of standard input is a message.",
        discussion: """
            A frame written 0x… is hex; a line of standard input holds a message's frames separated \
            by tabs, as `zmq recv` prints them. A ROUTER's first frame names the peer to send to, \
            and so does a bound STREAM's; a connecting STREAM writes every frame to its one \
            connection, then closes it. A REQ prints each reply, one per line. Exits once every \
            message has been written to the wire.
            """
    )

    @OptionGroup var socket: SocketArguments
    @OptionGroup(title: "Security") var security: SecurityArguments

    @Option(help: "How many times to send the message.")
    var count: Int = 1

    @Option(help: "REQ: exit with status 1 if a reply has not come after this many seconds.")
    var timeout: Double?

    @Argument(help: "The frames of the message.")
    var frames: [String] = []

    func validate() throws {
        if count < 1 { throw ValidationError("--count must be at least 1") }
        if let timeout, timeout <= 0 { throw ValidationError("--timeout must be positive") }
        let type = socket.type.uppercased()
        if let known = SocketType(rawValue: type), !known.traits.sends { throw ValidationError("a \(type) socket cannot send") }
        if type == "REP" { throw ValidationError("a REP answers requests: use zmq recv --type REP") }
        if type == "STREAM", socket.bind != nil, !frames.isEmpty, frames.count != 2 {
            throw ValidationError("a bound STREAM sends [routing id, data]: give two frames, not \(frames.count)")
        }
    }

    /// A connecting STREAM names its one connection this, and writes each frame to it.
    static let streamConnection = Frame("zmq")

    private var ownsStreamConnection: Bool { socket.type.uppercased() == "STREAM" && socket.connect != nil }

    func run() async throws {
        let message = frames.isEmpty ? nil : Message(try frames.map(FrameText.parse))
        let context = ZMQContext.forTool()
        let socket = try await self.socket.open(in: context, security: security.settings) { socket in
            if socket.type == .router { try socket.set(.routerMandatory(true)) }
            if let timeout { try socket.set(.receiveTimeout(.milliseconds(Int64(timeout * 1000)))) }
            if ownsStreamConnection { try socket.set(.connectRoutingID(Self.streamConnection.bytes)) }
        }
        do {
            // Its connect notice: the connection is up.
            if ownsStreamConnection { _ = try await socket.receive() }
            if let message {
                for _ in 0..<count { try await send(message, on: socket) }
            } else {
                while let line = readLine() {
                    try await send(try FrameText.parseLine(line), on: socket)
                }
            }
            // Closed once all is written, so the peer sees the end of the stream.
            if ownsStreamConnection { try await socket.send([Self.streamConnection, Frame()]) }
        } catch let error as ZMQError where error.code == .timedOut || error.code == .unroutable || error.code == .invalidMessage {
            await context.shutdown()
            FileHandle.standardError.write(Data("zmq send: \(error.code == .timedOut ? "no reply in time" : error.description)\n".utf8))
            throw ExitCode(1)
        }
        // Linger is forever by default: shutdown returns once everything is on the wire.
        socket.close()
        await context.shutdown()
    }

    /// Sends one message; a REQ prints the reply. A ROUTER waits for a peer to address, and an
    /// XSUB for a publisher: a subscription is kept for the next connection, not queued, so
    /// closing before one would lose it.
    private func send(_ message: Message, on socket: ZMQSocket) async throws {
        if ownsStreamConnection {
            // Every frame is data; an empty one would close the connection, so it is skipped.
            for frame in message where !frame.isEmpty { try await socket.send([Self.streamConnection, frame]) }
            return
        }
        if socket.type == .router || socket.type == .xsub || socket.type == .stream { try await socket.waitForPeers(1) }
        try await socket.send(message)
        if socket.type == .req { StandardOutput.writeLine(try await socket.receive()) }
    }
}
