import ArgumentParser
import Foundation
import ZMQ
import ZMQPatterns

struct Send: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Send the frames as one message, --count times; with no frames, each line of standard input is a message.",
        discussion: """
            A frame written 0x… is hex; a line of standard input holds a message's frames separated \
            by tabs, as `zmq recv` prints them. A ROUTER's first frame names the peer to send to, \
            and so does a bound STREAM's, which prints each connection's routing id on standard \
            error as it comes and goes ("connected<TAB>ID", "disconnected<TAB>ID"; what the \
            connections send is not read); a connecting STREAM writes every frame to its one \
            connection, then closes it. A SERVER's, or a bound PEER's, first frame is the routing \
            id in decimal; a DGRAM's is the address; a connecting PEER sends to the peer it \
            connected to. CLIENT, SCATTER, CHANNEL and RADIO send one frame (RADIO to --group). \
            A REQ prints each reply, one per line. --stamp adds the time of sending as a last \
            frame (8 octets, microseconds since the Unix epoch, network order), which zmq recv \
            --max-lag checks. Exits once every message has been written to the wire.
            """
    )

    @OptionGroup var socket: SocketArguments
    @OptionGroup(title: "Security") var security: SecurityArguments

    @Option(help: "How many times to send the message.")
    var count: Int = 1

    @Option(help: "REQ: exit with status 1 if a reply has not come after this many seconds.")
    var timeout: Double?

    @Flag(help: "Add the time of sending as a last frame, for a subscriber's zmq recv --max-lag.")
    var stamp = false

    @Option(help: "RADIO: the group to send to (without it, the empty group).")
    var group: String?

    @Argument(help: "The frames of the message.")
    var frames: [String] = []

    /// The socket type, nil for a name the tool does not know (which validation refuses).
    private var type: SocketType? { SocketType(rawValue: socket.type.uppercased()) }

    private var shape: MessageShape {
        type.map { MessageShape(sending: $0, connecting: socket.connect != nil) } ?? .frames
    }

    func validate() throws {
        if count < 1 { throw ValidationError("--count must be at least 1") }
        if let timeout, timeout <= 0 { throw ValidationError("--timeout must be positive") }
        guard let type else { return }  // SocketArguments names the unknown type
        if !type.traits.sends { throw ValidationError("a \(type) socket cannot send") }
        if type == .rep { throw ValidationError("a REP answers requests: use zmq recv --type REP") }
        // Only a message of frames as they are can take one more; a STREAM's frames are data.
        if stamp, shape != .frames || type.traits.framing == .raw {
            throw ValidationError("--stamp adds a frame, and a \(type) message cannot take one")
        }
        if let group {
            guard type == .radio else { throw ValidationError("--group needs --type RADIO") }
            try MessageShape.checkGroup(group)
        }
        if !frames.isEmpty, let refusal = shape.refusal(frames: frames.count, type: type) {
            throw ValidationError(refusal)
        }
    }

    /// A connecting STREAM names its one connection this, and writes each frame to it.
    static let streamConnection = Frame("zmq")

    private var ownsStreamConnection: Bool { type?.traits.framing == .raw && socket.connect != nil }

    /// A bound STREAM: its connections' routing ids are made up, so it says them as they come.
    private var announcesConnections: Bool { type?.traits.framing == .raw && socket.connect == nil }

    func run() async throws {
        let message = frames.isEmpty ? nil : Message(try frames.map(FrameText.parse))
        let context = ZMQContext.forTool()
        // A connecting PEER connects by itself below, to learn its peer's routing id.
        let connectsPeer = type == .peer && socket.connect != nil
        var arguments = self.socket
        if connectsPeer { arguments.connect = nil }
        let socket = try await arguments.open(in: context, security: security.settings) { socket in
            if socket.type == .router { try socket.set(.routerMandatory(true)) }
            if let timeout { try socket.set(.receiveTimeout(.milliseconds(Int64(timeout * 1000)))) }
            if ownsStreamConnection { try socket.set(.connectRoutingID(Self.streamConnection.bytes)) }
        }
        let announcing = announcesConnections ? Task { await Self.announceConnections(of: socket) } : nil
        defer { announcing?.cancel() }
        do {
            // A connecting PEER's one peer.
            var peer: UInt32?
            if connectsPeer, let endpoint = self.socket.connect {
                do {
                    peer = try await socket.connectPeer(endpoint)
                } catch let error as ZMQError where error.code == .invalidEndpoint {
                    throw UsageError(message: "\(error)")
                }
            }
            // Its connect notice: the connection is up.
            if ownsStreamConnection { _ = try await socket.receive() }
            if let message {
                for _ in 0..<count { try await send(message, on: socket, peer: peer) }
            } else {
                while let line = readLine() {
                    try await send(try FrameText.parseLine(line), on: socket, peer: peer)
                }
            }
            // Closed once all is written, so the peer sees the end of the stream.
            if ownsStreamConnection { try await socket.send([Self.streamConnection, Frame()]) }
        } catch let error as UsageError {
            // A line of standard input that breaks the type's rule: what came before it is sent.
            socket.close()
            await context.shutdown()
            throw error
        } catch let error as ZMQError where error.code == .timedOut || error.code == .unroutable || error.code == .invalidMessage {
            await context.shutdown()
            FileHandle.standardError.write(Data("zmq send: \(error.code == .timedOut ? "no reply in time" : error.description)\n".utf8))
            throw ExitCode(1)
        }
        // Linger is forever by default: shutdown returns once everything is on the wire.
        socket.close()
        await context.shutdown()
    }

    /// Prints each connection of a bound STREAM as it opens and closes (its notices: the routing
    /// id and an empty frame), so that lines of standard input can name it; drops its data.
    private static func announceConnections(of socket: ZMQSocket) async {
        var open: Set<Frame> = []
        while let message = try? await socket.receive() {
            guard message.count == 2, message[1].isEmpty else { continue }
            let opened = open.insert(message[0]).inserted
            if !opened { open.remove(message[0]) }
            var line: [UInt8] = Array("\(opened ? "connected" : "disconnected")\t".utf8)
            FrameText.write(Message([message[0]])) { line.append(contentsOf: $0) }
            FileHandle.standardError.write(Data(line + [UInt8(ascii: "\n")]))
        }
    }

    /// Sends one message; a REQ prints the reply. A type that routes by id waits for a peer to
    /// address, and an XSUB for a publisher: a subscription is kept for the next connection,
    /// not queued, so closing before one would lose it.
    private func send(_ frames: Message, on socket: ZMQSocket, peer: UInt32?) async throws {
        let message = try shape.message(from: frames, type: socket.type, group: group, peer: peer)
        if ownsStreamConnection {
            // Every frame is data; an empty one would close the connection, so it is skipped.
            for frame in message where !frame.isEmpty { try await socket.send([Self.streamConnection, frame]) }
            return
        }
        if socket.type.traits.routesByID || socket.type.traits.sendsSubscriptions { try await socket.waitForPeers(1) }
        try await socket.send(stamp ? LagGuard.stamped(message) : message)
        if socket.type == .req { StandardOutput.writeLine(try await socket.receive()) }
    }
}
