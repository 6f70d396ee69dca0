#if CURVE
import NIOCore

/// Where a CURVE handshake gets its transient keys and long nonces: the system's secure random
/// source, or fixed octets in byte-vector tests.
struct CurveRandom: Sendable {
    let bytes: @Sendable (Int) -> [UInt8]

    static let system = CurveRandom(bytes: Sodium.randomBytes)

    /// A transient key pair: a random secret key and the public key that belongs to it.
    func keyPair() -> (publicKey: [UInt8], secretKey: [UInt8]) {
        let secret = bytes(Sodium.keyBytes)
        return (Sodium.publicKey(forSecretKey: secret), secret)
    }
}

/// The 26/CURVEZMQ commands, laid out as libzmq 4.3.5 writes them (research/security.md).
enum CurveCommand {
    static func nonce(_ prefix: String, _ tail: [UInt8]) -> [UInt8] { Array(prefix.utf8) + tail }

    static func shortNonce(_ prefix: String, _ counter: UInt64) -> [UInt8] {
        nonce(prefix, bigEndian(counter))
    }

    static func bigEndian(_ value: UInt64) -> [UInt8] {
        (0..<8).map { UInt8(truncatingIfNeeded: value >> (56 - 8 * UInt64($0))) }
    }

    static func integer(_ bytes: ArraySlice<UInt8>) -> UInt64 {
        bytes.reduce(0) { $0 << 8 | UInt64($1) }
    }

    /// A whole command frame with this name and data.
    static func frame(_ name: String, _ data: [UInt8]) -> ByteBuffer {
        Command.unknown(name: name, data: ByteBuffer(bytes: data)).encoded
    }

    /// A box libsodium refused to seal (a degenerate, low-order key) ends the handshake.
    static func sealed(_ box: [UInt8]?, _ what: String) throws(ZMTPError) -> [UInt8] {
        guard let box else { throw .boxDidNotOpen(what) }
        return box
    }

    static func metadataBytes(_ metadata: Metadata) -> [UInt8] {
        var buffer = ByteBuffer()
        metadata.encode(into: &buffer)
        return Array(buffer.readableBytesView)
    }

    static func metadata(_ bytes: ArraySlice<UInt8>) throws(ZMTPError) -> Metadata {
        var buffer = ByteBuffer(bytes: bytes)
        return try Metadata.decode(from: &buffer)
    }
}

/// The CURVE client: HELLO; on WELCOME, INITIATE with a vouch for our transient key; on READY,
/// done. Short nonces count 1, 2, … through HELLO and INITIATE into the MESSAGEs.
/// Holds key material or a password, so it shows nothing of itself when printed or dumped.
struct CurveClientMechanism: Sendable, CustomReflectable {
    var customMirror: Mirror { Mirror(self, children: [:]) }

    enum State { case awaitingWelcome, awaitingReady, done }

    private let serverKey: [UInt8]
    private let permanent: (publicKey: [UInt8], secretKey: [UInt8])
    private let transient: (publicKey: [UInt8], secretKey: [UInt8])
    private let ourMetadata: Metadata
    private let random: CurveRandom
    private var nextNonce: UInt64 = 1
    private var state = State.awaitingWelcome
    private var sharedKey: [UInt8] = []
    private var serverTransientKey: [UInt8] = []
    private(set) var cipher: CurveCipher?

    init(serverKey: CurvePublicKey, keyPair: CurveKeyPair, ourMetadata: Metadata, random: CurveRandom = .system) {
        Sodium.ensureInitialised()
        self.serverKey = serverKey.bytes
        self.permanent = (keyPair.publicKey.bytes, keyPair.secretKey.bytes)
        self.transient = random.keyPair()
        self.ourMetadata = ourMetadata
        self.random = random
    }

    mutating func start() throws(ZMTPError) -> [MechanismStep] {
        let nonce = takeNonce()
        // The signature box proves we know the server's public key; it holds 64 zero octets.
        let signature = try CurveCommand.sealed(Sodium.box([UInt8](repeating: 0, count: 64), nonce: CurveCommand.shortNonce("CurveZMQHELLO---", nonce),
                                   to: serverKey, from: transient.secretKey), "HELLO")
        let data = [1, 0] + [UInt8](repeating: 0, count: 72) + transient.publicKey + CurveCommand.bigEndian(nonce) + signature
        return [.send(CurveCommand.frame("HELLO", data))]
    }

    mutating func receive(name: String, data: [UInt8], validate: (Metadata) throws(ZMTPError) -> Void) throws(ZMTPError) -> [MechanismStep] {
        switch (state, name) {
        case (.awaitingWelcome, "WELCOME"):
            guard data.count == 160 else { throw .malformedCommand("WELCOME of \(data.count + 8) octets (168 expected)") }
            guard let welcome = Sodium.openBox(data[16...], nonce: CurveCommand.nonce("WELCOME-", Array(data[0..<16])),
                                               from: serverKey, to: transient.secretKey)
            else { throw .boxDidNotOpen("WELCOME") }
            serverTransientKey = Array(welcome[0..<32])
            let cookie = Array(welcome[32..<128])
            guard let key = Sodium.sharedKey(publicKey: serverTransientKey, secretKey: transient.secretKey) else {
                throw .boxDidNotOpen("WELCOME")
            }
            sharedKey = key
            // The vouch: our permanent key speaks for the transient one, to this server only.
            let vouchTail = random.bytes(16)
            let vouch = try CurveCommand.sealed(Sodium.box(transient.publicKey + serverKey, nonce: CurveCommand.nonce("VOUCH---", vouchTail),
                                   to: serverTransientKey, from: permanent.secretKey), "INITIATE vouch")
            let nonce = takeNonce()
            let plain = permanent.publicKey + vouchTail + vouch + CurveCommand.metadataBytes(ourMetadata)
            let box = try CurveCommand.sealed(Sodium.box(plain, nonce: CurveCommand.shortNonce("CurveZMQINITIATE", nonce),
                                 to: serverTransientKey, from: transient.secretKey), "INITIATE")
            state = .awaitingReady
            return [.send(CurveCommand.frame("INITIATE", cookie + CurveCommand.bigEndian(nonce) + box))]
        case (.awaitingReady, "READY"):
            guard data.count >= 8 + Sodium.macBytes else { throw .malformedCommand("READY of \(data.count + 6) octets") }
            let nonce = CurveCommand.integer(data[0..<8])
            guard let plain = Sodium.openBox(data[8...], nonce: CurveCommand.shortNonce("CurveZMQREADY---", nonce),
                                             from: serverTransientKey, to: transient.secretKey)
            else { throw .boxDidNotOpen("READY") }
            let metadata = try CurveCommand.metadata(plain[...])
            try validate(metadata)
            state = .done
            cipher = CurveCipher(key: sharedKey, isServer: false, nextNonce: nextNonce, lastReceived: nonce)
            return [.complete(peerMetadata: metadata)]
        default:
            throw .unexpectedCommand(name)
        }
    }

    private mutating func takeNonce() -> UInt64 {
        defer { nextNonce += 1 }
        return nextNonce
    }
}

/// The CURVE server: on HELLO, WELCOME with a cookie; on INITIATE, checks cookie, box and vouch,
/// asks the authenticator about the client's permanent key, and on success sends READY.
/// Holds key material or a password, so it shows nothing of itself when printed or dumped.
struct CurveServerMechanism: Sendable, CustomReflectable {
    var customMirror: Mirror { Mirror(self, children: [:]) }

    enum State { case awaitingHello, awaitingInitiate, authenticating, done }

    private let permanent: (publicKey: [UInt8], secretKey: [UInt8])
    private let transient: (publicKey: [UInt8], secretKey: [UInt8])
    private let ourMetadata: Metadata
    private let random: CurveRandom
    /// A fresh symmetric key for this connection's cookie, as libzmq makes one per WELCOME.
    private let cookieKey: [UInt8]
    private var state = State.awaitingHello
    private var clientTransientKey: [UInt8] = []
    private var lastReceived: UInt64 = 0
    private var nextNonce: UInt64 = 1
    private var sharedKey: [UInt8] = []
    private var peerMetadata = Metadata()
    private(set) var cipher: CurveCipher?

    init(keyPair: CurveKeyPair, ourMetadata: Metadata, random: CurveRandom = .system) {
        Sodium.ensureInitialised()
        self.permanent = (keyPair.publicKey.bytes, keyPair.secretKey.bytes)
        self.transient = random.keyPair()
        self.ourMetadata = ourMetadata
        self.random = random
        self.cookieKey = random.bytes(32)
    }

    mutating func receive(name: String, data: [UInt8], validate: (Metadata) throws(ZMTPError) -> Void) throws(ZMTPError) -> [MechanismStep] {
        switch (state, name) {
        case (.awaitingHello, "HELLO"):
            guard data.count == 194 else { throw .malformedCommand("HELLO of \(data.count + 6) octets (200 expected)") }
            guard data[0] == 1, data[1] == 0 else { throw .malformedCommand("HELLO for CurveZMQ version \(data[0]).\(data[1]) (1.0 expected)") }
            clientTransientKey = Array(data[74..<106])
            let nonce = CurveCommand.integer(data[106..<114])
            guard Sodium.openBox(data[114...], nonce: CurveCommand.shortNonce("CurveZMQHELLO---", nonce),
                                 from: clientTransientKey, to: permanent.secretKey) != nil
            else { throw .boxDidNotOpen("HELLO") }
            lastReceived = nonce
            let cookieTail = random.bytes(16)
            let cookie = cookieTail + Sodium.secretBox(clientTransientKey + transient.secretKey,
                                                       nonce: CurveCommand.nonce("COOKIE--", cookieTail), key: cookieKey)
            let welcomeTail = random.bytes(16)
            let box = try CurveCommand.sealed(Sodium.box(transient.publicKey + cookie, nonce: CurveCommand.nonce("WELCOME-", welcomeTail),
                                 to: clientTransientKey, from: permanent.secretKey), "WELCOME")
            state = .awaitingInitiate
            return [.send(CurveCommand.frame("WELCOME", welcomeTail + box))]
        case (.awaitingInitiate, "INITIATE"):
            guard data.count >= 248 else { throw .malformedCommand("INITIATE of \(data.count + 9) octets (at least 257)") }
            guard let cookie = Sodium.openSecretBox(data[16..<96], nonce: CurveCommand.nonce("COOKIE--", Array(data[0..<16])), key: cookieKey),
                  cookie == clientTransientKey + transient.secretKey
            else { throw .boxDidNotOpen("INITIATE cookie") }
            let nonce = CurveCommand.integer(data[96..<104])
            guard let plain = Sodium.openBox(data[104...], nonce: CurveCommand.shortNonce("CurveZMQINITIATE", nonce),
                                             from: clientTransientKey, to: transient.secretKey)
            else { throw .boxDidNotOpen("INITIATE") }
            let clientKey = Array(plain[0..<32])
            guard let vouch = Sodium.openBox(plain[48..<128], nonce: CurveCommand.nonce("VOUCH---", Array(plain[32..<48])),
                                             from: clientKey, to: transient.secretKey),
                  Array(vouch[0..<32]) == clientTransientKey
            else { throw .boxDidNotOpen("INITIATE vouch") }
            peerMetadata = try CurveCommand.metadata(plain[128...])
            try validate(peerMetadata)
            guard let key = Sodium.sharedKey(publicKey: clientTransientKey, secretKey: transient.secretKey) else {
                throw .boxDidNotOpen("INITIATE")
            }
            sharedKey = key
            lastReceived = nonce
            state = .authenticating
            return [.authenticate(AuthenticationRequest(mechanism: "CURVE", credentials: [clientKey]))]
        default:
            throw .unexpectedCommand(name)
        }
    }

    mutating func authenticated(_ reply: AuthenticationReply) throws(ZMTPError) -> [MechanismStep] {
        guard state == .authenticating else { throw .unexpectedAuthentication }
        guard reply.isSuccess else { throw .authenticationRefused(status: reply.statusCode) }
        let nonce = nextNonce
        nextNonce += 1
        let box = try CurveCommand.sealed(Sodium.box(CurveCommand.metadataBytes(ourMetadata), nonce: CurveCommand.shortNonce("CurveZMQREADY---", nonce),
                             to: clientTransientKey, from: transient.secretKey), "READY")
        state = .done
        cipher = CurveCipher(key: sharedKey, isServer: true, nextNonce: nextNonce, lastReceived: lastReceived)
        return [.send(CurveCommand.frame("READY", CurveCommand.bigEndian(nonce) + box)), .complete(peerMetadata: peerMetadata)]
    }
}
#endif
