import Foundation
import Synchronization
import Logging
import Testing
@testable import ZMQ
import ZMQTestSupport

/// Hostile peers over real tcp connections against one socket: random octets, mutated and cut
/// sessions, huge lengths, malformed properties, unknown mechanisms and versions, slow greetings.
/// Whatever they send, the socket stays up, frees every connection, keeps its descriptors and
/// memory where they were, and serves a legitimate peer afterwards.
@Suite("Hostile peers on the network", .timeLimit(.minutes(3)))
struct HostilePeerTests {
    /// The security a bound socket under attack runs.
    enum Server: String, CaseIterable, Sendable {
        case null, plain, curve
    }

    /// One way of being hostile.
    enum Attack: CaseIterable {
        case randomOctets, bitFlips, truncated, hugeLength, malformedReady, unknownMechanism, otherVersion
    }

    /// A small deterministic generator, so that a failure can be replayed from its seed.
    struct SplitMix: RandomNumberGenerator {
        var state: UInt64
        mutating func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
    }

    static func greeting(mechanism: String, major: UInt8 = 3, minor: UInt8 = 1) -> [UInt8] {
        let name = Array(mechanism.utf8.prefix(20))
        return [0xFF] + [UInt8](repeating: 0, count: 8) + [0x7F, major, minor] + name
            + [UInt8](repeating: 0, count: 20 - name.count) + [0] + [UInt8](repeating: 0, count: 31)
    }

    static func command(_ name: String, _ data: [UInt8]) -> [UInt8] {
        let body = [UInt8(name.utf8.count)] + Array(name.utf8) + data
        if body.count < 256 { return [0x04, UInt8(body.count)] + body }
        return [0x06] + withUnsafeBytes(of: UInt64(body.count).bigEndian, Array.init) + body
    }

    static func property(_ name: String, _ value: String) -> [UInt8] {
        [UInt8(name.utf8.count)] + Array(name.utf8) + withUnsafeBytes(of: UInt32(value.utf8.count).bigEndian, Array.init) + Array(value.utf8)
    }

    static let messages: [UInt8] = [0x01, 3] + Array("one".utf8) + [0x00, 3] + Array("two".utf8) + [0x00, 5] + Array("three".utf8)

    /// What a well-behaved PUSH client sends, all at once (a server reads it in order).
    static func validSession(_ server: Server, _ random: inout SplitMix) -> [UInt8] {
        switch server {
        case .null:
            return greeting(mechanism: "NULL") + command("READY", property("Socket-Type", "PUSH")) + messages
        case .plain:
            let hello = [4] + Array("user".utf8) + [4] + Array("pass".utf8)
            return greeting(mechanism: "PLAIN") + command("HELLO", hello) + command("INITIATE", property("Socket-Type", "PUSH")) + messages
        case .curve:
            // A HELLO of the right size whose box is noise: it cannot be opened.
            let hello: [UInt8] = [1, 0] + [UInt8](repeating: 0, count: 72) + (0..<120).map { _ in UInt8.random(in: 0...255, using: &random) }
            return greeting(mechanism: "CURVE") + command("HELLO", hello) + messages
        }
    }

    static func mechanismName(_ server: Server) -> String {
        switch server {
        case .null: "NULL"
        case .plain: "PLAIN"
        case .curve: "CURVE"
        }
    }

    static func hostileOctets(_ attack: Attack, against server: Server, _ random: inout SplitMix) -> [UInt8] {
        let valid = validSession(server, &random)
        let ourGreeting = greeting(mechanism: mechanismName(server))
        switch attack {
        case .randomOctets:
            return (0..<Int.random(in: 1...600, using: &random)).map { _ in UInt8.random(in: 0...255, using: &random) }
        case .bitFlips:
            var octets = valid
            for _ in 0..<Int.random(in: 1...8, using: &random) {
                octets[Int.random(in: 0..<octets.count, using: &random)] ^= 1 << UInt8.random(in: 0...7, using: &random)
            }
            return octets
        case .truncated:
            return Array(valid.prefix(Int.random(in: 0..<valid.count, using: &random)))
        case .hugeLength:
            // A frame or a command announced far beyond any limit, with a little of it sent.
            let size = UInt64.random(in: (1 << 27)...(UInt64(Int64.max)), using: &random)
            let flags: UInt8 = Bool.random(using: &random) ? 0x06 : 0x02
            let prefix = flags == 0x06 ? ourGreeting : Array(valid.prefix(valid.count - messages.count))
            return prefix + [flags] + withUnsafeBytes(of: size.bigEndian, Array.init) + [UInt8](repeating: 0xAB, count: 4096)
        case .malformedReady:
            let malformed: [[UInt8]] = [
                [200] + Array("Socket-Type".utf8),  // name longer than the body
                [11] + Array("Socket-Type".utf8) + [0xFF, 0xFF, 0xFF, 0xFF] + Array("PUSH".utf8),  // value longer than the body
                [0] + [0, 0, 0, 4] + Array("PUSH".utf8),  // empty name
                (0..<100).flatMap { property("X-\($0)", "v") } + property("Socket-Type", "PUSH"),  // too many properties
                property("Socket-Type", "PUSH") + property("Socket-Type", "PULL"),  // said twice
                property("Socket-Type", String(repeating: "P", count: 300)),  // no such type
                Array(property("Socket-Type", "PUSH").dropLast()),  // cut inside the value
            ]
            let body = malformed[Int.random(in: 0..<malformed.count, using: &random)]
            let name = server == .plain ? "INITIATE" : "READY"
            let hello = server == .plain ? command("HELLO", [4] + Array("user".utf8) + [4] + Array("pass".utf8)) : []
            return greeting(mechanism: mechanismName(server)) + hello + command(name, body) + messages
        case .unknownMechanism:
            let names = ["GSSAPI", "XYZZY", "", "NULL\u{0}X", "curve", String(repeating: "M", count: 20)]
            let name = names[Int.random(in: 0..<names.count, using: &random)]
            return greeting(mechanism: name) + command("READY", property("Socket-Type", "PUSH")) + messages
        case .otherVersion:
            let versions: [(UInt8, UInt8)] = [(1, 0), (2, 0), (0, 0), (4, 0), (255, 255), (3, 9)]
            let (major, minor) = versions[Int.random(in: 0..<versions.count, using: &random)]
            if major == 1, Bool.random(using: &random) {
                // A ZMTP 1.0 peer: a short length-prefixed identity, and no signature padding.
                return [0x01, 0x00] + messages
            }
            return greeting(mechanism: mechanismName(server), major: major, minor: minor) + Array(valid.dropFirst(64))
        }
    }

    /// A socket under attack: PULL, bound on tcp, with `server`'s security.
    static func target(_ context: ZMQContext, _ server: Server) async throws -> (ZMQSocket, Int, CurveKeyPair?) {
        let pull = try context.socket(.pull)
        try pull.set(.handshakeInterval(.milliseconds(500)))
        var keys: CurveKeyPair?
        switch server {
        case .null:
            break
        case .plain:
            try pull.set(.plainServer(true))
            context.authenticate { request in
                request.credentials == [Array("user".utf8), Array("pass".utf8)] ? .accepted : .denied
            }
        case .curve:
            let pair = try CurveKeyPair.generate()
            try pull.set(.curveServer(pair))
            keys = pair
        }
        let port = port(of: try await pull.bind("tcp://127.0.0.1:*"))
        return (pull, port, keys)
    }

    /// A legitimate PUSH with the server's security, which must still be served.
    static func legitimateClient(_ context: ZMQContext, _ server: Server, keys: CurveKeyPair?, port: Int) async throws -> ZMQSocket {
        let push = try context.socket(.push)
        try push.set(.linger(.zero))
        switch server {
        case .null:
            break
        case .plain:
            try push.set(.plainUsername("user"))
            try push.set(.plainPassword("pass"))
        case .curve:
            try push.set(.curveServerKey(keys!.publicKey))
        }
        try await push.connect("tcp://127.0.0.1:\(port)")
        return push
    }

    static func attack(port: Int, octets: [UInt8], reset: Bool) throws {
        let peer = try RawPeer(port: port)
        peer.send(octets)
        if reset { peer.reset() } else { peer.close() }
    }

    @Test("thousands of hostile sessions free every connection, keep descriptors and memory flat, and a legitimate peer is served", arguments: Server.allCases)
    func hostileSessions(server: Server) async throws {
        let seed = UInt64.random(in: 0...UInt64.max)
        print("hostile sessions against \(server): seed \(seed)")
        let lines = LogLines()
        let context = ZMQContext(logger: Logger(label: "hostile") { _ in lines })
        let started = ContinuousClock.now
        let (pull, port, keys) = try await Self.target(context, server)
        let received = Atomic<Int>(0)
        let reader = Task {
            for try await _ in pull.messages { received.add(1, ordering: .relaxed) }
        }
        let enginesBefore = ZMTPEngine.liveCount.load(ordering: .relaxed)
        let timersBefore = ZMTPEngine.pendingTimers.load(ordering: .relaxed)

        func run(_ sessions: Int, seed: UInt64) async throws {
            let before = pull.connectionStatistics
            let finishedBefore = before.handshakesFailed + before.disconnections
            try await onThread { () -> Result<Void, any Error> in
                Result {
                    var random = SplitMix(state: seed)
                    for index in 0..<sessions {
                        let attack = Attack.allCases[index % Attack.allCases.count]
                        let octets = Self.hostileOctets(attack, against: server, &random)
                        try Self.attack(port: port, octets: octets, reset: index % 3 == 0)
                    }
                }
            }.get()
            await ConnectionChurnTests.expectEnded(sessions, of: pull, finishedBefore: finishedBefore, enginesBefore: enginesBefore, timersBefore: timersBefore, "seed \(seed): ")
        }

        try await run(700, seed: seed)  // warms up the allocator and NIO's pools
        let memoryAfterWarmUp = ConnectionChurnTests.residentMemory()
        let descriptorsBefore = openFileDescriptorCount()
        try await run(2_800, seed: seed &+ 1)
        let growth = ConnectionChurnTests.residentMemory() - memoryAfterWarmUp
        print("hostile sessions against \(server): RSS growth \(growth / 1024) KiB, \(received.load(ordering: .relaxed)) messages got through")
        // Each session sent up to 4 KiB of a frame announced as huge: none of it may stay.
        #expect(growth < 4 << 20, "seed \(seed): resident memory grew by \(growth / 1024) KiB")
        #expect(await ConnectionChurnTests.eventually { openFileDescriptorCount() <= descriptorsBefore })
        // Refusals are logged at most once per ten seconds, each line short: an operator's log
        // does not grow with the number of attackers.
        let elapsed = ContinuousClock.now - started
        #expect(lines.count <= Int(elapsed / .seconds(10)) + 1, "\(lines.count) log lines in \(elapsed)")
        #expect(lines.octets <= lines.count * 1024, "\(lines.octets) octets in \(lines.count) lines")
        print("hostile sessions against \(server): \(lines.count) log lines, \(lines.octets) octets, in \(elapsed)")

        // Still serving.
        let push = try await Self.legitimateClient(context, server, keys: keys, port: port)
        let countBefore = received.load(ordering: .relaxed)
        try await push.send("legitimate")
        #expect(await ConnectionChurnTests.eventually { received.load(ordering: .relaxed) > countBefore })

        reader.cancel()
        let shutdown = Task { await context.shutdown() }
        shutdown.cancel()
        await shutdown.value
    }

    @Test("a peer that floods PINGs and never reads gets no more PONGs than the connection can hold")
    func pingFlood() async throws {
        try await withContext { context in
            let (pull, port, _) = try await Self.target(context, .null)
            let memoryBefore = ConnectionChurnTests.residentMemory()
            let ping = Self.command("PING", [0, 0] + Array("ctx".utf8))
            // Half a million PINGs (6.5 MB) from a peer that reads nothing back. Answering each
            // queued about 18 MiB in NIO's pending writes; the engine answers only the last PING
            // of each read, and none while the connection is unwritable.
            let peer = try RawPeer(port: port)
            defer { peer.close() }
            let chunk = [UInt8]((0..<10_000).flatMap { _ in ping })
            let allSent = await onThread { () -> Bool in
                var random = SplitMix(state: 0)
                peer.send(Self.validSession(.null, &random))
                return (0..<50).allSatisfy { _ in peer.sendAll(chunk) }
            }
            // The server read every PING (a send would otherwise have stalled for 10 s) and the
            // connection is still up.
            #expect(allSent)
            #expect(try await pull.receive().strings == ["one", "two"])
            #expect(pull.connectionStatistics.disconnections == 0)
            let growth = ConnectionChurnTests.residentMemory() - memoryBefore
            print("PING flood: RSS growth \(growth / 1024) KiB")
            #expect(growth < 8 << 20, "resident memory grew by \(growth / 1024) KiB")
        }
    }

    @Test("slow-loris greetings, one octet at a time, are cut off at the handshake interval")
    func slowLoris() async throws {
        try await withContext { context in
            let (pull, port, keys) = try await Self.target(context, .null)
            let enginesBefore = ZMTPEngine.liveCount.load(ordering: .relaxed)
            let descriptorsBefore = openFileDescriptorCount()
            var random = SplitMix(state: 1)
            let session = Self.validSession(.null, &random)
            let peers = 40
            // Each peer sends a valid session one octet every 20 ms, over 2 s in all: the interval
            // (500 ms) is a deadline for the whole handshake, not an idle timer.
            let cutOff = try await onThread { () -> Result<Int, any Error> in
                Result {
                    let connections = try (0..<peers).map { _ in try RawPeer(port: port) }
                    defer { connections.forEach { $0.close() } }
                    var open = Set(connections.indices)
                    var sent = 0
                    while !open.isEmpty, sent < session.count {
                        for index in open {
                            connections[index].send([session[sent]])
                            if connections[index].closedByPeer() { open.remove(index) }
                        }
                        sent += 1
                        usleep(20_000)
                    }
                    return peers - open.count
                }
            }.get()
            #expect(cutOff == peers, "\(peers - cutOff) slow peers were still connected after a whole greeting")
            #expect(pull.connectionStatistics.handshakesFailed >= peers)
            #expect(await ConnectionChurnTests.eventually { ZMTPEngine.liveCount.load(ordering: .relaxed) <= enginesBefore })
            #expect(await ConnectionChurnTests.eventually { openFileDescriptorCount() <= descriptorsBefore })

            let push = try await Self.legitimateClient(context, .null, keys: keys, port: port)
            try await push.send("legitimate")
            #expect(try await pull.receive().strings == ["legitimate"])
        }
    }
}

extension RawPeer {
    /// Whether the other side has closed: its greeting (if any) is read away, then end of stream
    /// or a reset shows. Never waits.
    func closedByPeer() -> Bool {
        var buffer = [UInt8](repeating: 0, count: 512)
        while true {
            let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, Int32(MSG_DONTWAIT)) }
            if n > 0 { continue }
            if n == 0 { return true }
            return errno != EAGAIN && errno != EWOULDBLOCK
        }
    }
}
