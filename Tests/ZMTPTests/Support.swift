import NIOCore
import Testing
@testable import ZMTP

// Helpers shared by the ZMTP tests: byte conversions, and a way to drive two `Connection`
// state machines against each other in memory.

func bytes(_ buffer: ByteBuffer) -> [UInt8] {
    Array(buffer: buffer)
}

func buffer(_ bytes: [UInt8]) -> ByteBuffer {
    ByteBuffer(bytes: bytes)
}

func ascii(_ text: String) -> [UInt8] {
    Array(text.utf8)
}

/// A deadline `milliseconds` after an arbitrary, fixed origin: tests never read the real clock.
func at(milliseconds: Int64) -> NIODeadline {
    .uptimeNanoseconds(10_000_000_000 + UInt64(milliseconds) * 1_000_000)
}

/// Decodes one command frame from `encoded`, checking it is a single, complete command frame.
func parseCommandFrame(_ encoded: ByteBuffer, sourceLocation: SourceLocation = #_sourceLocation) throws -> Command {
    var input = encoded
    var decoder = FrameDecoder()
    let frame = try #require(try decoder.next(from: &input), sourceLocation: sourceLocation)
    #expect(frame.isCommand, sourceLocation: sourceLocation)
    #expect(!frame.hasMore, sourceLocation: sourceLocation)
    #expect(input.readableBytes == 0, "one frame, nothing after it", sourceLocation: sourceLocation)
    return try Command(parsing: frame.body)
}

extension Connection.Action {
    var isNeedMoreData: Bool {
        if case .needMoreData = self { return true }
        return false
    }

    var written: ByteBuffer? {
        if case .write(let buffer) = self { return buffer }
        return nil
    }

    var peerInfo: PeerInfo? {
        if case .handshakeComplete(let info) = self { return info }
        return nil
    }

    var message: Message? {
        if case .message(let message) = self { return message }
        return nil
    }

    var command: Command? {
        if case .command(let command) = self { return command }
        return nil
    }

    var authenticationRequest: AuthenticationRequest? {
        if case .authenticate(let request) = self { return request }
        return nil
    }

    var closeError: ZMTPError? {
        if case .close(let error, _) = self { return error }
        return nil
    }

    /// The farewell of a `.close`; nil when the action is not a close.
    var farewell: ByteBuffer?? {
        if case .close(_, let farewell) = self { return .some(farewell) }
        return nil
    }
}

/// Feeds `input` to `connection` in chunks of `chunkSize` octets (all at once when nil), calling
/// `receive` until it answers `.needMoreData` for each chunk, and returns every other action.
/// Stops at the first `.close`.
func feed(
    _ connection: inout Connection, _ input: ByteBuffer, chunkSize: Int? = nil,
    sourceLocation: SourceLocation = #_sourceLocation
) -> [Connection.Action] {
    var actions: [Connection.Action] = []
    var rest = input
    while rest.readableBytes > 0 {
        var chunk = rest.readSlice(length: min(chunkSize ?? rest.readableBytes, rest.readableBytes))!
        var calls = 0
        while true {
            calls += 1
            guard calls < 10_000 else {
                Issue.record("receive never answered needMoreData", sourceLocation: sourceLocation)
                return actions
            }
            let action = connection.receive(&chunk)
            if action.isNeedMoreData { break }
            actions.append(action)
            if case .close = action { return actions }
        }
        #expect(chunk.readableBytes == 0, "needMoreData leaves the buffer consumed", sourceLocation: sourceLocation)
    }
    return actions
}

/// Passes an authentication reply to `connection` and returns the actions that follow.
func answer(_ connection: inout Connection, with reply: AuthenticationReply) -> [Connection.Action] {
    connection.authenticated(reply)
    var actions: [Connection.Action] = []
    var nothing = ByteBuffer()
    while actions.count < 100 {
        let action = connection.receive(&nothing)
        if action.isNeedMoreData { break }
        actions.append(action)
        if case .close = action { break }
    }
    return actions
}

/// Two connections wired back to back: what one writes, the other receives. Authentication
/// requests from either side are answered by `authenticator`.
struct Link {
    var a: Connection
    var b: Connection
    /// The non-write actions each side produced during the handshake.
    var aEvents: [Connection.Action] = []
    var bEvents: [Connection.Action] = []
    /// Everything each side wrote during the handshake.
    var aWrote: [UInt8] = []
    var bWrote: [UInt8] = []

    init(
        _ aConfiguration: Connection.Configuration, _ bConfiguration: Connection.Configuration, chunkSize: Int? = nil,
        authenticator: (AuthenticationRequest) -> AuthenticationReply = { _ in .accepted }
    ) {
        a = Connection(configuration: aConfiguration)
        b = Connection(configuration: bConfiguration)
        var toB = a.start()
        var toA = b.start()
        aWrote = bytes(toB)
        bWrote = bytes(toA)
        var rounds = 0
        while toA.readableBytes > 0 || toB.readableBytes > 0, rounds < 100 {
            rounds += 1
            let forB = toB
            toB = ByteBuffer()
            var actions = feed(&b, forB, chunkSize: chunkSize)
            while let action = actions.first {
                actions.removeFirst()
                if var written = action.written {
                    bWrote += bytes(written)
                    toA.writeBuffer(&written)
                } else if let request = action.authenticationRequest {
                    actions += answer(&b, with: authenticator(request))
                } else {
                    bEvents.append(action)
                }
            }
            let forA = toA
            toA = ByteBuffer()
            actions = feed(&a, forA, chunkSize: chunkSize)
            while let action = actions.first {
                actions.removeFirst()
                if var written = action.written {
                    aWrote += bytes(written)
                    toB.writeBuffer(&written)
                } else if let request = action.authenticationRequest {
                    actions += answer(&a, with: authenticator(request))
                } else {
                    aEvents.append(action)
                }
            }
        }
    }

    /// Encodes `message` as `a` would send it and feeds it to `b`.
    mutating func sendAToB(_ message: Message, chunkSize: Int? = nil) -> [Connection.Action] {
        var encoded = ByteBuffer()
        FrameEncoder.encode(message, into: &encoded)
        return feed(&b, encoded, chunkSize: chunkSize)
    }

    mutating func sendBToA(_ message: Message, chunkSize: Int? = nil) -> [Connection.Action] {
        var encoded = ByteBuffer()
        FrameEncoder.encode(message, into: &encoded)
        return feed(&a, encoded, chunkSize: chunkSize)
    }
}
