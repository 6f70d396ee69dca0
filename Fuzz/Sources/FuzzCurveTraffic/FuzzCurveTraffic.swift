import FuzzCrypto
import FuzzerDriver
import NIOCore
import ZMTP

// Structure-aware fuzzing of CURVE past its boxes. FuzzConnection's random octets never open a
// HELLO, WELCOME or INITIATE box, so nothing behind them is reached there. Here the harness plays
// the far peer itself, with fixed keys and its own NaCl calls (FuzzCrypto, over libsodium): every
// box it sends is sealed with the right keys and nonce, and the input decides what is inside,
// which nonce it carries, how the octets are split into reads, and which octet gets flipped.
//
// The `Connection` under test is a value: each kind of connection is driven once, at start-up,
// to the state an input begins in (awaiting INITIATE, awaiting WELCOME, open), and every input
// starts from a copy of that template. Its own transient keys are random per process (ZMTP makes
// them with `CurveRandom.system`, which is internal), so the ciphertexts differ between
// processes, but no branch depends on them.

// MARK: The input

/// The fuzzer's input, read front to back; past its end every octet reads as 0.
struct Program {
    let bytes: UnsafeBufferPointer<UInt8>
    var at = 0

    var isEmpty: Bool { at >= bytes.count }

    mutating func byte() -> UInt8 {
        guard at < bytes.count else { return 0 }
        defer { at += 1 }
        return bytes[at]
    }

    mutating func u16() -> Int { Int(byte()) << 8 | Int(byte()) }

    mutating func u64() -> UInt64 { (0..<8).reduce(0) { value, _ in value << 8 | UInt64(byte()) } }

    /// Up to `count` octets (fewer at the end of the input).
    mutating func take(_ count: Int) -> [UInt8] {
        let end = min(at + count, bytes.count)
        defer { at = max(at, end) }
        return at < end ? Array(bytes[at..<end]) : []
    }

    /// Exactly `count` octets, zero-padded at the end of the input.
    mutating func exactly(_ count: Int) -> [UInt8] {
        let taken = take(count)
        return taken + [UInt8](repeating: 0, count: count - taken.count)
    }

    /// A length octet and that many octets of the input; a length octet of 0xF0 or more is
    /// instead followed by a 13-bit length and one fill octet, for frames over the size limits
    /// without inputs as long.
    mutating func blob() -> [UInt8] {
        let length = byte()
        if length < 0xF0 { return take(Int(length)) }
        let count = u16() & 0x1FFF
        return [UInt8](repeating: byte(), count: count)
    }
}

// MARK: NaCl, from FuzzCrypto

enum NaCl {
    static let ready: Bool = fuzz_crypto_init() == 0

    static func publicKey(_ secret: [UInt8]) -> [UInt8] {
        var key = [UInt8](repeating: 0, count: 32)
        fuzz_crypto_public_key(&key, secret)
        return key
    }

    static func box(_ message: [UInt8], nonce: [UInt8], to publicKey: [UInt8], from secretKey: [UInt8]) -> [UInt8]? {
        var box = [UInt8](repeating: 0, count: message.count + 16)
        return fuzz_crypto_box(&box, message, message.count, nonce, publicKey, secretKey) == 0 ? box : nil
    }

    static func open(_ box: [UInt8], nonce: [UInt8], from publicKey: [UInt8], to secretKey: [UInt8]) -> [UInt8]? {
        guard box.count >= 16 else { return nil }
        var message = [UInt8](repeating: 0, count: box.count - 16)
        return fuzz_crypto_box_open(&message, box, box.count, nonce, publicKey, secretKey) == 0 ? message : nil
    }

    /// nil for a degenerate public key.
    static func sharedKey(_ publicKey: [UInt8], _ secretKey: [UInt8]) -> [UInt8]? {
        var key = [UInt8](repeating: 0, count: 32)
        return fuzz_crypto_shared_key(&key, publicKey, secretKey) == 0 ? key : nil
    }

    static func seal(_ message: [UInt8], nonce: [UInt8], key: [UInt8]) -> [UInt8] {
        var box = [UInt8](repeating: 0, count: message.count + 16)
        _ = fuzz_crypto_seal(&box, message, message.count, nonce, key)
        return box
    }

    static func open(_ box: [UInt8], nonce: [UInt8], key: [UInt8]) -> [UInt8]? {
        guard box.count >= 16 else { return nil }
        var message = [UInt8](repeating: 0, count: box.count - 16)
        return fuzz_crypto_open(&message, box, box.count, nonce, key) == 0 ? message : nil
    }
}

// MARK: Wire formats (23/ZMTP, 26/CURVEZMQ), written out here rather than taken from ZMTP

func bigEndian(_ value: UInt64) -> [UInt8] { (0..<8).map { UInt8(truncatingIfNeeded: value >> (56 - 8 * UInt64($0))) } }

func integer(_ bytes: ArraySlice<UInt8>) -> UInt64 { bytes.reduce(0) { $0 << 8 | UInt64($1) } }

func nonce(_ prefix: String, _ tail: [UInt8]) -> [UInt8] { Array(prefix.utf8) + tail }

func greeting(asServer: Bool) -> [UInt8] {
    [0xFF] + [UInt8](repeating: 0, count: 8) + [0x7F, 3, 1] + Array("CURVE".utf8) + [UInt8](repeating: 0, count: 15)
        + [asServer ? 1 : 0] + [UInt8](repeating: 0, count: 31)
}

/// A whole frame: flags (MORE 1, COMMAND 4; LONG is added when needed or asked for), size, body.
func frame(_ body: [UInt8], flags: UInt8 = 0, long: Bool = false) -> [UInt8] {
    if long || body.count > 255 { return [flags | 2] + bigEndian(UInt64(body.count)) + body }
    return [flags, UInt8(body.count)] + body
}

/// A command's body: name length, name, data.
func commandBody(_ name: String, _ data: [UInt8]) -> [UInt8] { [UInt8(name.utf8.count)] + Array(name.utf8) + data }

func command(_ name: String, _ data: [UInt8]) -> [UInt8] { frame(commandBody(name, data), flags: 4) }

func property(_ name: String, _ value: [UInt8]) -> [UInt8] {
    [UInt8(name.utf8.count)] + Array(name.utf8) + bigEndian(UInt64(value.count)).suffix(4) + value
}

/// Every whole frame in `octets`; nil when they are not whole frames with nothing left over.
func frames(_ octets: ByteBuffer) -> [WireFrame]? {
    var buffer = octets
    var decoder = FrameDecoder()
    var result: [WireFrame] = []
    do {
        while let frame = try decoder.next(from: &buffer) { result.append(frame) }
    } catch {
        return nil
    }
    return decoder.hasPartialFrame ? nil : result
}

func decodeMetadata(_ octets: ArraySlice<UInt8>) -> Metadata? {
    var buffer = ByteBuffer(bytes: octets)
    return try? Metadata.decode(from: &buffer)
}

func flip(_ octets: inout [UInt8], at position: Int, mask: UInt8) {
    guard !octets.isEmpty else { return }
    octets[position % octets.count] ^= mask | 1
}

// MARK: Keys and configurations

/// Fixed keys: the permanent pairs of both ends, and the transients of the harness's own side.
enum Keys {
    static let serverSecret = (0..<32).map { UInt8(truncatingIfNeeded: $0 &* 7 &+ 1) }
    static let clientSecret = (0..<32).map { UInt8(truncatingIfNeeded: $0 &* 13 &+ 5) }
    /// The harness's transient key as a client (against a real server).
    static let clientTransientSecret = (0..<32).map { UInt8(truncatingIfNeeded: $0 &* 29 &+ 11) }
    /// The harness's transient key as a server (against a real client).
    static let serverTransientSecret = (0..<32).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ 3) }
    static let server = try! CurveKeyPair(secretKey: CurveSecretKey(bytes: serverSecret))
    static let client = try! CurveKeyPair(secretKey: CurveSecretKey(bytes: clientSecret))
    static let clientTransient = NaCl.publicKey(clientTransientSecret)
    static let serverTransient = NaCl.publicKey(serverTransientSecret)
}

/// nil (no limit), 4096, 100 and 0 octets.
let limits: [Int?] = [nil, 4096, 100, 0]
/// (server, client): a pair that announces no Identity, and one that does.
let pairs: [(server: SocketType, client: SocketType)] = [(.pull, .push), (.router, .dealer)]
let heartbeat = Heartbeat.Configuration(interval: .milliseconds(1000), timeout: .milliseconds(3000), ttl: .milliseconds(2000))
let origin = NIODeadline.uptimeNanoseconds(1_000_000_000_000)

func configuration(server: Bool, limit: Int?, pair: Int) -> Connection.Configuration {
    let type = server ? pairs[pair].server : pairs[pair].client
    let security: Security = server ? .curveServer(keyPair: Keys.server) : .curveClient(serverKey: Keys.server.publicKey, keyPair: Keys.client)
    return Connection.Configuration(socketType: type, identity: type.announcesIdentity ? [1, 2, 3] : [], maxMessageSize: limit,
                                    heartbeat: heartbeat, security: security)
}

// MARK: The harness's side of the traffic

/// Our end of the MESSAGE traffic: the shared key, and the nonces each way.
struct PeerCipher {
    let key: [UInt8]
    let sendPrefix: String
    let receivePrefix: String
    /// The short nonce of what we sent last (the next MESSAGE takes this + 1 unless told otherwise).
    var lastSent: UInt64
    /// The connection's last short nonce: what it writes must go on strictly increasing.
    var lastReceived: UInt64

    init(key: [UInt8], weAreServer: Bool, lastSent: UInt64, lastReceived: UInt64) {
        self.key = key
        sendPrefix = weAreServer ? "CurveZMQMESSAGES" : "CurveZMQMESSAGEC"
        receivePrefix = weAreServer ? "CurveZMQMESSAGEC" : "CurveZMQMESSAGES"
        self.lastSent = lastSent
        self.lastReceived = lastReceived
    }

    /// A MESSAGE body: name, short nonce, box of the inner flags octet and the payload.
    func seal(_ plain: [UInt8], nonce counter: UInt64) -> [UInt8] {
        [7] + Array("MESSAGE".utf8) + bigEndian(counter) + NaCl.seal(plain, nonce: nonce(sendPrefix, bigEndian(counter)), key: key)
    }

    /// Opens a MESSAGE the connection wrote; nil if it is not one, does not open, or replays a nonce.
    mutating func open(_ body: ByteBuffer) -> (flags: UInt8, payload: [UInt8])? {
        let octets = Array(body.readableBytesView)
        guard octets.count >= 33, octets.prefix(8).elementsEqual([7] + Array("MESSAGE".utf8)) else { return nil }
        let counter = integer(octets[8..<16])
        guard counter > lastReceived,
              let plain = NaCl.open(Array(octets[16...]), nonce: nonce(receivePrefix, bigEndian(counter)), key: key)
        else { return nil }
        lastReceived = counter
        return (plain[0], Array(plain[1...]))
    }
}

// MARK: What the shell relies on

/// Carries out the connection's actions as the I/O shell (ZMQ's ZMTPEngine) would, and traps on
/// any it could not carry out.
final class Shell {
    let isServer: Bool
    let ourType: SocketType
    let limit: Int?
    /// Our end of the traffic, once the handshake's keys are known (set before the handshake ends).
    var peer: PeerCipher?
    var opened = false
    var closed = false
    var asked = false
    /// The authenticator's answer the input chose (server only).
    var reply = AuthenticationReply.accepted
    /// What the connection wrote before the handshake completed, for the harness to answer.
    var handshakeWrites: [ByteBuffer] = []
    /// The contexts of the PINGs we sent: a PONG must echo one of them.
    var pingContexts: [[UInt8]] = []
    var delivered = 0

    init(isServer: Bool, ourType: SocketType, limit: Int?) {
        self.isServer = isServer
        self.ourType = ourType
        self.limit = limit
    }

    func message(_ message: Message) {
        precondition(opened, "a message before the handshake completed")
        precondition(!closed, "a message after close")
        precondition(message.count >= 1, "a message of no frames")
        if let limit {
            precondition(message.byteCount <= limit, "a message of \(message.byteCount) octets over the maximum of \(limit)")
        }
        delivered += 1
    }

    func command(_ command: Command) {
        precondition(opened && !closed, "a command outside the open connection")
        switch command {
        case .subscribe, .cancel: break
        default: preconditionFailure("a .command action that is not SUBSCRIBE or CANCEL: \(command.name)")
        }
    }

    func authenticate(_ request: AuthenticationRequest) {
        precondition(isServer, "a CURVE client asked to authenticate")
        precondition(!opened && !closed && !asked, "authentication asked twice or outside the handshake")
        precondition(request.mechanism == "CURVE" && request.credentials.count == 1 && request.credentials[0].count == 32,
                     "a CURVE request without the client's 32-octet key")
        asked = true
    }

    func complete(_ info: PeerInfo) {
        precondition(!opened && !closed, "a second handshakeComplete, or one after close")
        precondition(info.mechanism == "CURVE" && info.minorVersion == 1)
        precondition(ourType.isCompatible(with: info.socketType), "an incompatible peer let through: \(info.socketType)")
        precondition((info.identity?.count ?? 0) <= 255, "an Identity over 255 octets let through")
        precondition(info.identity == nil || info.socketType.announcesIdentity)
        if isServer {
            precondition(asked && info.authentication == reply && reply.isSuccess, "opened without the authenticator's yes")
            precondition(peer?.lastReceived ?? 0 > 0, "opened before READY was written")
        } else {
            precondition(info.authentication == nil)
        }
        opened = true
    }

    /// A write asked for by `receive`: a handshake command before the handshake completes, then
    /// (the shell treats every such write as one) only PONGs, sealed as MESSAGEs.
    func write(_ octets: ByteBuffer) {
        precondition(!closed, "a write after close")
        precondition(octets.readableBytes > 0, "an empty write")
        guard opened else {
            if isServer { serverHandshakeWrite(octets) }
            handshakeWrites.append(octets)
            return
        }
        guard case .pong(let context) = sealedCommand(octets) else { preconditionFailure("a write after the handshake that is not a PONG") }
        precondition(pingContexts.contains(context), "a PONG with a context no PING sent")
    }

    /// A write asked for by `heartbeatTick`: only a sealed PING.
    func tickWrite(_ octets: ByteBuffer) {
        precondition(opened && !closed)
        guard case .ping = sealedCommand(octets) else { preconditionFailure("a heartbeat write that is not a PING") }
    }

    /// The one boxed command in `octets`, which must be one MESSAGE that opens under our key.
    private func sealedCommand(_ octets: ByteBuffer) -> Command {
        guard let written = frames(octets), written.count == 1, written[0].flags.subtracting(.long).isEmpty else {
            preconditionFailure("a write after the handshake that is not one MESSAGE frame with outer flags 0")
        }
        guard let (flags, payload) = peer!.open(written[0].body) else {
            preconditionFailure("a MESSAGE written that does not open, or whose nonce does not increase")
        }
        precondition(flags == 0x02, "a command written without the COMMAND flag alone (flags \(flags))")
        guard let command = try? Command(parsing: ByteBuffer(bytes: payload)) else { preconditionFailure("a boxed command that does not parse") }
        return command
    }

    /// The server's READY: it must open with the keys of the handshake and carry our Socket-Type.
    private func serverHandshakeWrite(_ octets: ByteBuffer) {
        guard let peer, let written = frames(octets), written.count == 1, written[0].flags == .command else { return }
        let body = Array(written[0].body.readableBytesView)
        guard body.starts(with: commandBody("READY", [])) else { return }
        precondition(body.count >= 6 + 8 + 16, "a short READY")
        let counter = integer(body[6..<14])
        guard let plain = NaCl.open(Array(body[14...]), nonce: nonce("CurveZMQREADY---", bigEndian(counter)), key: peer.key),
              let metadata = decodeMetadata(plain[...]),
              metadata["Socket-Type"] == Array(ourType.rawValue.utf8)
        else { preconditionFailure("the server's READY does not open, or lacks its Socket-Type") }
        precondition(counter > 0)
        self.peer!.lastReceived = counter
    }

    func close(_ error: ZMTPError, farewell: ByteBuffer?) {
        precondition(!closed, "a second close")
        if let farewell {
            // An ERROR in clear text: only during the handshake, where commands are not boxed.
            precondition(!opened, "a clear-text farewell after the handshake: \(error)")
            guard let written = frames(farewell), written.count == 1, written[0].flags == .command,
                  case .error? = try? Command(parsing: written[0].body)
            else { preconditionFailure("a farewell that is not one ERROR command") }
        }
        closed = true
    }
}

// MARK: One run

/// The connection under test, the shell around it, and how the input drives them.
struct Run {
    var connection: Connection
    let shell: Shell
    let deliver: Bool
    let heartbeats: Bool
    /// Answer the authenticator after the read, as the shell does with an installed
    /// authenticator, rather than at once, as it does without one.
    var deferredAuthentication = false
    var now = origin
    /// Octets to send, not yet handed to the connection.
    var wire: [UInt8] = []

    /// Hands `wire` to the connection as one read, or as reads of `chunk` octets: at most 64 of
    /// them, then the rest in one (an 8 KiB frame in one-octet reads costs much and finds no more).
    mutating func flush(chunk: Int = 0) {
        var octets = ByteBuffer(bytes: wire)
        wire = []
        var reads = 0
        while !shell.closed {
            reads += 1
            let length = chunk == 0 || reads > 64 ? octets.readableBytes : min(chunk, octets.readableBytes)
            read(octets.readSlice(length: length)!)
            if octets.readableBytes == 0 { break }
        }
    }

    /// One read: `receive` until `.needMoreData`, carrying out each action.
    mutating func read(_ octets: ByteBuffer) {
        guard !shell.closed else { return }
        if heartbeats { connection.trafficReceived(at: now) }
        var buffer = octets
        var answer: AuthenticationReply?
        pump(&buffer, answerLater: &answer)
        if let answer {
            connection.authenticated(answer)
            var nothing = ByteBuffer()
            var again: AuthenticationReply?
            pump(&nothing, answerLater: &again)
            precondition(again == nil)
        }
    }

    private mutating func pump(_ buffer: inout ByteBuffer, answerLater: inout AuthenticationReply?) {
        guard !shell.closed else { return }
        let shell = self.shell
        // Every action but the last consumes input or a queued action: a bounded number per read.
        let bound = 2 * buffer.readableBytes + 64
        var steps = 0
        while true {
            steps += 1
            precondition(steps <= bound, "the state machine kept producing actions")
            var delivered = MessageQueue()
            let action = deliver ? connection.receive(&buffer, into: &delivered) : connection.receive(&buffer)
            for message in delivered { shell.message(message) }
            switch action {
            case .needMoreData:
                precondition(buffer.readableBytes == 0, "needMoreData left octets unread")
                return
            case .write(let octets):
                shell.write(octets)
            case .authenticate(let request):
                shell.authenticate(request)
                if deferredAuthentication {
                    answerLater = shell.reply
                } else {
                    connection.authenticated(shell.reply)
                }
            case .handshakeComplete(let info):
                shell.complete(info)
                if heartbeats { connection.startHeartbeat(now: now) }
            case .message(let message):
                shell.message(message)
            case .command(let command):
                shell.command(command)
            case .close(let error, let farewell):
                shell.close(error, farewell: farewell)
                checkClosed()
                return
            }
        }
    }

    /// A closed connection takes nothing more (not even a MESSAGE that would open) and asks for
    /// nothing more.
    private mutating func checkClosed() {
        var more = ByteBuffer(bytes: frame([7] + Array("MESSAGE".utf8) + bigEndian(.max) + [UInt8](repeating: 0, count: 20)))
        guard case .needMoreData = connection.receive(&more), more.readableBytes == 0 else { preconditionFailure("an action after close") }
        connection.authenticated(.accepted)
        var nothing = ByteBuffer()
        var delivered = MessageQueue()
        guard case .needMoreData = connection.receive(&nothing, into: &delivered), delivered.isEmpty else {
            preconditionFailure("an action or a delivery after close")
        }
        precondition(connection.heartbeatTick(now: now + .seconds(3600)) == nil, "a heartbeat after close")
        precondition(!connection.isOpen)
    }

    mutating func tick(_ program: inout Program) {
        now = now + .milliseconds(Int64(program.byte()) * 20)
        guard !shell.closed else { return }
        switch connection.heartbeatTick(now: now) {
        case nil: break
        case .write(let ping)?: shell.tickWrite(ping)
        case .close(let error, let farewell)?:
            guard case .heartbeatTimeout = error, farewell == nil else { preconditionFailure("a heartbeat close for \(error)") }
            shell.close(error, farewell: farewell)
            checkClosed()
        case let other?: preconditionFailure("heartbeatTick returned \(other)")
        }
    }

    // MARK: Traffic

    /// The rest of the input as a sequence of operations on the traffic we send. Each starts
    /// with an operation octet: bits 0-2 the operation; for the four that send a MESSAGE, bits 3-4
    /// its nonce (0 the next, 1 skip ahead by an input octet, 2 the same as the last, 3 eight
    /// input octets), bit 5 flip an input-chosen octet of the box, bit 6 the long frame form,
    /// bit 7 the outer MORE flag (CURVE ignores outer flags).
    mutating func traffic(_ program: inout Program) {
        while !program.isEmpty && !shell.closed {
            let op = program.byte()
            switch op & 7 {
            case 0: send(op, plain: [0x00] + program.blob(), &program)
            case 1: send(op, plain: [0x01] + program.blob(), &program)
            case 2: send(op, plain: [program.byte()] + program.blob(), &program)
            case 3: send(op, plain: boxedCommand(&program), &program)
            case 4:
                // A read boundary here: what is pending goes in reads of (op >> 3) octets, 0 one read.
                flush(chunk: Int(op >> 3))
            case 5: wire += malformed(&program)
            case 6:
                // Flip an octet of what is pending (header, nonce, MAC or box).
                var pending = wire
                flip(&pending, at: program.u16(), mask: program.byte())
                wire = pending
            default: tick(&program)
            }
        }
        flush()
    }

    private mutating func send(_ op: UInt8, plain: [UInt8], _ program: inout Program) {
        guard var peer = shell.peer else { return }
        let counter: UInt64
        switch (op >> 3) & 3 {
        case 0: counter = peer.lastSent &+ 1
        case 1: counter = peer.lastSent &+ 2 &+ UInt64(program.byte())
        case 2: counter = peer.lastSent
        default: counter = program.u64()
        }
        peer.lastSent = counter
        shell.peer = peer
        // Whatever the way it was made, a boxed PING may be answered: note its context.
        if plain.first.map({ $0 & 0x02 != 0 }) == true, case .ping(_, let context)? = try? Command(parsing: ByteBuffer(bytes: plain.dropFirst())) {
            shell.pingContexts.append(context)
        }
        var body = peer.seal(plain, nonce: counter)
        if op & 0x20 != 0 { flip(&body, at: 16 + Int(program.byte()), mask: program.byte()) }
        wire += frame(body, flags: op & 0x80 != 0 ? 1 : 0, long: op & 0x40 != 0)
    }

    /// The plaintext of a boxed command: the COMMAND flag (with MORE on odd choices), then one of
    /// SUBSCRIBE, CANCEL, PING, PONG, ERROR, READY, an unknown name, or raw octets.
    private mutating func boxedCommand(_ program: inout Program) -> [UInt8] {
        let choice = program.byte()
        let flags: UInt8 = choice & 0x80 != 0 ? 0x03 : 0x02
        switch choice & 7 {
        case 0: return [flags] + commandBody("SUBSCRIBE", program.blob())
        case 1: return [flags] + commandBody("CANCEL", program.blob())
        case 2:
            let ttl = program.take(2)
            return [flags] + commandBody("PING", ttl + program.take(Int(program.byte() % 20)))
        case 3: return [flags] + commandBody("PONG", program.take(Int(program.byte() % 20)))
        case 4: return [flags] + commandBody("ERROR", program.blob())
        case 5: return [flags] + commandBody("READY", program.blob())
        case 6: return [flags] + commandBody(String(decoding: program.take(Int(program.byte() % 12) + 1), as: UTF8.self), program.blob())
        default: return [flags] + program.blob()
        }
    }

    /// Frames no sealed traffic should contain.
    private mutating func malformed(_ program: inout Program) -> [UInt8] {
        let choice = program.byte()
        switch choice & 7 {
        case 0: return frame(program.blob())                                     // a clear-text message frame
        case 1: return frame([7] + Array("MESSAGE".utf8) + program.take(Int(program.byte() % 40)))  // a short MESSAGE
        case 2: return frame([7] + Array("MESSAGF".utf8) + program.exactly(8) + program.blob())  // another name
        case 3: return command("PING", [0, 10])                                   // a clear-text command
        case 4: return frame(program.blob(), flags: 4)                            // a raw command frame
        case 5: return [program.byte() & 0x07, program.byte()]                    // a bare header
        case 6: return [0x02] + program.exactly(8)                                // a long header (huge sizes)
        default: return program.blob()                                            // raw octets
        }
    }
}

// MARK: Metadata from the input

/// INITIATE or READY metadata: 0 raw octets; 1 our peer's Socket-Type, then raw octets; 2 and 3
/// properties from a small vocabulary (3 starting with the right Socket-Type).
func fuzzedMetadata(_ kind: UInt8, peerType: SocketType, _ program: inout Program) -> [UInt8] {
    let socketType = property("Socket-Type", Array(peerType.rawValue.utf8))
    switch kind & 3 {
    case 0: return program.blob()
    case 1: return socketType + program.blob()
    default:
        var out = kind & 3 == 3 ? socketType : []
        for _ in 0..<Int(program.byte() % 8) {
            let choice = program.byte()
            switch choice % 8 {
            case 0: out += socketType
            case 1: out += property("Socket-Type", program.blob())
            case 2: out += property("Identity", program.blob())
            case 3: out += property("User-Id", program.blob())
            case 4: out += property(String(decoding: program.take(Int(program.byte() % 16) + 1), as: UTF8.self), program.blob())
            case 5:
                // A property whose value length runs past the end.
                out += [8] + Array("Resource".utf8) + program.exactly(4) + program.blob()
            case 6: out += [0] + program.blob()                                  // an empty name
            default: out += property("Socket-Type", Array(pairs[Int(choice >> 3) % 2].client.rawValue.utf8))
            }
        }
        return out
    }
}

// MARK: Templates

/// A real CURVE server after our HELLO: it sent WELCOME and awaits INITIATE.
struct ServerTemplate {
    var connection: Connection
    let limit: Int?
    let pair: Int
    /// The server's transient public key and cookie, from its WELCOME.
    let serverTransient: [UInt8]
    let cookie: [UInt8]
    /// Our transient secret with its transient public key.
    let key: [UInt8]
    /// A vouch that opens: our permanent key speaks for our transient key to this server.
    let vouchTail: [UInt8]
    let vouch: [UInt8]
}

/// A real CURVE client after its HELLO: it awaits WELCOME.
struct ClientTemplate {
    var connection: Connection
    let limit: Int?
    let pair: Int
    let clientTransient: [UInt8]
    /// Our permanent secret with its transient public key (WELCOME), our transient secret with
    /// it (READY, traffic).
    let welcomeKey: [UInt8]
    let key: [UInt8]
}

/// An open connection and our end of its traffic.
struct OpenTemplate {
    var connection: Connection
    let limit: Int?
    let pair: Int
    let peer: PeerCipher
}

/// Drives `connection` over `octets` at start-up, returning what it wrote; traps on anything else.
func drive(_ connection: inout Connection, _ octets: [UInt8], reply: AuthenticationReply = .accepted) -> [ByteBuffer] {
    var buffer = ByteBuffer(bytes: octets)
    var writes: [ByteBuffer] = []
    while true {
        switch connection.receive(&buffer) {
        case .needMoreData: return writes
        case .write(let octets): writes.append(octets)
        case .authenticate: connection.authenticated(reply)
        case .handshakeComplete: break
        case let other: fatalError("template: unexpected \(other)")
        }
    }
}

func hello() -> [UInt8] {
    let signature = NaCl.box([UInt8](repeating: 0, count: 64), nonce: nonce("CurveZMQHELLO---", bigEndian(1)),
                             to: Keys.server.publicKey.bytes, from: Keys.clientTransientSecret)!
    return command("HELLO", [1, 0] + [UInt8](repeating: 0, count: 72) + Keys.clientTransient + bigEndian(1) + signature)
}

func makeServerTemplate(limit: Int?, pair: Int) -> ServerTemplate {
    var connection = Connection(configuration: configuration(server: true, limit: limit, pair: pair))
    _ = connection.start()
    let writes = drive(&connection, greeting(asServer: false) + hello())
    let welcome = Array(frames(writes[0])![0].body.readableBytesView)
    precondition(welcome.count == 168 && welcome.starts(with: commandBody("WELCOME", [])))
    let opened = NaCl.open(Array(welcome[24...]), nonce: nonce("WELCOME-", Array(welcome[8..<24])),
                           from: Keys.server.publicKey.bytes, to: Keys.clientTransientSecret)!
    let serverTransient = Array(opened[0..<32])
    let vouchTail = [UInt8](repeating: 0x56, count: 16)
    let vouch = NaCl.box(Keys.clientTransient + Keys.server.publicKey.bytes, nonce: nonce("VOUCH---", vouchTail),
                         to: serverTransient, from: Keys.clientSecret)!
    return ServerTemplate(connection: connection, limit: limit, pair: pair, serverTransient: serverTransient,
                          cookie: Array(opened[32..<128]), key: NaCl.sharedKey(serverTransient, Keys.clientTransientSecret)!,
                          vouchTail: vouchTail, vouch: vouch)
}

func makeClientTemplate(limit: Int?, pair: Int) -> ClientTemplate {
    var connection = Connection(configuration: configuration(server: false, limit: limit, pair: pair))
    _ = connection.start()
    let writes = drive(&connection, greeting(asServer: true))
    let hello = Array(frames(writes[0])![0].body.readableBytesView)
    precondition(hello.count == 200 && hello.starts(with: commandBody("HELLO", [1, 0])))
    let clientTransient = Array(hello[80..<112])
    return ClientTemplate(connection: connection, limit: limit, pair: pair, clientTransient: clientTransient,
                          welcomeKey: NaCl.sharedKey(clientTransient, Keys.serverSecret)!,
                          key: NaCl.sharedKey(clientTransient, Keys.serverTransientSecret)!)
}

/// INITIATE from us: cookie, short nonce, box of our permanent key, the vouch and metadata.
func initiate(_ template: ServerTemplate, counter: UInt64, permanent: [UInt8], vouchTail: [UInt8], vouch: [UInt8], metadata: [UInt8]) -> [UInt8] {
    let plain = permanent + vouchTail + vouch + metadata
    return command("INITIATE", template.cookie + bigEndian(counter)
                   + NaCl.seal(plain, nonce: nonce("CurveZMQINITIATE", bigEndian(counter)), key: template.key))
}

/// WELCOME from us: a long nonce and the box of our transient public key and a cookie.
func welcome(_ template: ClientTemplate, transient: [UInt8]) -> [UInt8] {
    let tail = [UInt8](repeating: 0x57, count: 16)
    let cookie = [UInt8](repeating: 0xC0, count: 96)
    return command("WELCOME", tail + NaCl.seal(transient + cookie, nonce: nonce("WELCOME-", tail), key: template.welcomeKey))
}

/// READY from us: a short nonce and the box of our metadata.
func ready(key: [UInt8], counter: UInt64, metadata: [UInt8]) -> [UInt8] {
    command("READY", bigEndian(counter) + NaCl.seal(metadata, nonce: nonce("CurveZMQREADY---", bigEndian(counter)), key: key))
}

let templates: (servers: [ServerTemplate], clients: [ClientTemplate], openServers: [OpenTemplate], openClients: [OpenTemplate]) = {
    precondition(NaCl.ready)
    var servers: [ServerTemplate] = [], clients: [ClientTemplate] = []
    var openServers: [OpenTemplate] = [], openClients: [OpenTemplate] = []
    for pair in pairs.indices {
        for limit in limits {
            let server = makeServerTemplate(limit: limit, pair: pair)
            servers.append(server)
            var connection = server.connection
            let metadata = property("Socket-Type", Array(pairs[pair].client.rawValue.utf8))
                + (pairs[pair].client.announcesIdentity ? property("Identity", [9]) : [])
            _ = drive(&connection, initiate(server, counter: 2, permanent: Keys.client.publicKey.bytes, vouchTail: server.vouchTail,
                                            vouch: server.vouch, metadata: metadata))
            precondition(connection.isOpen)
            openServers.append(OpenTemplate(connection: connection, limit: limit, pair: pair,
                                            peer: PeerCipher(key: server.key, weAreServer: false, lastSent: 2, lastReceived: 1)))

            let client = makeClientTemplate(limit: limit, pair: pair)
            clients.append(client)
            connection = client.connection
            _ = drive(&connection, welcome(client, transient: Keys.serverTransient)
                      + ready(key: client.key, counter: 1, metadata: property("Socket-Type", Array(pairs[pair].server.rawValue.utf8))))
            precondition(connection.isOpen)
            openClients.append(OpenTemplate(connection: connection, limit: limit, pair: pair,
                                            peer: PeerCipher(key: client.key, weAreServer: true, lastSent: 1, lastReceived: 2)))
        }
    }
    return (servers, clients, openServers, openClients)
}()

// MARK: The modes

/// Mode A: a real server, our INITIATE. Octet 1: bits 0-1 the metadata kind (`fuzzedMetadata`),
/// bit 2 a vouch over input octets instead of our transient key, bit 3 an input-chosen permanent
/// key, bit 4 an input-chosen INITIATE nonce (else 2), bit 5 the authenticator says no, bit 6 it
/// answers after the read, bit 7 flip an input-chosen octet of INITIATE. Then the metadata, then
/// a chunk octet for the INITIATE's read, then traffic (which may share INITIATE's read).
func serverHandshake(_ template: ServerTemplate, _ run: inout Run, _ program: inout Program) {
    let choice = program.byte()
    let pair = pairs[template.pair]
    var vouch = template.vouch
    if choice & 0x04 != 0 {
        vouch = NaCl.box(program.exactly(64), nonce: nonce("VOUCH---", template.vouchTail), to: template.serverTransient, from: Keys.clientSecret)!
    }
    let permanent = choice & 0x08 != 0 ? program.exactly(32) : Keys.client.publicKey.bytes
    let counter = choice & 0x10 != 0 ? program.u64() : 2
    run.shell.reply = choice & 0x20 != 0 ? .denied : .accepted
    run.deferredAuthentication = choice & 0x40 != 0
    let metadata = fuzzedMetadata(choice, peerType: pair.client, &program)
    var command = initiate(template, counter: counter, permanent: permanent, vouchTail: template.vouchTail, vouch: vouch, metadata: metadata)
    if choice & 0x80 != 0 { flip(&command, at: program.u16(), mask: program.byte()) }
    // Our traffic continues from INITIATE's nonce; READY's sets what the server's writes start after.
    run.shell.peer = PeerCipher(key: template.key, weAreServer: false, lastSent: counter, lastReceived: 0)
    let chunk = Int(program.byte() & 0x3F)
    run.wire = command
    if chunk & 0x20 == 0 { run.flush(chunk: chunk) }   // else INITIATE shares a read with the traffic
}

/// Mode C: a real client, our WELCOME and READY. Octet 1: bits 0-1 READY's metadata kind, bit 2
/// our transient secret from the input (a valid handshake with another key), bit 3 WELCOME
/// carries an input-chosen transient public key (degenerate ones included), bit 4 READY's nonce
/// from the input (else 1), bit 5 flip an octet of WELCOME, bit 6 of READY, bit 7 WELCOME and
/// READY in one read (else WELCOME alone first, as a server that waits for INITIATE sends it).
func clientHandshake(_ template: ClientTemplate, _ run: inout Run, _ program: inout Program) {
    let choice = program.byte()
    let pair = pairs[template.pair]
    var transientSecret = Keys.serverTransientSecret
    var transient = Keys.serverTransient
    var key = template.key
    if choice & 0x04 != 0 {
        transientSecret = program.exactly(32)
        transient = NaCl.publicKey(transientSecret)
        key = NaCl.sharedKey(template.clientTransient, transientSecret) ?? key
    }
    if choice & 0x08 != 0 { transient = program.exactly(32) }
    let counter = choice & 0x10 != 0 ? program.u64() : 1
    var welcomeCommand = welcome(template, transient: transient)
    if choice & 0x20 != 0 { flip(&welcomeCommand, at: program.u16(), mask: program.byte()) }
    let metadata = fuzzedMetadata(choice, peerType: pair.server, &program)
    var readyCommand = ready(key: key, counter: counter, metadata: metadata)
    if choice & 0x40 != 0 { flip(&readyCommand, at: program.u16(), mask: program.byte()) }
    run.shell.peer = PeerCipher(key: key, weAreServer: true, lastSent: counter, lastReceived: 2)
    run.wire = welcomeCommand
    if choice & 0x80 == 0 {
        run.flush()
        checkInitiate(template, run.shell, key: key, transientSecret: transientSecret, valid: choice & 0x28 == 0)
    }
    run.wire += readyCommand
    run.flush(chunk: Int(program.byte() & 0x1F))
    if choice & 0x80 != 0 { checkInitiate(template, run.shell, key: key, transientSecret: transientSecret, valid: choice & 0x28 == 0) }
}

/// The client's INITIATE, after a WELCOME that opens: our cookie, nonce 2, a box that opens with
/// the client's permanent key, a vouch for its transient key to us, and its Socket-Type.
func checkInitiate(_ template: ClientTemplate, _ shell: Shell, key: [UInt8], transientSecret: [UInt8], valid: Bool) {
    guard valid else { return }
    let initiates = shell.handshakeWrites.compactMap { frames($0)?.first }.map { Array($0.body.readableBytesView) }
        .filter { $0.starts(with: commandBody("INITIATE", [])) }
    precondition(initiates.count == 1, "the client answered a good WELCOME with \(initiates.count) INITIATEs")
    let body = initiates[0]
    precondition(body.count >= 9 + 96 + 8 + 16 + 128)
    precondition(body[9..<105].elementsEqual([UInt8](repeating: 0xC0, count: 96)), "INITIATE does not echo the cookie")
    precondition(integer(body[105..<113]) == 2, "INITIATE's short nonce is not 2")
    guard let plain = NaCl.open(Array(body[113...]), nonce: nonce("CurveZMQINITIATE", bigEndian(2)), key: key) else {
        preconditionFailure("the client's INITIATE does not open")
    }
    precondition(plain[0..<32].elementsEqual(Keys.client.publicKey.bytes))
    guard let vouch = NaCl.open(Array(plain[48..<128]), nonce: nonce("VOUCH---", Array(plain[32..<48])),
                                from: Keys.client.publicKey.bytes, to: transientSecret)
    else { preconditionFailure("the client's vouch does not open") }
    precondition(vouch[0..<32].elementsEqual(template.clientTransient) && vouch[32..<64].elementsEqual(Keys.server.publicKey.bytes))
    guard let decoded = decodeMetadata(plain[128...]), decoded["Socket-Type"] == Array(pairs[template.pair].client.rawValue.utf8)
    else { preconditionFailure("the client's INITIATE metadata") }
}

/// Input: octet 0 the selector: bits 0-1 the mode (0 A: a real server, our INITIATE, then
/// traffic; 1 B: an open server, our traffic; 2 C: a real client, our WELCOME and READY, then
/// traffic; 3 D: an open client, our traffic), bits 2-3 the maximum message size (none, 4096,
/// 100, 0), bit 4 the socket types (PUSH to PULL, or DEALER to ROUTER), bit 5 messages through
/// `receive(_:into:)`, bit 6 heartbeats on. Then the mode's octets (see `serverHandshake`,
/// `clientHandshake`) and the traffic (`Run.traffic`).
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    guard size > 0 else { return 0 }
    var program = Program(bytes: UnsafeBufferPointer(start: data, count: size))
    let selector = program.byte()
    let mode = selector & 3
    let index = Int(selector >> 4 & 1) * limits.count + Int(selector >> 2 & 3)
    let deliver = selector & 0x20 != 0
    let heartbeats = selector & 0x40 != 0
    let isServer = mode < 2
    let pair = pairs[Int(selector >> 4 & 1)]
    let shell = Shell(isServer: isServer, ourType: isServer ? pair.server : pair.client, limit: limits[Int(selector >> 2 & 3)])
    switch mode {
    case 0:
        let template = templates.servers[index]
        var run = Run(connection: template.connection, shell: shell, deliver: deliver, heartbeats: heartbeats)
        serverHandshake(template, &run, &program)
        run.traffic(&program)
    case 2:
        let template = templates.clients[index]
        var run = Run(connection: template.connection, shell: shell, deliver: deliver, heartbeats: heartbeats)
        clientHandshake(template, &run, &program)
        run.traffic(&program)
    default:
        let template = mode == 1 ? templates.openServers[index] : templates.openClients[index]
        shell.opened = true
        shell.asked = true
        shell.peer = template.peer
        var run = Run(connection: template.connection, shell: shell, deliver: deliver, heartbeats: heartbeats)
        if heartbeats { run.connection.startHeartbeat(now: origin) }
        run.traffic(&program)
    }
    return 0
}

/// SwiftPM makes the linker's `main` this symbol (`--defsym main=FuzzCurveTraffic_main`); libFuzzer's
/// own main is then not linked, so hand the command line to its driver.
@_cdecl("FuzzCurveTraffic_main")
public func fuzzerMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    var argc = argc
    var argv = argv
    // Built before the first input (kept for the whole run; see fuzz_ignore_leaks_begin).
    fuzz_ignore_leaks_begin()
    _ = templates
    fuzz_ignore_leaks_end()
    return LLVMFuzzerRunDriver(&argc, &argv) { data, size in fuzz(data!, size) }
}
