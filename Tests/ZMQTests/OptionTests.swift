import Foundation
import Testing
import ZMQ
import ZMQTestSupport

/// A tcp listener that never accepts, with its backlog filled by connections in progress, so
/// that a further connect hangs until its timeout. Close the descriptors afterwards.
func unresponsiveListener() -> (port: Int, descriptors: [Int32]) {
    let listener = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    _ = withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(listener, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
    }
    listen(listener, 0)
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    _ = withUnsafeMutablePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(listener, $0, &length) }
    }
    var descriptors = [listener]
    for _ in 0..<8 {
        let filler = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue), 0)
        _ = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(filler, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        descriptors.append(filler)
    }
    return (Int(UInt16(bigEndian: address.sin_port)), descriptors)
}

/// This process's connected tcp sockets with `port` at either end.
func descriptors(tcpPort port: Int) -> [Int32] {
    (0..<Int32(4096)).filter { fd in
        var local = sockaddr_in(), remote = sockaddr_in()
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let named = withUnsafeMutablePointer(to: &local) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        guard named == 0, local.sin_family == sa_family_t(AF_INET) else { return false }
        length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let connected = withUnsafeMutablePointer(to: &remote) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getpeername(fd, $0, &length) }
        }
        guard connected == 0 else { return false }
        return [local.sin_port, remote.sin_port].contains(UInt16(port).bigEndian)
    }
}

/// This process's connected Unix sockets with `path` at either end (the accepted socket has it
/// as its own name, the connected one as its peer's).
func descriptors(ipcPath path: String) -> [Int32] {
    func name(_ fd: Int32, peer: Bool) -> String? {
        var address = sockaddr_un()
        var length = socklen_t(MemoryLayout<sockaddr_un>.size)
        let found = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { peer ? getpeername(fd, $0, &length) : getsockname(fd, $0, &length) }
        }
        guard found == 0, address.sun_family == sa_family_t(AF_UNIX) else { return nil }
        return withUnsafeBytes(of: address.sun_path) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
    }
    return (0..<Int32(4096)).filter { fd in
        guard let local = name(fd, peer: false), let remote = name(fd, peer: true) else { return false }
        return local == path || remote == path
    }
}

func socketOption(_ fd: Int32, _ level: Int32, _ name: Int32) -> Int32 {
    var value: Int32 = -1
    var size = socklen_t(MemoryLayout<Int32>.size)
    getsockopt(fd, level, name, &value, &size)
    return value
}

/// The keepalive settings of this process's tcp sockets with `port` at either end, as the
/// kernel has them: (SO_KEEPALIVE, TCP_KEEPIDLE, TCP_KEEPINTVL, TCP_KEEPCNT).
func keepaliveSettings(port: Int) -> [[Int32]] {
    descriptors(tcpPort: port).map { fd in
        [socketOption(fd, SOL_SOCKET, SO_KEEPALIVE), socketOption(fd, Int32(IPPROTO_TCP), TCP_KEEPIDLE),
         socketOption(fd, Int32(IPPROTO_TCP), TCP_KEEPINTVL), socketOption(fd, Int32(IPPROTO_TCP), TCP_KEEPCNT)]
    }
}

/// (SO_SNDBUF, SO_RCVBUF) of each socket, as the kernel has them (twice what was asked for, up
/// to twice the system's maximum).
func bufferSizes(_ descriptors: [Int32]) -> [[Int32]] {
    descriptors.map { [socketOption($0, SOL_SOCKET, SO_SNDBUF), socketOption($0, SOL_SOCKET, SO_RCVBUF)] }
}

/// A setting in `/proc/sys/net/core`; the test that needs one fails if it cannot be read.
func systemDefault(_ file: String) -> Int32 {
    let value = Int32((try? String(contentsOfFile: "/proc/sys/net/core/\(file)", encoding: .utf8))?
        .trimmingCharacters(in: .whitespacesAndNewlines) ?? "")
    if value == nil { Issue.record("cannot read /proc/sys/net/core/\(file)") }
    return value ?? -1
}

/// What the kernel makes of a buffer size asked for: twice it, capped at twice the maximum in
/// `/proc/sys/net/core/{w,r}mem_max`.
func kernelBufferSize(asked: Int, maximumIn file: String) -> Int32 {
    Int32(2 * min(asked, Int(systemDefault(file))))
}

@Suite("libzmq's options", .timeLimit(.minutes(1)))
struct OptionTests {
    @Test("immediate: nothing is queued until a connection is up, and then it flows")
    func immediate() async throws {
        try await withContext { context in
            let push = try context.socket(.push, options: [.immediate(true)])
            try await push.connect("inproc://immediate")
            #expect(throws: ZMQError.wouldBlock) { try push.trySend("too early") }
            let pull = try context.socket(.pull)
            try await pull.bind("inproc://immediate")
            try await push.waitForPeers(1)
            try push.trySend("now")
            #expect(try await pull.receive() == ["now"])

            // Without it, a connect endpoint queues from the call on.
            let eager = try context.socket(.push, options: [.linger(.zero)])
            try await eager.connect("inproc://eager")
            try eager.trySend("queued")
        }
    }

    @Test("probeRouter: a ROUTER learns a new DEALER's routing id from an empty message")
    func probeRouter() async throws {
        try await withContext { context in
            let router = try context.socket(.router)
            let endpoint = try await router.bind("tcp://127.0.0.1:*")
            let dealer = try context.socket(.dealer, options: [.probeRouter(true), .routingID(Array("D1".utf8))])
            try await dealer.connect(endpoint)
            #expect(try await router.receive() == ["D1", ""])
            try await router.send(["D1", "hello"])
            #expect(try await dealer.receive() == ["hello"])
        }
    }

    @Test("routerHandover: a peer announcing a routing id in use takes it over and the old one is closed")
    func routerHandover() async throws {
        try await withContext { context in
            let router = try context.socket(.router, options: [.routerHandover(true)])
            let endpoint = try await router.bind("tcp://127.0.0.1:*")
            let first = try context.socket(.dealer, options: [.routingID(Array("A".utf8)), .reconnectInterval(.seconds(30))])
            let firstEvents = first.monitor()
            try await first.connect(endpoint)
            try await first.send("from the first")
            #expect(try await router.receive() == ["A", "from the first"])

            let second = try context.socket(.dealer, options: [.routingID(Array("A".utf8))])
            try await second.connect(endpoint)
            #expect(await nextEvent(firstEvents) { $0.kind == .disconnected } != nil)
            try await second.send("from the second")
            #expect(try await router.receive() == ["A", "from the second"])
            try await router.send(["A", "to whoever is A"])
            #expect(try await second.receive() == ["to whoever is A"])
        }
    }

    @Test("routerNotify: [routing id, \"\"] when a peer connects and when it disconnects")
    func routerNotify() async throws {
        try await withContext { context in
            let router = try context.socket(.router, options: [.routerNotify([.connect, .disconnect])])
            let endpoint = try await router.bind("tcp://127.0.0.1:*")
            let dealer = try context.socket(.dealer, options: [.routingID(Array("N".utf8)), .linger(.zero)])
            try await dealer.connect(endpoint)
            #expect(try await router.receive() == ["N", ""])
            try await dealer.send("between")
            #expect(try await router.receive() == ["N", "between"])
            dealer.close()
            #expect(try await router.receive() == ["N", ""])
        }
    }

    @Test("routerNotify on a connecting ROUTER: what a peer left unread, and its disconnect, keep its id after the reconnect names another peer")
    func routerReconnectKeepsUnreadIDs() async throws {
        try await withContext { context in
            let endpoint = "tcp://127.0.0.1:\(unusedTCPPort())"
            let router = try context.socket(.router, options: [.routerNotify([.connect, .disconnect]), .reconnectInterval(.milliseconds(20)),
                                                               .receiveTimeout(.seconds(10))])
            let events = router.monitor()
            let first = try context.socket(.dealer, options: [.routingID(Array("A".utf8))])
            try await first.bind(endpoint)
            try await router.connect(endpoint)
            #expect(try await router.receive() == ["A", ""])
            for index in 0..<3 { try await first.send(Message(Frame("from A \(index)"))) }
            first.close()
            await first.waitUntilUnbound()
            // Unread in the router's queue when the same endpoint answers as "B".
            let second = try context.socket(.dealer, options: [.routingID(Array("B".utf8))])
            try await second.bind(endpoint)
            _ = await nextEvent(events) { $0.kind == .handshakeSucceeded }
            #expect(await nextEvent(events) { $0.kind == .handshakeSucceeded } != nil)
            var received: [[String]] = []
            for _ in 0..<5 { received.append(try await router.receive().map { $0.string ?? "?" }) }
            #expect(received == [["A", "from A 0"], ["A", "from A 1"], ["A", "from A 2"], ["A", ""], ["B", ""]])
            try await router.send(["B", "to B"])
            #expect(try await second.receive() == ["to B"])
        }
    }

    @Test("xpubNoDrop: at a subscriber's full queue the send waits instead of dropping")
    func xpubNoDrop() async throws {
        try await withContext { context in
            let publisher = try context.socket(.xpub, options: [.xpubNoDrop(true), .sendHighWaterMark(5)])
            let endpoint = try await publisher.bind("tcp://127.0.0.1:*")
            let subscriber = try context.socket(.sub, options: [.receiveHighWaterMark(5)])
            try subscriber.subscribe("")
            try await subscriber.connect(endpoint)
            _ = try await publisher.receive()  // the subscription
            var sent = 0
            while true {
                do { try publisher.trySend("m\(sent)") } catch ZMQError.wouldBlock { break }
                sent += 1
            }
            #expect(publisher.drops.total == 0)
            for index in 0..<sent { #expect(try await subscriber.receive() == ["m\(index)"]) }
        }
    }

    @Test("xpubWelcomeMessage: each new subscriber first gets the welcome message")
    func welcomeMessage() async throws {
        try await withContext { context in
            let publisher = try context.socket(.xpub, options: [.xpubWelcomeMessage("WELCOME")])
            let endpoint = try await publisher.bind("tcp://127.0.0.1:*")
            for _ in 0..<2 {
                let subscriber = try context.socket(.sub)
                try subscriber.subscribe("WELCOME")
                try await subscriber.connect(endpoint)
                #expect(try await subscriber.receive() == ["WELCOME"])
            }
        }
    }

    @Test("xpubManual: the application applies each subscription, to the peer it came from")
    func xpubManual() async throws {
        try await withContext { context in
            let publisher = try context.socket(.xpub, options: [.xpubManual(true)])
            let endpoint = try await publisher.bind("tcp://127.0.0.1:*")
            let first = try context.socket(.sub)
            try first.subscribe("t")
            try await first.connect(endpoint)
            let subscribe = Message(Frame([1] + Array("t".utf8)))
            #expect(try await publisher.receive() == subscribe)
            try publisher.subscribe("t")  // for the first subscriber only

            let second = try context.socket(.sub)
            try second.subscribe("t")
            try await second.connect(endpoint)
            #expect(try await publisher.receive() == subscribe)  // a repeat, passed on too
            try await publisher.send("t1")  // the second is not subscribed yet
            #expect(try await first.receive() == ["t1"])
            try publisher.subscribe("t")  // now the second
            try await publisher.send("t2")
            #expect(try await first.receive() == ["t2"])
            #expect(try await second.receive() == ["t2"])

            // A subscriber that leaves takes the subscriptions applied for it away, and says so.
            second.close()
            #expect(try await publisher.receive() == Message(Frame([0] + Array("t".utf8))))
        }
    }

    @Test("invertMatching on both ends: a subscriber gets what does not match its subscriptions")
    func invertMatching() async throws {
        try await withContext { context in
            let publisher = try context.socket(.pub, options: [.invertMatching(true)])
            let endpoint = try await publisher.bind("tcp://127.0.0.1:*")
            let subscriber = try context.socket(.sub, options: [.invertMatching(true)])
            try subscriber.subscribe("a")
            try await subscriber.connect(endpoint)
            let sending = keepPublishing([["a1"], ["b1"]], on: publisher)
            for _ in 0..<10 { #expect(try await subscriber.receive() == ["b1"]) }
            sending.cancel()
        }
    }

    @Test("TCP keepalive options reach both ends' kernel sockets")
    func tcpKeepalive() async throws {
        try await withContext { context in
            let keepalive: [SocketOption] = [.tcpKeepalive(true), .tcpKeepaliveIdle(.seconds(7)), .tcpKeepaliveInterval(.seconds(3)), .tcpKeepaliveCount(4)]
            let pull = try context.socket(.pull, options: keepalive)
            let endpoint = try await pull.bind("tcp://127.0.0.1:*")
            let port = Int(endpoint.split(separator: ":").last!)!
            let push = try context.socket(.push, options: keepalive)
            try await push.connect(endpoint)
            try await push.send("x")
            _ = try await pull.receive()
            // Both ends of the connection: the accepted socket and the connected one.
            #expect(keepaliveSettings(port: port) == [[1, 7, 3, 4], [1, 7, 3, 4]])

            let plain = try context.socket(.pull)
            let plainEndpoint = try await plain.bind("tcp://127.0.0.1:*")
            let plainPort = Int(plainEndpoint.split(separator: ":").last!)!
            let plainPush = try context.socket(.push)
            try await plainPush.connect(plainEndpoint)
            try await plainPush.send("y")
            _ = try await plain.receive()
            #expect(keepaliveSettings(port: plainPort).map { $0[0] } == [0, 0])
        }
    }

    @Test("sendBufferSize and receiveBufferSize reach both ends' kernel sockets; ipc asks for a 256 KiB send buffer by default, tcp keeps the system's")
    func kernelBufferSizes() async throws {
        try await withContext { context in
            let sizes: [SocketOption] = [.sendBufferSize(100_000), .receiveBufferSize(60_000)]
            let asked = [kernelBufferSize(asked: 100_000, maximumIn: "wmem_max"), kernelBufferSize(asked: 60_000, maximumIn: "rmem_max")]
            let pull = try context.socket(.pull, options: sizes)
            let endpoint = try await pull.bind("tcp://127.0.0.1:*")
            let push = try context.socket(.push, options: sizes)
            try await push.connect(endpoint)
            try await push.send("x")
            _ = try await pull.receive()
            #expect(bufferSizes(descriptors(tcpPort: Int(endpoint.split(separator: ":").last!)!)) == [asked, asked])

            let path = NSTemporaryDirectory() + "swift-zmq-buffers-\(getpid()).sock"
            let ipcPull = try context.socket(.pull)
            try await ipcPull.bind("ipc://" + path)
            let ipcPush = try context.socket(.push)
            try await ipcPush.connect("ipc://" + path)
            try await ipcPush.send("y")
            _ = try await ipcPull.receive()
            let ipcDefault = [kernelBufferSize(asked: SocketOptions.ipcSendBufferSize, maximumIn: "wmem_max"), systemDefault("rmem_default")]
            #expect(bufferSizes(descriptors(ipcPath: path)) == [ipcDefault, ipcDefault])
            // tcp without the options: the kernel's own sizes, not the ipc default.
            let plainEndpoint = try await ipcPull.bind("tcp://127.0.0.1:*")
            try await ipcPush.connect(plainEndpoint)
            try await ipcPush.waitForPeers(2)
            let plain = bufferSizes(descriptors(tcpPort: Int(plainEndpoint.split(separator: ":").last!)!))
            #expect(plain.count == 2 && plain.allSatisfy { $0 != ipcDefault })

            // -1, as libzmq's: the system's own, on ipc too.
            let systemPull = try context.socket(.pull, options: [.sendBufferSize(-1)])
            let systemPath = NSTemporaryDirectory() + "swift-zmq-buffers-system-\(getpid()).sock"
            try await systemPull.bind("ipc://" + systemPath)
            let systemPush = try context.socket(.push, options: [.sendBufferSize(-1)])
            try await systemPush.connect("ipc://" + systemPath)
            try await systemPush.send("z")
            _ = try await systemPull.receive()
            let system = [systemDefault("wmem_default"), systemDefault("rmem_default")]
            #expect(bufferSizes(descriptors(ipcPath: systemPath)) == [system, system])

            #expect(throws: ZMQError.self) { try pull.set(.sendBufferSize(0)) }
            #expect(throws: ZMQError.self) { try pull.set(.receiveBufferSize(-2)) }
        }
    }

    @Test("connectTimeout: a connect that hangs is abandoned and retried")
    func connectTimeout() async throws {
        let (port, descriptors) = unresponsiveListener()
        defer { for fd in descriptors { close(fd) } }
        try await withContext { context in
            let push = try context.socket(.push, options: [.connectTimeout(.milliseconds(200)), .linger(.zero)])
            let stream = push.monitor()
            try await push.connect("tcp://127.0.0.1:\(port)")
            let seen = await events(stream, through: .connectRetried)
            #expect(seen.map(\.kind) == [.connectDelayed, .connectRetried])
        }
    }

    @Test("reconnectStop: a refused endpoint is given up; so is one whose handshake failed")
    func reconnectStop() async throws {
        try await withContext { context in
            let push = try context.socket(.push, options: [.reconnectStop(.connectionRefused), .reconnectInterval(.milliseconds(10))])
            let stream = push.monitor()
            let refused = "tcp://127.0.0.1:\(unusedTCPPort())"
            try await push.connect(refused)
            #expect(await events(stream, through: .closed).map(\.kind) == [.connectDelayed, .closed])
            #expect(throws: ZMQError.wouldBlock) { try push.trySend("nowhere to go") }
            await #expect(throws: ZMQError.self) { try await push.disconnect(refused) }

            let sub = try context.socket(.sub)
            let subEndpoint = try await sub.bind("tcp://127.0.0.1:*")
            let mismatched = try context.socket(.push, options: [.reconnectStop(.handshakeFailed), .reconnectInterval(.milliseconds(10))])
            let mismatchedEvents = mismatched.monitor()
            try await mismatched.connect(subEndpoint)
            let seen = await events(mismatchedEvents, through: .closed)
            #expect(seen.map(\.kind) == [.connectDelayed, .connected, .handshakeFailed, .closed])
        }
    }

    @Test("reconnectStop while lingering: giving the endpoint up ends the linger its queue held")
    func reconnectStopEndsLinger() async throws {
        try await withContext { context in
            let push = try context.socket(.push, options: [.reconnectStop(.connectionRefused), .linger(.forever)])
            try await push.connect("tcp://127.0.0.1:\(unusedTCPPort())")
            try? push.trySend("never delivered")  // queued, unless the refusal came first
            push.close()
            await push.waitUntilClosed()  // returns once the refusal gives the endpoint up
            #expect(throws: ZMQError.socketClosed) { try push.trySend("after") }
        }
    }

    @Test("each new option refuses socket types it means nothing for")
    func optionTypes() async throws {
        try await withContext { context in
            let pull = try context.socket(.pull)
            for option: SocketOption in [.probeRouter(true), .routerHandover(true), .routerNotify(.connect), .xpubNoDrop(true), .xpubManual(true),
                                         .xpubWelcomeMessage("w"), .invertMatching(true)] {
                #expect(throws: ZMQError.self) { try pull.set(option) }
            }
            #expect(throws: ZMQError.self) { try pull.set(.tcpKeepaliveIdle(.milliseconds(1500))) }
            try pull.set(.immediate(true))
            try pull.set(.tcpKeepalive(false))
            try pull.set(.connectTimeout(.seconds(1)))
        }
    }
}
