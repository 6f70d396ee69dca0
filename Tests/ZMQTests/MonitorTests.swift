import Foundation
import Testing
@testable import ZMQ
import ZMQTestSupport

/// The events up to and including the first of `kind`.
func events(_ stream: AsyncStream<SocketEvent>, through kind: SocketEvent.Kind) async -> [SocketEvent] {
    var seen: [SocketEvent] = []
    for await event in stream {
        seen.append(event)
        if event.kind == kind { break }
    }
    return seen
}

@Suite("Monitor events, named as libzmq names them")
struct MonitorTests {
    @Test("a tcp connection: listening, accepted and connected with both addresses, handshakes, then disconnected, closed and monitor stopped")
    func connectionLife() async throws {
        try await withContext { context in
            let server = try context.socket(.pull)
            let serverEvents = server.monitor()
            let bound = try await server.bind("tcp://127.0.0.1:*")
            let port = bound.split(separator: ":").last!
            let client = try context.socket(.push)
            try client.set(.reconnectInterval(.seconds(10)))
            let clientEvents = client.monitor()
            let given = "tcp://127.0.0.1:\(port)"
            try await client.connect(given)

            let clientSide = await events(clientEvents, through: .handshakeSucceeded)
            #expect(clientSide.map(\.kind) == [.connectDelayed, .connected, .handshakeSucceeded])
            #expect(clientSide.allSatisfy { $0.endpoint == given }, "\(clientSide)")
            #expect(clientSide[1].peerAddress == bound)
            #expect(clientSide[2].peerAddress == bound)

            let serverSide = await events(serverEvents, through: .handshakeSucceeded)
            #expect(serverSide.map(\.kind) == [.listening, .accepted, .handshakeSucceeded])
            #expect(serverSide.allSatisfy { $0.endpoint == bound }, "\(serverSide)")
            let clientAddress = try #require(serverSide[1].peerAddress)
            #expect(clientAddress.hasPrefix("tcp://127.0.0.1:") && clientAddress != bound)

            server.close()
            await server.waitUntilClosed()
            // The listener closes first, then the connections it accepted.
            let afterClose = await events(serverEvents, through: .monitorStopped)
            #expect(afterClose.map(\.kind) == [.closed, .disconnected, .monitorStopped])
            #expect(afterClose[0].endpoint == bound)

            let dropped = await events(clientEvents, through: .connectRetried)
            #expect(dropped.map(\.kind) == [.disconnected, .connectRetried])
            #expect(dropped[0].endpoint == given && dropped[0].peerAddress == bound)
            #expect(dropped[1].delay.map { $0 >= .seconds(10) } == true)
        }
    }

    @Test("a refused dial is delayed, then retried, over and over")
    func refusedDial() async throws {
        try await withContext { context in
            let client = try context.socket(.push)
            try client.set(.reconnectInterval(.milliseconds(10)))
            let stream = client.monitor()
            let endpoint = "tcp://127.0.0.1:\(unusedTCPPort())"
            try await client.connect(endpoint)
            var kinds: [SocketEvent.Kind] = []
            for await event in stream {
                #expect(event.endpoint == endpoint)
                kinds.append(event.kind)
                if kinds.count == 4 { break }
            }
            #expect(kinds == [.connectDelayed, .connectRetried, .connectDelayed, .connectRetried])
        }
    }

    @Test("a failed bind is an event with the typed error")
    func bindFailed() async throws {
        try await withContext { context in
            let first = try context.socket(.pull)
            let bound = try await first.bind("tcp://127.0.0.1:*")
            let second = try context.socket(.pull)
            let stream = second.monitor()
            await #expect(throws: ZMQError.addressInUse(bound)) { try await second.bind(bound) }
            let event = await nextEvent(stream) { _ in true }
            #expect(event?.kind == .bindFailed)
            #expect(event?.endpoint == bound)
            #expect(event?.error == .addressInUse(bound))
        }
    }

    @Test("unbind closes the listener: a closed event with the bound endpoint")
    func unbindCloses() async throws {
        try await withContext { context in
            let server = try context.socket(.pull)
            let stream = server.monitor()
            let bound = try await server.bind("tcp://127.0.0.1:*")
            try await server.unbind(bound)
            let seen = await events(stream, through: .closed)
            #expect(seen.map(\.kind) == [.listening, .closed])
            #expect(seen.allSatisfy { $0.endpoint == bound })
        }
    }

    @Test("a monitor taken after the socket closed holds only monitorStopped, and ends")
    func monitorAfterClose() async throws {
        try await withContext { context in
            let socket = try context.socket(.pull)
            socket.close()
            await socket.waitUntilClosed()
            var seen: [SocketEvent.Kind] = []
            for await event in socket.monitor() { seen.append(event.kind) }
            #expect(seen == [.monitorStopped])
        }
    }

    @Test("a monitor nobody reads keeps the newest 1,000 events, then monitorStopped, and ends")
    func boundedMonitor() async throws {
        try await withContext { context in
            let socket = try context.socket(.pull)
            let stream = socket.monitor()
            for index in 0..<5_000 { socket.events.emit(SocketEvent(.connectDelayed, endpoint: "tcp://host:\(index)")) }
            socket.close()
            var seen: [SocketEvent] = []
            for await event in stream { seen.append(event) }
            // The newest events, in order, and the end.
            #expect(seen.count <= EventHub.bufferSize + 1)
            let endpoints = seen.dropLast().map(\.endpoint)
            #expect(endpoints == (5_000 - endpoints.count..<5_000).map { "tcp://host:\($0)" })
            #expect(seen.last?.kind == .monitorStopped)
        }
    }

    @Test("handshake failures are typed on both sides: another mechanism, an incompatible socket type")
    func typedHandshakeFailures() async throws {
        try await withContext { context in
            // A PLAIN server and a NULL client.
            let plain = try context.socket(.pull)
            try plain.set(.plainServer(true))
            let plainEvents = plain.monitor()
            let plainEndpoint = try await plain.bind("tcp://127.0.0.1:*")
            let null = try context.socket(.push)
            let nullEvents = null.monitor()
            try await null.connect(plainEndpoint)
            let serverSaw = await nextEvent(plainEvents) { $0.kind == .handshakeFailed }
            let clientSaw = await nextEvent(nullEvents) { $0.kind == .handshakeFailed }
            #expect(serverSaw?.failure?.kind == .mechanismMismatch)
            #expect(clientSaw?.failure?.kind == .mechanismMismatch)
            #expect(serverSaw?.endpoint == plainEndpoint && serverSaw?.peerAddress != nil)
            #expect(clientSaw?.endpoint == plainEndpoint)

            // A PUSH dialling a SUB.
            let sub = try context.socket(.sub)
            let subEvents = sub.monitor()
            let subEndpoint = try await sub.bind("tcp://127.0.0.1:*")
            let push = try context.socket(.push)
            let pushEvents = push.monitor()
            try await push.connect(subEndpoint)
            #expect(await nextEvent(subEvents) { $0.kind == .handshakeFailed }?.failure?.kind == .incompatibleSocketType)
            #expect(await nextEvent(pushEvents) { $0.kind == .handshakeFailed }?.failure?.kind == .incompatibleSocketType)
        }
    }

    @Test("a listener out of file descriptors reports acceptFailed, and accepts again once they are freed")
    func acceptFailed() async throws {
        try await withContext { context in
            let server = try context.socket(.pull)
            let stream = server.monitor()
            let bound = try await server.bind("tcp://127.0.0.1:*")
            let port = Int(bound.split(separator: ":").last!)!

            // Use up every descriptor but one, which the dialling socket below takes, so the
            // listener's accept finds none left.
            var limit = rlimit()
            getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
            let original = limit
            limit.rlim_cur = rlim_t(openFileDescriptorCount() + 64)
            setrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
            var fillers: [Int32] = []
            while true {
                let fd = open("/dev/null", O_RDONLY)
                if fd < 0 { break }
                fillers.append(fd)
            }
            close(fillers.removeLast())
            let peer = try RawPeer(port: port)
            let failure = await nextEvent(stream) { $0.kind == .acceptFailed }
            for fd in fillers { close(fd) }
            var restored = original
            setrlimit(Int32(RLIMIT_NOFILE.rawValue), &restored)

            #expect(failure?.endpoint == bound)
            #expect(failure?.error?.description.contains("too many open files") == true, "\(String(describing: failure))")
            // NIO backs off and accepts the waiting connection once descriptors are free again.
            #expect(await nextEvent(stream) { $0.kind == .accepted } != nil)
            _ = peer
        }
    }
}
