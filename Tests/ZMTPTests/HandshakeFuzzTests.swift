import NIOCore
import Testing
@testable import ZMTP

/// Random and mutated octets through every mechanism's handshake, with no socket: nothing may
/// crash, and what a connection keeps stays bounded. (The libFuzzer targets go further; this
/// runs on every test run.)
@Suite("Handshake fuzzing")
struct HandshakeFuzzTests {
    /// A small deterministic generator (SplitMix64), so a failure can be replayed.
    struct Generator: RandomNumberGenerator {
        var state: UInt64
        mutating func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
    }

    /// Each case: a name, the connection every input starts from (a copy), and the seed its
    /// mutations start from.
    static var cases: [(name: String, template: Connection, seed: [UInt8])] {
        var all = mechanisms.map { name, configuration in
            (name: name, template: Connection(configuration: configuration), seed: seed(for: configuration))
        }
        #if CURVE
        all += curveSnapshots()
        #endif
        return all
    }

    #if CURVE
    /// CURVE past the first box: each side as it stands after HELLO, seeded with what a real
    /// peer sends next (INITIATE and sealed MESSAGEs to the server; WELCOME, READY and sealed
    /// MESSAGEs to the client). Unmutated, a seed opens the connection and delivers messages;
    /// mutated, it reaches INITIATE's vouch and metadata and the MESSAGE path (nonces, boxes,
    /// flags), which random octets never can.
    static func curveSnapshots() -> [(name: String, template: Connection, seed: [UInt8])] {
        let serverKeys = try! CurveKeyPair.generate()
        var client = Connection(configuration: .init(socketType: .dealer, security: .curveClient(serverKey: serverKeys.publicKey, keyPair: try! CurveKeyPair.generate())))
        var server = Connection(configuration: .init(socketType: .router, security: .curveServer(keyPair: serverKeys)))
        /// Feeds `octets` and returns everything written in answer (authentication accepted).
        func pump(_ connection: inout Connection, _ octets: [UInt8]) -> [UInt8] {
            var input = ByteBuffer(bytes: octets)
            var written: [UInt8] = []
            while true {
                switch connection.receive(&input) {
                case .write(let output): written += bytes(output)
                case .authenticate: connection.authenticated(.accepted)
                case .needMoreData: return written
                case .close(let error, _): fatalError("the seed handshake failed: \(error)")
                default: continue
                }
            }
        }
        let clientGreeting = bytes(client.start())
        let serverGreeting = bytes(server.start())
        let hello = pump(&client, serverGreeting)
        let welcome = pump(&server, clientGreeting + hello)
        let (serverAfterHello, clientAfterHello) = (server, client)
        let initiate = pump(&client, welcome)
        let ready = pump(&server, initiate)
        _ = pump(&client, ready)
        precondition(client.isOpen && server.isOpen)
        let messages = [Message(["", "request", Frame([UInt8](repeating: 9, count: 100))]), Message(Frame("second"))]
        var toServer = ByteBuffer()
        var toClient = ByteBuffer()
        for message in messages {
            client.seal(message, subscriptionsAsCommands: false, into: &toServer)
            server.seal(message, subscriptionsAsCommands: false, into: &toClient)
        }
        return [
            (name: "CURVE server after HELLO", template: serverAfterHello, seed: initiate + bytes(toServer)),
            (name: "CURVE client after HELLO", template: clientAfterHello, seed: welcome + ready + bytes(toClient)),
        ]
    }
    #endif

    /// The most a connection may hold after any input: a greeting, a handshake frame begun
    /// (64 KiB at most), or after the handshake a frame's reservation (4 MiB at most, however
    /// large the size it announces), plus the little an input of these sizes can add.
    static let retainedBound = FrameDecoder.maxReservation + Int(Connection.handshakeFrameLimit) + 4096

    static var mechanisms: [(String, Connection.Configuration)] {
        var all: [(String, Connection.Configuration)] = [
            ("NULL", .init(socketType: .pull)),
            ("NULL with ZAP", .init(socketType: .pull, authenticatesNullPeers: true)),
            ("PLAIN client", .init(socketType: .push, security: .plainClient(username: "admin", password: "secret"))),
            ("PLAIN server", .init(socketType: .pull, security: .plainServer)),
        ]
        #if CURVE
        let server = try! CurveKeyPair.generate()
        all.append(("CURVE client", .init(socketType: .push, security: .curveClient(serverKey: server.publicKey, keyPair: try! CurveKeyPair.generate()))))
        all.append(("CURVE server", .init(socketType: .pull, security: .curveServer(keyPair: server))))
        #endif
        return all
    }

    /// What a well-behaved peer of `configuration` would send first: a greeting for its
    /// mechanism and a few plausible commands, the material the mutations start from.
    static func seed(for configuration: Connection.Configuration) -> [UInt8] {
        let name = configuration.security.mechanismName
        var octets = bytes(Greeting(minor: 1, mechanism: name, asServer: !configuration.security.isServer).encoded)
        let ready = bytes(Command.ready(Metadata([("Socket-Type", Array("PUSH".utf8)), ("Identity", [1, 2, 3])])).encoded)
        switch name {
        case "PLAIN":
            octets += [0x04, 19, 5] + Array("HELLO".utf8) + [5] + Array("admin".utf8) + [6] + Array("secret".utf8)
            octets += [0x04, 8, 7] + Array("WELCOME".utf8)
            octets += [0x04, 29, 8] + Array("INITIATE".utf8) + [11] + Array("Socket-Type".utf8) + [0, 0, 0, 4] + Array("PUSH".utf8)
            octets += ready
        case "CURVE":
            octets += [0x04, 200, 5] + Array("HELLO".utf8) + [1, 0] + [UInt8](repeating: 0, count: 192)
            octets += [0x04, 168, 7] + Array("WELCOME".utf8) + [UInt8](repeating: 7, count: 160)
            octets += [0x06, 0, 0, 0, 0, 0, 0, 1, 1, 8] + Array("INITIATE".utf8) + [UInt8](repeating: 3, count: 248)
            octets += [0x00, 40, 7] + Array("MESSAGE".utf8) + [UInt8](repeating: 1, count: 32)
        default:
            octets += ready + [0x00, 3] + Array("abc".utf8) + [0x04, 6, 4] + Array("PING".utf8) + [0, 10]
        }
        return octets
    }

    static func mutate(_ seed: [UInt8], _ random: inout Generator) -> [UInt8] {
        var octets = seed
        switch random.next() % 6 {
        case 0:  // random octets
            return (0..<Int(random.next() % 300)).map { _ in UInt8.random(in: 0...255, using: &random) }
        case 1:  // cut short
            octets = Array(octets.prefix(Int(random.next() % UInt64(octets.count + 1))))
        case 2:  // bit flips after the signature
            for _ in 0..<(1 + random.next() % 4) where octets.count > 11 {
                let index = 11 + Int(random.next() % UInt64(octets.count - 11))
                octets[index] ^= 1 << (random.next() % 8)
            }
        case 3:  // an octet set to a boundary value (sizes, lengths, flags)
            let index = Int(random.next() % UInt64(octets.count))
            octets[index] = [0, 1, 0x7F, 0x80, 0xFE, 0xFF][Int(random.next() % 6)]
        case 4:  // random octets spliced in
            let index = Int(random.next() % UInt64(octets.count + 1))
            octets.insert(contentsOf: (0..<Int(1 + random.next() % 16)).map { _ in UInt8.random(in: 0...255, using: &random) }, at: index)
        default:  // a huge size in a long frame header after the greeting
            octets = Array(octets.prefix(64)) + [0x06] + (0..<8).map { _ in UInt8.random(in: 0...255, using: &random) } + [1, 2, 3]
        }
        return octets
    }

    @Test("mutated and random handshakes never crash any mechanism, every action is one the shell can carry out, and what a connection keeps stays bounded", arguments: 0..<8)
    func fuzz(mechanismIndex: Int) throws {
        let all = Self.cases
        guard mechanismIndex < all.count else { return }
        // Made once: a connection is a value, so each input starts from a copy (CURVE's key
        // generation would otherwise dominate).
        let (name, template, seed) = all[mechanismIndex]
        var random = Generator(state: UInt64(mechanismIndex) &* 7919)
        let inputs = 1_000_000 / all.count
        var opened = 0
        var delivered = 0
        var mostRetained = 0
        for _ in 0..<inputs {
            var connection = template
            var input = ByteBuffer(bytes: Self.mutate(seed, &random))
            var steps = 0
            reading: while steps < 64 {
                steps += 1
                switch connection.receive(&input) {
                case .needMoreData: break reading
                case .close:
                    // A closed connection takes nothing more and asks for nothing more.
                    var more = ByteBuffer(bytes: [0x04, 1, 0])
                    guard case .needMoreData = connection.receive(&more) else {
                        Issue.record("\(name): an action after close")
                        break reading
                    }
                    break reading
                case .authenticate:
                    connection.authenticated(random.next() % 2 == 0 ? .accepted : .denied)
                case .handshakeComplete: opened += 1
                case .message: delivered += 1
                case .write, .command: continue
                }
            }
            #expect(steps < 64, "\(name): the state machine kept producing actions")
            mostRetained = max(mostRetained, connection.retainedOctets)
            if connection.retainedOctets > Self.retainedBound {
                Issue.record("\(name): \(connection.retainedOctets) octets kept after one input")
                break
            }
        }
        print("handshake fuzzing, \(name): \(inputs) inputs, \(opened) opened, \(delivered) messages, at most \(mostRetained) octets kept")
        // Some mutations keep a valid handshake: the fuzz reaches open (and, past CURVE's first
        // box, messages).
        if name == "NULL" || name.hasPrefix("CURVE") && name.hasSuffix("after HELLO") { #expect(opened > 0) }
        if name.hasSuffix("after HELLO") { #expect(delivered > 0) }
    }
}
