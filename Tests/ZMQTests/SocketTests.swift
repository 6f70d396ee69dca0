import Foundation
import Testing
import ZMQ
import ZMQTestSupport

@Suite("Sockets, options and endpoints", .timeLimit(.minutes(1)))
struct SocketTests {
    @Test("PAIR accepts one peer and refuses a second")
    func pairHasOnePeer() async throws {
        try await withContext { context in
            let pair = try context.socket(.pair)
            let events = pair.monitor()
            let endpoint = try await pair.bind("tcp://127.0.0.1:*")
            let first = try context.socket(.pair)
            try first.set(.linger(.zero))
            try await first.connect(endpoint)
            try await pair.waitForPeers(1)
            let second = try context.socket(.pair)
            try second.set(.linger(.zero))
            try await second.connect(endpoint)
            #expect(await nextEvent(events) { $0.kind == .peerRefused } != nil)
            #expect(pair.connectedPeerCount == 1)
            try await first.send("from the first")
            #expect(try await pair.receive().strings == ["from the first"])
            try await pair.send("back")
            #expect(try await first.receive().strings == ["back"])
        }
    }

    @Test("an inproc connect the bound PAIR refuses lets go of the refused socket once it is closed")
    func refusedInprocPeerIsFreed() async throws {
        try await withContext { context in
            let pair = try context.socket(.pair)
            let events = pair.monitor()
            try await pair.bind("inproc://one-peer")
            let first = try context.socket(.pair)
            try await first.connect("inproc://one-peer")
            try await pair.waitForPeers(1)
            weak var refused: ZMQSocket?
            do {
                let second = try context.socket(.pair)
                refused = second
                try await second.connect("inproc://one-peer")
                #expect(await nextEvent(events) { $0.kind == .peerRefused } != nil)
                second.close()
                await second.waitUntilClosed()
            }
            #expect(refused == nil, "the refused link's two halves keep the socket alive")
            try await first.send("still paired")
            #expect(try await pair.receive().strings == ["still paired"])
        }
    }

    @Test("a socket is safe to use from many tasks at once")
    func concurrentUse() async throws {
        try await withContext { context in
            let pull = try context.socket(.pull)
            let endpoint = try await pull.bind("tcp://127.0.0.1:*")
            let push = try context.socket(.push)
            try await push.connect(endpoint)
            let senders = 4, perSender = 2_000
            try await withThrowingTaskGroup(of: Void.self) { group in
                for sender in 0..<senders {
                    group.addTask {
                        for index in 0..<perSender { try await push.send([Frame("\(sender)"), Frame("\(index)")]) }
                    }
                }
                try await group.waitForAll()
            }
            // Two receivers share the work; each sender's messages keep their order.
            let received = try await withThrowingTaskGroup(of: [Message].self) { group in
                for _ in 0..<2 {
                    group.addTask {
                        var got: [Message] = []
                        while let message = try? pull.tryReceive() { got.append(message) }
                        return got
                    }
                }
                var all: [Message] = []
                for try await part in group { all += part }
                while all.count < senders * perSender { all.append(try await pull.receive()) }
                return all
            }
            #expect(received.count == senders * perSender)
            var perSenderCounts = [Int](repeating: 0, count: senders)
            for message in received { perSenderCounts[Int(message[0].string!)!] += 1 }
            #expect(perSenderCounts == [Int](repeating: perSender, count: senders))
        }
    }

    @Test("a message larger than maxMessageSize closes that connection with a reason")
    func maxMessageSize() async throws {
        try await withContext { context in
            let pull = try context.socket(.pull)
            try pull.set(.maxMessageSize(100))
            let events = pull.monitor()
            let endpoint = try await pull.bind("tcp://127.0.0.1:*")
            let push = try context.socket(.push)
            try push.set(.reconnectInterval(.milliseconds(10)))
            let pushEvents = push.monitor()
            try await push.connect(endpoint)
            try await push.send([Frame([UInt8](repeating: 1, count: 60)), Frame([UInt8](repeating: 2, count: 41))])
            let event = await nextEvent(events) { $0.kind == .disconnected }
            guard let event else { Issue.record("no disconnect"); return }
            let reason = event.reason
            #expect(reason?.contains("exceeds the maximum message size of 100") == true)
            #expect(pull.drops[.tooLarge] == 1 && pull.drops.total == 1)
            // Once the sender has seen the close too (a message sent before that is lost with the
            // connection), the connection comes back and messages within the limit flow.
            _ = await nextEvent(pushEvents) { $0.kind == .disconnected }
            try await push.send(Message(Frame([UInt8](repeating: 3, count: 100))))
            #expect(try await pull.receive()[0].count == 100)
        }
    }

    @Test("invalid option values throw a typed error naming the option", arguments: [
        (SocketOption.sendHighWaterMark(-1), "sendHighWaterMark"),
        (.receiveHighWaterMark(-5), "receiveHighWaterMark"),
        (.linger(.after(.milliseconds(-1))), "linger"),
        (.reconnectInterval(.zero), "reconnectInterval"),
        (.reconnectIntervalMax(.seconds(-1)), "reconnectIntervalMax"),
        (.heartbeatInterval(.zero), "heartbeatInterval"),
        (.heartbeatTimeout(.milliseconds(-3)), "heartbeatTimeout"),
        (.heartbeatTTL(.seconds(7000)), "heartbeatTTL"),
        (.maxMessageSize(-2), "maxMessageSize"),
        (.routingID([]), "routingID"),
        (.routingID([0, 1, 2]), "routingID"),
        (.routingID([UInt8](repeating: 65, count: 256)), "routingID"),
        (.handshakeInterval(.zero), "handshakeInterval"),
        (.receiveTimeout(.seconds(-1)), "receiveTimeout"),
        (.sendTimeout(.seconds(-1)), "sendTimeout"),
    ])
    func invalidOptions(option: SocketOption, name: String) async throws {
        try await withContext { context in
            let socket = try context.socket(.push)
            let before = socket.options
            do {
                try socket.set(option)
                Issue.record("\(option) was accepted")
            } catch let error as ZMQError where error.code == .invalidOption {
                #expect(error.option == name)
                #expect(!error.message.isEmpty)
            }
            #expect(socket.options == before)
        }
    }

    @Test("valid options are applied")
    func validOptions() async throws {
        try await withContext { context in
            let socket = try context.socket(.pair)
            try socket.set(.sendHighWaterMark(0))
            try socket.set(.receiveHighWaterMark(5))
            try socket.set(.linger(.after(.seconds(2))))
            try socket.set(.heartbeatInterval(.seconds(1)))
            try socket.set(.heartbeatTTL(.seconds(5)))
            try socket.set(.maxMessageSize(nil))
            try socket.set(.routingID(Array("me".utf8)))
            let options = socket.options
            #expect(options.sendHighWaterMark == 0)
            #expect(options.receiveHighWaterMark == 5)
            #expect(options.linger == .after(.seconds(2)))
            #expect(options.heartbeatInterval == .seconds(1))
            #expect(options.heartbeatTTL == .seconds(5))
            #expect(options.routingID == Array("me".utf8))
        }
    }

    @Test("bad endpoints throw invalidEndpoint saying what is wrong", arguments: [
        ("localhost:5555", "expected transport://address"),
        ("pgm://127.0.0.1:5555", "unknown transport 'pgm' (tcp, ipc, inproc and udp are supported)"),
        ("tcp://127.0.0.1", "tcp needs host:port"),
        ("tcp://127.0.0.1:70000", "port '70000'"),
        ("tcp://127.0.0.1:http", "port 'http'"),
        ("tcp://:5555", "missing host"),
        ("tcp://::1:5555", "IPv6 address in brackets"),
        ("tcp://[::1:5555", "unbalanced brackets"),
        ("ipc://", "ipc needs a path"),
        ("inproc://", "inproc needs a name"),
        ("ipc:///" + String(repeating: "x", count: 120), "longer than 107"),
    ])
    func badEndpoints(endpoint: String, reason: String) async throws {
        try await withContext { context in
            let socket = try context.socket(.pull)
            await #expect {
                try await socket.bind(endpoint)
            } throws: { error in
                guard let error = error as? ZMQError, error.code == .invalidEndpoint else { return false }
                return error.endpoint == endpoint && error.message.contains(reason)
            }
            await #expect {
                try await socket.connect(endpoint)
            } throws: { error in
                guard let error = error as? ZMQError, error.code == .invalidEndpoint else { return false }
                return error.message.contains(reason)
            }
        }
    }

    @Test("an option that means nothing for the socket type throws invalidOption", arguments: [
        (SocketType.pull, SocketOption.routerMandatory(true), "routerMandatory", SocketType.router),
        (.dealer, .routerMandatory(false), "routerMandatory", .router),
        (.pub, .xpubVerbose(true), "xpubVerbose", .xpub),
        (.sub, .xpubVerboser(true), "xpubVerboser", .xpub),
    ])
    func optionForAnotherType(type: SocketType, option: SocketOption, name: String, owner: SocketType) async throws {
        try await withContext { context in
            let socket = try context.socket(type)
            #expect(throws: ZMQError.invalidOption(name: name, reason: "applies to \(owner.rawValue) sockets only, not \(type.rawValue)")) {
                try socket.set(option)
            }
            // The type it is for takes it.
            try context.socket(owner).set(option)
        }
    }

    @Test("binding an interface name binds its address")
    func bindInterfaceName() async throws {
        try await withContext { context in
            let pull = try context.socket(.pull)
            let bound = try await pull.bind("tcp://lo:*")
            #expect(bound.hasPrefix("tcp://127.0.0.1:"))
            let push = try context.socket(.push)
            try await push.connect(bound)
            try await push.send("via lo")
            #expect(try await pull.receive() == ["via lo"])
        }
    }

    @Test("connect refuses a wildcard host or port, which only bind accepts", arguments: [
        ("tcp://*:5555", "not *"), ("tcp://127.0.0.1:*", "needs a port"), ("tcp://127.0.0.1:0", "needs a port"),
    ])
    func connectWildcard(endpoint: String, reason: String) async throws {
        try await withContext { context in
            let socket = try context.socket(.push)
            await #expect {
                try await socket.connect(endpoint)
            } throws: { error in
                guard let error = error as? ZMQError, error.code == .invalidEndpoint else { return false }
                return error.endpoint == endpoint && error.message.contains(reason)
            }
            #expect(socket.connectedPeerCount == 0)
        }
    }

    @Test("bind returns the real endpoint; * binds every interface; host names work on connect")
    func wildcardAndHostNames() async throws {
        try await withContext { context in
            let pull = try context.socket(.pull)
            let bound = try await pull.bind("tcp://*:*")
            #expect(bound.hasPrefix("tcp://0.0.0.0:"))
            let port = Int(bound.split(separator: ":").last!)!
            #expect(port > 0)
            let push = try context.socket(.push)
            try await push.connect("tcp://localhost:\(port)")
            try await push.send("by name")
            #expect(try await pull.receive().strings == ["by name"])
        }
    }

    @Test("binding an address in use throws addressInUse", arguments: ["tcp", "ipc", "inproc"])
    func addressInUse(transport: String) async throws {
        try await withContext { context in
            let first = try context.socket(.pull)
            let requested = switch transport {
            case "tcp": "tcp://127.0.0.1:*"
            case "ipc": temporaryIPCEndpoint("inuse")
            default: "inproc://taken"
            }
            let endpoint = try await first.bind(requested)
            let second = try context.socket(.pull)
            await #expect(throws: ZMQError.addressInUse(endpoint)) { try await second.bind(endpoint) }
        }
    }

    @Test("transport failures say what went wrong in words, with the endpoint", arguments: [
        ("tcp://192.0.2.1:5555", ZMQError.Code.addressNotAvailable, "tcp://192.0.2.1:5555: address not available"),
        ("tcp://no-such-host.invalid:5555", .hostNotFound, "tcp://no-such-host.invalid:5555: host not found: no-such-host.invalid"),
        ("ipc:///no-such-directory/socket", .transportFailure, "ipc:///no-such-directory/socket: cannot bind: no such file or directory"),
    ])
    func transportFailures(endpoint: String, code: ZMQError.Code, text: String) async throws {
        try await withContext { context in
            let socket = try context.socket(.pull)
            do {
                try await socket.bind(endpoint)
                Issue.record("\(endpoint) was bound")
            } catch let error as ZMQError {
                #expect(error.code == code)
                #expect(error.endpoint == endpoint)
                #expect(error.description.hasPrefix(text))
                #expect(!error.description.contains("errno"))
            }
        }
    }

    @Test("a catch by code matches every error with that code, whatever its message")
    func catchByCode() async throws {
        try await withContext { context in
            let pull = try context.socket(.pull)
            try pull.set(.receiveTimeout(.milliseconds(10)))
            try await pull.bind("inproc://nobody-sends")
            var timedOut = false
            do {
                _ = try await pull.receive()
            } catch ZMQError.timedOut {
                timedOut = true
            }
            #expect(timedOut)
            #expect(ZMQError.invalidState("a").matches(ZMQError.invalidState("b")))
            #expect(!ZMQError.timedOut.matches(ZMQError.wouldBlock))
            #expect(!ZMQError.timedOut.matches(CancellationError()))
        }
    }

    @Test("closing an ipc socket removes its own file only, never one another socket has bound at the path since")
    func ipcCloseKeepsSuccessorsFile() async throws {
        try await withContext { context in
            let endpoint = temporaryIPCEndpoint("successor")
            let path = String(endpoint.dropFirst("ipc://".count))
            let first = try context.socket(.pull)
            try await first.bind(endpoint)
            // The first socket's file is moved aside, and a second socket binds at the path.
            #expect(rename(path, path + ".aside") == 0)
            defer { unlink(path + ".aside") }
            let second = try context.socket(.pull, options: [.receiveTimeout(.seconds(10))])
            try await second.bind(endpoint)
            first.close()
            await first.waitUntilClosed()
            #expect(FileManager.default.fileExists(atPath: path))
            let push = try context.socket(.push)
            try await push.connect(endpoint)
            try await push.send("to the second")
            #expect(try await second.receive().strings == ["to the second"])
            second.close()
            await second.waitUntilClosed()
            #expect(!FileManager.default.fileExists(atPath: path))
        }
    }

    @Test("a stale ipc socket file from a dead process is replaced")
    func staleIPCFile() async throws {
        let endpoint = temporaryIPCEndpoint("stale")
        let path = String(endpoint.dropFirst("ipc://".count))
        // What a crashed process leaves behind: a bound Unix socket file with nobody listening.
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            path.utf8CString.withUnsafeBytes { raw.copyMemory(from: $0) }
        }
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        #expect(bound == 0)
        close(fd)
        #expect(FileManager.default.fileExists(atPath: path))

        try await withContext { context in
            let pull = try context.socket(.pull)
            try await pull.bind(endpoint)
            let push = try context.socket(.push)
            try await push.connect(endpoint)
            try await push.send("over the replaced file")
            #expect(try await pull.receive().strings == ["over the replaced file"])
        }
    }
}
