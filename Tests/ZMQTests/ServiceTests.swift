import Logging
import ServiceLifecycle
import Testing
import ZMQ
import ZMQTestSupport

@Suite("swift-service-lifecycle", .timeLimit(.minutes(1)))
struct ServiceTests {
    @Test("a context and a proxy in a ServiceGroup forward until graceful shutdown, then every socket is closed")
    func gracefulShutdown() async throws {
        let context = ZMQContext()
        let frontend = try context.socket(.pull)
        let backend = try context.socket(.push)
        let inbound = try await frontend.bind("inproc://service-in")
        let outbound = try await backend.bind("inproc://service-out")
        let group = ServiceGroup(services: [context, ZMQProxyService(frontend: frontend, backend: backend)],
                                 logger: Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() }))
        let running = Task { try await group.run() }

        let producer = try context.socket(.push)
        try await producer.connect(inbound)
        let consumer = try context.socket(.pull)
        try await consumer.connect(outbound)
        try await producer.send("through the proxy")
        #expect(try await consumer.receive() == ["through the proxy"])

        await group.triggerGracefulShutdown()
        try await running.value
        #expect(throws: ZMQError.socketClosed) { try frontend.tryReceive() }
        #expect(throws: ZMQError.socketClosed) { try consumer.tryReceive() }
        #expect(throws: ZMQError.contextTerminated) { _ = try context.socket(.pair) }
    }
}
