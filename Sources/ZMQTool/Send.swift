import ArgumentParser
import Foundation
import ZMQ

struct Send: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Send the frames as one message, --count times; with no frames, each line of standard input is a message.",
        discussion: "A frame written 0x… is hex. Exits once every message has been written to the wire."
    )

    @OptionGroup var socket: SocketArguments
    @OptionGroup(title: "Security") var security: SecurityArguments

    @Option(help: "How many times to send the message.")
    var count: Int = 1

    @Argument(help: "The frames of the message.")
    var frames: [String] = []

    func validate() throws {
        if count < 1 { throw ValidationError("--count must be at least 1") }
    }

    func run() async throws {
        let message = frames.isEmpty ? nil : Message(try frames.map(FrameText.parse))
        let context = ZMQContext()
        let socket = try await self.socket.open(in: context, security: security.settings)
        if let message {
            for _ in 0..<count { try await socket.send(message) }
        } else {
            while let line = readLine() {
                try await socket.send(Message(Frame(line)))
            }
        }
        // Linger is forever by default: shutdown returns once everything is on the wire.
        socket.close()
        await context.shutdown()
    }
}
