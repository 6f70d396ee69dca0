import Foundation
import Testing
import ZMQ
import ZMQTestSupport

/// A hand-written peer on a plain TCP socket, for behaviour no well-behaved library produces.
final class RawPeer: @unchecked Sendable {
    let fd: Int32

    init(port: Int) throws {
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        // A read never waits more than 10 s: a missing frame fails the test instead of hanging it.
        var timeout = timeval(tv_sec: 10, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let result = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard result == 0 else { throw ZMQError.transportFailure(endpoint: "raw", reason: "connect failed") }
    }

    /// Sends what the kernel takes; a connection the peer already closed is no signal (SIGPIPE).
    func send(_ bytes: [UInt8]) {
        bytes.withUnsafeBytes { _ = Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
    }

    /// Sends every octet, waiting while the kernel's buffer is full; false if the peer stopped
    /// reading for 10 s or closed.
    func sendAll(_ bytes: [UInt8]) -> Bool {
        var sent = 0
        while sent < bytes.count {
            let n = bytes.withUnsafeBytes { Glibc.send(fd, $0.baseAddress! + sent, $0.count - sent, Int32(MSG_NOSIGNAL)) }
            if n <= 0 { return false }
            sent += n
        }
        return true
    }

    /// Reads exactly `count` octets (loopback delivers them promptly), or fewer if the peer closed.
    func read(_ count: Int) -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: count)
        var got = 0
        while got < count {
            let n = bytes.withUnsafeMutableBytes { recv(fd, $0.baseAddress! + got, count - got, 0) }
            if n <= 0 { break }
            got += n
        }
        return Array(bytes.prefix(got))
    }

    /// Reads what has arrived, waiting for at least one octet; empty once the peer closed.
    func readSome() -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: 65536)
        let n = bytes.withUnsafeMutableBytes { recv(fd, $0.baseAddress!, $0.count, 0) }
        return n > 0 ? Array(bytes.prefix(n)) : []
    }

    /// Reads one frame, or nil if the connection closed or the read timed out.
    func readFrame() -> (flags: UInt8, body: [UInt8])? {
        let head = read(2)
        guard head.count == 2 else { return nil }
        var size = Int(head[1])
        if head[0] & 0x02 != 0 {
            let rest = read(7)
            guard rest.count == 7 else { return nil }
            size = ([head[1]] + rest).reduce(0) { $0 << 8 | Int($1) }
        }
        let body = read(size)
        return body.count == size ? (head[0], body) : nil
    }

    /// Reads the peer's greeting and READY: after this only traffic arrives.
    func skipHandshake() -> Bool {
        read(64).count == 64 && readFrame()?.body.starts(with: [5] + Array("READY".utf8)) == true
    }

    static func command(_ name: String, _ data: [UInt8]) -> [UInt8] {
        let body = [UInt8(name.utf8.count)] + Array(name.utf8) + data
        return [0x04, UInt8(body.count)] + body
    }

    private var isClosed = false

    /// Closes the connection with a reset (RST) instead of an orderly FIN.
    func reset() {
        var linger = Glibc.linger(l_onoff: 1, l_linger: 0)
        setsockopt(fd, SOL_SOCKET, SO_LINGER, &linger, socklen_t(MemoryLayout<Glibc.linger>.size))
        close()
    }

    /// Closes the connection; later calls do nothing (the descriptor number may be reused).
    func close() {
        guard !isClosed else { return }
        isClosed = true
        Glibc.close(fd)
    }

    static let greeting = greeting(minor: 1)

    static func greeting(minor: UInt8) -> [UInt8] {
        [0xFF] + [UInt8](repeating: 0, count: 8) + [0x7F, 3, minor] + Array("NULL".utf8)
            + [UInt8](repeating: 0, count: 16) + [0] + [UInt8](repeating: 0, count: 31)
    }

    static func ready(_ type: String) -> [UInt8] {
        let body: [UInt8] = [5] + Array("READY".utf8) + [11] + Array("Socket-Type".utf8) + [0, 0, 0, UInt8(type.utf8.count)] + Array(type.utf8)
        return [0x04, UInt8(body.count)] + body
    }
}

func port(of endpoint: String) -> Int { Int(endpoint.split(separator: ":").last!)! }

/// A PULL socket bound on tcp, its monitor, and a raw peer connected to it.
func withRawPeer(
    configure: (ZMQSocket) throws -> Void = { _ in },
    _ body: (ZMQContext, ZMQSocket, AsyncStream<SocketEvent>, String, RawPeer) async throws -> Void
) async throws {
    try await withContext { context in
        let pull = try context.socket(.pull)
        try configure(pull)
        let events = pull.monitor()
        let endpoint = try await pull.bind("tcp://127.0.0.1:*")
        let peer = try RawPeer(port: port(of: endpoint))
        defer { peer.close() }
        try await body(context, pull, events, endpoint, peer)
    }
}

@Suite("Misbehaving peers", .timeLimit(.minutes(1)))
struct RawPeerTests {
    @Test("a peer that never completes the handshake is closed after the handshake interval")
    func handshakeTimeout() async throws {
        try await withRawPeer(configure: { try $0.set(.handshakeInterval(.milliseconds(100))) }) { _, _, events, _, peer in
            let event = await nextEvent(events) { $0.kind == .handshakeFailed }
            #expect(event.map { "\($0)" }?.contains("handshake timeout") == true)
            #expect(event?.failure?.kind == .timeout)
            // Our greeting came, then the connection was closed.
            #expect(peer.read(64).count == 64)
        }
    }

    @Test("a message cut off by a dropped connection is never delivered in part")
    func partialMessageDiscarded() async throws {
        try await withRawPeer { context, pull, events, endpoint, peer in
            peer.send(RawPeer.greeting + RawPeer.ready("PUSH"))
            // Two whole frames of a three-frame message, then the connection drops.
            peer.send([0x01, 5] + Array("part1".utf8) + [0x01, 5] + Array("part2".utf8))
            _ = await nextEvent(events) { $0.kind == .handshakeSucceeded }
            peer.close()
            _ = await nextEvent(events) { $0.kind == .disconnected }

            let push = try context.socket(.push)
            try await push.connect(endpoint)
            try await push.send(["whole", "message"])
            #expect(try await pull.receive().strings == ["whole", "message"])
            #expect(throws: ZMQError.wouldBlock) { try pull.tryReceive() }
        }
    }

    @Test("malformed input closes the connection with a reason and the socket goes on", arguments: [
        ([0xF8, 0x00], "reserved bits"),
        ([0x04, 0x05, 0x00] + Array("ABCD".utf8), "bad command name"),
        ([0x02, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF], "2^63"),
    ] as [([UInt8], String)])
    func malformedInput(bytes: [UInt8], reason: String) async throws {
        try await withRawPeer { context, pull, events, endpoint, peer in
            peer.send(RawPeer.greeting + RawPeer.ready("PUSH") + bytes)
            let event = await nextEvent(events) { $0.kind == .disconnected }
            guard let event else { Issue.record("no disconnect"); return }
            let why = event.reason
            #expect(why?.contains(reason) == true, "reason: \(why ?? "none")")

            let push = try context.socket(.push)
            try await push.connect(endpoint)
            try await push.send("still working")
            #expect(try await pull.receive().strings == ["still working"])
        }
    }

    @Test("by default a frame announced larger than 64 MiB is refused before any of it is buffered")
    func defaultMessageLimit() async throws {
        #expect(SocketOptions().maxMessageSize == 64 << 20)
        try await withRawPeer { _, _, events, _, peer in
            // A frame of 2^40 octets announced, and the first octets of it sent.
            peer.send(RawPeer.greeting + RawPeer.ready("PUSH") + [0x02, 0, 0, 0x01, 0, 0, 0, 0, 0] + [UInt8](repeating: 1, count: 1000))
            let event = await nextEvent(events) { $0.kind == .disconnected }
            guard let event else { Issue.record("no disconnect"); return }
            let why = event.reason
            #expect(why?.contains("exceeds the maximum message size of 67108864") == true, "reason: \(why ?? "none")")
        }
    }

    @Test("an incompatible socket type gets ERROR and is closed")
    func incompatibleType() async throws {
        try await withRawPeer { _, _, events, _, peer in
            peer.send(RawPeer.greeting + RawPeer.ready("PULL"))
            let event = await nextEvent(events) { $0.kind == .handshakeFailed }
            #expect(event.map { "\($0)" }?.contains("socket type PULL cannot talk to PULL") == true)
            #expect(event?.failure?.kind == .incompatibleSocketType)
            let greeting = peer.read(64)
            #expect(greeting.count == 64)
            // Our READY, then ERROR.
            let readyHeader = peer.read(2)
            _ = peer.read(Int(readyHeader[1]))
            let errorHeader = peer.read(2)
            let error = peer.read(Int(errorHeader[1]))
            #expect(errorHeader[0] == 0x04)
            #expect(Array(error.prefix(6)) == [5] + Array("ERROR".utf8))
        }
    }
}
