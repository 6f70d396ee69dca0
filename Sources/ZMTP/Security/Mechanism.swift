import NIOCore

/// A connection's security handshake as a sub-state machine (like postgres-nio's authentication
/// state inside its connection state machine): commands and authentication replies in, steps out.
/// The connection checks the peer's metadata (`validate`) and turns steps into actions.
enum Mechanism: Sendable {
    case null(NullMechanism)
    case plainClient(PlainClientMechanism)
    case plainServer(PlainServerMechanism)
    #if CURVE
    case curveClient(CurveClientMechanism)
    case curveServer(CurveServerMechanism)
    #endif
    /// CURVE asked for in a build without it: the handshake fails at the greeting.
    case unavailable

    init(_ security: Security, ourMetadata: Metadata, authenticatesNull: Bool = false) {
        switch security {
        case .null: self = .null(NullMechanism(ourMetadata: ourMetadata, authenticates: authenticatesNull))
        case .plainClient(let username, let password):
            self = .plainClient(PlainClientMechanism(username: username, password: password, ourMetadata: ourMetadata))
        case .plainServer: self = .plainServer(PlainServerMechanism(ourMetadata: ourMetadata))
        #if CURVE
        case .curveClient(let serverKey, let keyPair):
            self = .curveClient(CurveClientMechanism(serverKey: serverKey, keyPair: keyPair, ourMetadata: ourMetadata))
        case .curveServer(let keyPair):
            self = .curveServer(CurveServerMechanism(keyPair: keyPair, ourMetadata: ourMetadata))
        #else
        case .curveClient, .curveServer: self = .unavailable
        #endif
        }
    }

    #if CURVE
    /// Byte-vector tests fix the transient keys and long nonces.
    init(_ security: Security, ourMetadata: Metadata, random: CurveRandom) {
        switch security {
        case .curveClient(let serverKey, let keyPair):
            self = .curveClient(CurveClientMechanism(serverKey: serverKey, keyPair: keyPair, ourMetadata: ourMetadata, random: random))
        case .curveServer(let keyPair):
            self = .curveServer(CurveServerMechanism(keyPair: keyPair, ourMetadata: ourMetadata, random: random))
        default:
            self.init(security, ourMetadata: ourMetadata)
        }
    }

    /// After the handshake, the cipher that boxes and unboxes every frame (CURVE only).
    var trafficCipher: CurveCipher? {
        switch self {
        case .curveClient(let mechanism): return mechanism.cipher
        case .curveServer(let mechanism): return mechanism.cipher
        default: return nil
        }
    }
    #endif

    /// What to do as soon as the peer's greeting has been accepted.
    mutating func start() throws(ZMTPError) -> [MechanismStep] {
        switch self {
        case .null(var mechanism):
            defer { self = .null(mechanism) }
            return mechanism.start()
        case .plainClient(let mechanism): return mechanism.start()
        case .plainServer: return []
        #if CURVE
        case .curveClient(var mechanism):
            defer { self = .curveClient(mechanism) }
            return try mechanism.start()
        case .curveServer: return []
        #endif
        case .unavailable: throw .curveNotBuilt
        }
    }

    /// A command frame's body from the peer, during the handshake.
    mutating func receive(_ body: ByteBuffer, validate: (Metadata) throws(ZMTPError) -> Void) throws(ZMTPError) -> [MechanismStep] {
        if case .plainClient = self, let reason = PlainCommand.libzmqErrorReason(body) {
            throw ZMTPError(peerErrorReason: reason)
        }
        #if CURVE
        // CURVE's commands carry boxes, not the fields `Command` parses.
        if case .curveClient = self { return try receiveCurve(body, validate: validate) }
        if case .curveServer = self { return try receiveCurve(body, validate: validate) }
        #endif
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
        #if CURVE
        case .curveClient, .curveServer: return []
        #endif
        case .unavailable: throw .curveNotBuilt
        }
    }

    #if CURVE
    private mutating func receiveCurve(_ body: ByteBuffer, validate: (Metadata) throws(ZMTPError) -> Void) throws(ZMTPError) -> [MechanismStep] {
        var data = body
        guard let length = data.readInteger(as: UInt8.self), length > 0, let name = data.readString(length: Int(length)) else {
            throw .malformedCommand("bad command name")
        }
        if name == "ERROR", case .error(let reason) = try Command(parsing: body) {
            throw ZMTPError(peerErrorReason: reason)
        }
        let bytes = Array(data.readableBytesView)
        switch self {
        case .curveClient(var mechanism):
            defer { self = .curveClient(mechanism) }
            return try mechanism.receive(name: name, data: bytes, validate: validate)
        case .curveServer(var mechanism):
            defer { self = .curveServer(mechanism) }
            return try mechanism.receive(name: name, data: bytes, validate: validate)
        default:
            return []
        }
    }
    #endif

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
        case .null(var mechanism):
            defer { self = .null(mechanism) }
            return try mechanism.authenticated(reply)
        #if CURVE
        case .curveServer(var mechanism):
            defer { self = .curveServer(mechanism) }
            return try mechanism.authenticated(reply)
        #endif
        default:
            throw .unexpectedAuthentication
        }
    }
}

/// 23/ZMTP's NULL mechanism: each side sends READY with its metadata at once and the handshake
/// is done when the peer's READY arrives. With a ZAP domain set (as libzmq does), the
/// authenticator is asked first and our READY waits for its answer.
struct NullMechanism: Sendable {
    let ourMetadata: Metadata
    let authenticates: Bool
    private var approved: Bool
    private var readySent = false
    private var peerMetadata: Metadata?

    init(ourMetadata: Metadata, authenticates: Bool = false) {
        self.ourMetadata = ourMetadata
        self.authenticates = authenticates
        self.approved = !authenticates
    }

    mutating func start() -> [MechanismStep] {
        guard approved else { return [.authenticate(AuthenticationRequest(mechanism: "NULL", credentials: []))] }
        readySent = true
        return [.send(Command.ready(ourMetadata).encoded)]
    }

    mutating func receive(_ command: Command, validate: (Metadata) throws(ZMTPError) -> Void) throws(ZMTPError) -> [MechanismStep] {
        guard case .ready(let metadata) = command, peerMetadata == nil else { throw .unexpectedCommand(command.name) }
        try validate(metadata)
        peerMetadata = metadata
        return readySent ? [.complete(peerMetadata: metadata)] : []
    }

    mutating func authenticated(_ reply: AuthenticationReply) throws(ZMTPError) -> [MechanismStep] {
        guard authenticates, !approved else { throw .unexpectedAuthentication }
        guard reply.isSuccess else { throw .authenticationRefused(status: reply.statusCode) }
        approved = true
        readySent = true
        let ready = MechanismStep.send(Command.ready(ourMetadata).encoded)
        return peerMetadata.map { [ready, .complete(peerMetadata: $0)] } ?? [ready]
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
