import NIOCore

/// A connection's security handshake as a sub-state machine (like postgres-nio's authentication
/// state inside its connection state machine): commands and authentication replies in, steps out.
/// The connection checks the peer's metadata (`validate`) and turns steps into actions.
enum Mechanism: Sendable {
    case null(NullMechanism)
    case plainClient(PlainClientMechanism)
    case plainServer(PlainServerMechanism)

    init(_ security: Security, ourMetadata: Metadata) {
        switch security {
        case .null: self = .null(NullMechanism(ourMetadata: ourMetadata))
        case .plainClient(let username, let password):
            self = .plainClient(PlainClientMechanism(username: username, password: password, ourMetadata: ourMetadata))
        case .plainServer: self = .plainServer(PlainServerMechanism(ourMetadata: ourMetadata))
        }
    }

    /// What to do as soon as the peer's greeting has been accepted.
    mutating func start() -> [MechanismStep] {
        switch self {
        case .null(let mechanism): return mechanism.start()
        case .plainClient(let mechanism): return mechanism.start()
        case .plainServer: return []
        }
    }

    /// A command frame's body from the peer, during the handshake.
    mutating func receive(_ body: ByteBuffer, validate: (Metadata) throws(ZMTPError) -> Void) throws(ZMTPError) -> [MechanismStep] {
        if case .plainClient = self, let reason = PlainCommand.libzmqErrorReason(body) {
            throw ZMTPError(peerErrorReason: reason)
        }
        let command = try Command(parsing: body)
        if case .error(let reason) = command { throw ZMTPError(peerErrorReason: reason) }
        switch self {
        case .null(var mechanism):
            defer { self = .null(mechanism) }
            return try mechanism.receive(command, validate: validate)
        case .plainClient(var mechanism):
            defer { self = .plainClient(mechanism) }
            return try mechanism.receive(command, validate: validate)
        case .plainServer(var mechanism):
            defer { self = .plainServer(mechanism) }
            return try mechanism.receive(command, validate: validate)
        }
    }

    /// The ERROR to send before closing because of `error`, if the protocol asks for one.
    func farewell(for error: ZMTPError) -> ByteBuffer? {
        guard let reason = error.farewellReason else { return nil }
        if case .plainServer = self, case .authenticationRefused = error {
            return PlainCommand.libzmqError(reason: reason)
        }
        return Command.error(reason: reason).encoded
    }

    /// The authenticator's answer to the `.authenticate` step.
    mutating func authenticated(_ reply: AuthenticationReply) throws(ZMTPError) -> [MechanismStep] {
        switch self {
        case .plainServer(var mechanism):
            defer { self = .plainServer(mechanism) }
            return try mechanism.authenticated(reply)
        case .null, .plainClient:
            throw .unexpectedAuthentication
        }
    }
}

/// 23/ZMTP's NULL mechanism: each side sends READY with its metadata at once and the handshake
/// is done when the peer's READY arrives.
struct NullMechanism: Sendable {
    let ourMetadata: Metadata

    func start() -> [MechanismStep] {
        [.send(Command.ready(ourMetadata).encoded)]
    }

    mutating func receive(_ command: Command, validate: (Metadata) throws(ZMTPError) -> Void) throws(ZMTPError) -> [MechanismStep] {
        guard case .ready(let metadata) = command else { throw .unexpectedCommand(command.name) }
        try validate(metadata)
        return [.complete(peerMetadata: metadata)]
    }
}

extension ZMTPError {
    /// An ERROR from the peer during the handshake: a three-digit 3xx/4xx/5xx reason is a ZAP
    /// status code (the server refused us), anything else a protocol complaint.
    init(peerErrorReason reason: String) {
        let utf8 = Array(reason.utf8)
        if utf8.count == 3, (UInt8(ascii: "3")...UInt8(ascii: "5")).contains(utf8[0]),
           utf8.dropFirst().allSatisfy({ (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) }) {
            self = .authenticationFailed(status: reason)
        } else {
            self = .peerError(reason: reason)
        }
    }
}
