import NIOCore

/// 24/ZMTP-PLAIN commands: HELLO carries the credentials, WELCOME accepts them, INITIATE and
/// READY carry each side's metadata.
enum PlainCommand {
    static func hello(username: [UInt8], password: [UInt8]) -> ByteBuffer {
        var data = ByteBuffer()
        data.writeInteger(UInt8(username.count))
        data.writeBytes(username)
        data.writeInteger(UInt8(password.count))
        data.writeBytes(password)
        return Command.unknown(name: "HELLO", data: data).encoded
    }

    static let welcome = Command.unknown(name: "WELCOME", data: ByteBuffer()).encoded

    /// libzmq's PLAIN writes its ERROR name as the C literal "\x05ERROR", whose hex escape
    /// swallows the E: the body starts with the five octets 0x5E "RROR" (up to libzmq 4.3.5 and
    /// beyond). Its PLAIN clients recognise only that form, so a refusal is sent in it, and
    /// both forms are accepted from servers.
    static let libzmqErrorPrefix: [UInt8] = [0x5E] + Array("RROR".utf8)

    static func libzmqError(reason: String) -> ByteBuffer {
        let reason = Array(reason.utf8.prefix(255))
        var buffer = ByteBuffer()
        let size = libzmqErrorPrefix.count + 1 + reason.count
        buffer.writeInteger(FrameFlags.command.rawValue)
        buffer.writeInteger(UInt8(size))
        buffer.writeBytes(libzmqErrorPrefix)
        buffer.writeInteger(UInt8(reason.count))
        buffer.writeBytes(reason)
        return buffer
    }

    /// The reason of an ERROR in libzmq's PLAIN form, or nil if `body` is not one.
    static func libzmqErrorReason(_ body: ByteBuffer) -> String? {
        var body = body
        guard body.readBytes(length: libzmqErrorPrefix.count) == libzmqErrorPrefix,
              let length = body.readInteger(as: UInt8.self),
              let reason = body.readString(length: Int(length)), body.readableBytes == 0
        else { return nil }
        return reason
    }

    static func initiate(_ metadata: Metadata) -> ByteBuffer {
        var data = ByteBuffer()
        metadata.encode(into: &data)
        return Command.unknown(name: "INITIATE", data: data).encoded
    }

    /// The user name and password of a HELLO body (after the name), with nothing left over.
    static func credentials(ofHello data: ByteBuffer) throws(ZMTPError) -> (username: [UInt8], password: [UInt8]) {
        var data = data
        guard let usernameLength = data.readInteger(as: UInt8.self),
              let username = data.readBytes(length: Int(usernameLength)),
              let passwordLength = data.readInteger(as: UInt8.self),
              let password = data.readBytes(length: Int(passwordLength))
        else { throw .malformedCommand("HELLO credentials overrun the command") }
        guard data.readableBytes == 0 else { throw .malformedCommand("HELLO has \(data.readableBytes) octets after the password") }
        return (username, password)
    }
}

/// The PLAIN client: HELLO, then INITIATE once WELCOME comes, then done on READY.
/// Holds key material or a password, so it shows nothing of itself when printed or dumped.
struct PlainClientMechanism: Sendable, CustomReflectable {
    var customMirror: Mirror { Mirror(self, children: [:]) }

    enum State { case awaitingWelcome, awaitingReady }

    let username: [UInt8]
    let password: [UInt8]
    let ourMetadata: Metadata
    private var state = State.awaitingWelcome

    init(username: String, password: String, ourMetadata: Metadata) {
        self.username = Array(username.utf8)
        self.password = Array(password.utf8)
        self.ourMetadata = ourMetadata
    }

    func start() -> [MechanismStep] {
        [.send(PlainCommand.hello(username: username, password: password))]
    }

    mutating func receive(_ command: Command, validate: (Metadata) throws(ZMTPError) -> Void) throws(ZMTPError) -> [MechanismStep] {
        switch (state, command) {
        case (.awaitingWelcome, .unknown("WELCOME", let data)):
            guard data.readableBytes == 0 else { throw .malformedCommand("WELCOME carries \(data.readableBytes) octets") }
            state = .awaitingReady
            return [.send(PlainCommand.initiate(ourMetadata))]
        case (.awaitingReady, .ready(let metadata)):
            try validate(metadata)
            return [.complete(peerMetadata: metadata)]
        default:
            throw .unexpectedCommand(command.name)
        }
    }
}

/// The PLAIN server: HELLO's credentials go to the authenticator; on success WELCOME, then
/// INITIATE's metadata is checked and READY ends the handshake.
struct PlainServerMechanism: Sendable {
    enum State { case awaitingHello, authenticating, awaitingInitiate }

    let ourMetadata: Metadata
    private var state = State.awaitingHello

    init(ourMetadata: Metadata) {
        self.ourMetadata = ourMetadata
    }

    mutating func receive(_ command: Command, validate: (Metadata) throws(ZMTPError) -> Void) throws(ZMTPError) -> [MechanismStep] {
        switch (state, command) {
        case (.awaitingHello, .unknown("HELLO", let data)):
            let (username, password) = try PlainCommand.credentials(ofHello: data)
            state = .authenticating
            return [.authenticate(AuthenticationRequest(mechanism: "PLAIN", credentials: [username, password]))]
        case (.awaitingInitiate, .unknown("INITIATE", var data)):
            let metadata = try Metadata.decode(from: &data)
            try validate(metadata)
            return [.send(Command.ready(ourMetadata).encoded), .complete(peerMetadata: metadata)]
        default:
            throw .unexpectedCommand(command.name)
        }
    }

    mutating func authenticated(_ reply: AuthenticationReply) throws(ZMTPError) -> [MechanismStep] {
        guard state == .authenticating else { throw .unexpectedAuthentication }
        guard reply.isSuccess else { throw .authenticationRefused(status: reply.statusCode) }
        state = .awaitingInitiate
        return [.send(PlainCommand.welcome)]
    }
}
