import CoreMetrics
import Logging
import NIOCore
import NIOPosix
import Synchronization
import ZMTP

/// Owns the I/O threads and the inproc namespace that a group of sockets share.
///
///     let context = ZMQContext()
///     let pull = try context.socket(.pull)
///     …
///     await context.shutdown()
public final class ZMQContext: Sendable {
    public let eventLoopGroup: any EventLoopGroup
    private let ownsGroup: Bool
    public let logger: Logger
    /// Where sockets create their counters (see `SocketOption.metricsName`).
    let metricsFactory: any MetricsFactory
    let inproc: InprocRegistry
    private let sockets = Mutex<[ObjectIdentifier: ZMQSocket]>([:])
    private let terminated = Mutex(false)
    private let installedAuthenticator = Mutex<(any ZMQAuthenticator)?>(nil)
    /// One executor per I/O thread. A task executor is known by its identity: a task preferring
    /// one instance would hop to run on another, even on the same thread.
    private let ioExecutors = Mutex<[ObjectIdentifier: IOExecutor]>([:])

    /// The metadata key under which a connection failure's log line names the socket option
    /// that governs it (`maxMessageSize` for a message over the limit), so that an application
    /// can tell its users what to change in its own words.
    public static let logOptionKey = "zmq.option"

    /// A logger that discards everything: the library is silent unless given a logger, as libzmq is.
    public static let silentLogger = Logger(label: "swift-zmq", factory: { _ in SwiftLogNoOpLogHandler() })

    /// A context with its own I/O threads (one is plenty for most programs, as in libzmq).
    /// Connection failures go to `logger` at the `info` level, at most one line per socket
    /// every ten seconds; by default nothing is logged (`ZMQSocket.monitor()` has every event).
    /// Each socket counts messages and octets in and out, and drops by reason, as swift-metrics
    /// counters made by `metrics` (by default the factory `MetricsSystem.bootstrap` installed).
    public init(ioThreads: Int = 1, logger: Logger = ZMQContext.silentLogger, metrics: (any MetricsFactory)? = nil) {
        self.eventLoopGroup = MultiThreadedEventLoopGroup(numberOfThreads: max(1, ioThreads))
        self.ownsGroup = true
        self.logger = logger
        self.metricsFactory = metrics ?? MetricsSystem.factory
        self.inproc = InprocRegistry()
    }

    /// A context that runs on an application's existing NIO event loops.
    public init(eventLoopGroup: any EventLoopGroup, logger: Logger = ZMQContext.silentLogger, metrics: (any MetricsFactory)? = nil) {
        self.eventLoopGroup = eventLoopGroup
        self.ownsGroup = false
        self.logger = logger
        self.metricsFactory = metrics ?? MetricsSystem.factory
        self.inproc = InprocRegistry()
    }

    /// The executor of `eventLoop`, one of this context's I/O threads.
    func ioExecutor(for eventLoop: any EventLoop) -> IOExecutor {
        ioExecutors.withLock { executors in
            if let known = executors[ObjectIdentifier(eventLoop)] { return known }
            let made = IOExecutor(eventLoop: eventLoop)
            executors[ObjectIdentifier(eventLoop)] = made
            return made
        }
    }

    /// A new socket of `type`, with `options` set in order. An option that is invalid or means
    /// nothing for the type throws `invalidOption`, and no socket is left open.
    ///
    ///     let dealer = try context.socket(.dealer, options: [.routingID(Array("A".utf8)), .linger(.zero)])
    public func socket(_ type: SocketType, options: [SocketOption] = []) throws -> ZMQSocket {
        guard !terminated.withLock({ $0 }) else { throw ZMQError.contextTerminated }
        let socket = try ZMQSocket(type: type, context: self)
        sockets.withLock { $0[ObjectIdentifier(socket)] = socket }
        do {
            for option in options { try socket.set(option) }
        } catch {
            socket.close()
            throw error
        }
        return socket
    }

    /// Installs the authenticator that every server socket of this context asks about each
    /// connecting client (nil removes it). Without one, a PLAIN server refuses every client.
    public func setAuthenticator(_ authenticator: (any ZMQAuthenticator)?) {
        installedAuthenticator.withLock { $0 = authenticator }
    }

    /// Installs a closure as the authenticator.
    public func authenticate(with body: @escaping @Sendable (ZAPRequest) async -> AuthenticationReply) {
        setAuthenticator(ClosureAuthenticator(body))
    }

    /// The installed authenticator; or else, if the application serves ZAP itself on
    /// `inproc://zeromq.zap.01` (as libzmq programs do), a client of that handler.
    var authenticator: (any ZMQAuthenticator)? {
        if let installed = installedAuthenticator.withLock({ $0 }) { return installed }
        guard inproc.isBound("zeromq.zap.01") else { return nil }
        return zapHandlerClient.withLock { client in
            if client == nil { client = ZAPHandlerClient(context: self) }
            return client
        }
    }

    private let zapHandlerClient = Mutex<ZAPHandlerClient?>(nil)

    func forget(_ socket: ZMQSocket) {
        sockets.withLock { $0[ObjectIdentifier(socket)] = nil }
    }

    /// Closes every socket still open and waits until every socket closed, now or before, has
    /// delivered what it queued or reached the end of its linger (all at once, as libzmq's
    /// `zmq_ctx_term` does), then stops the I/O threads. Cancelling the calling task cuts every
    /// linger short.
    public func shutdown() async {
        let alreadyTerminated = terminated.withLock { terminated in
            defer { terminated = true }
            return terminated
        }
        guard !alreadyTerminated else { return }
        // Sockets stay here until their closing is done, so those closed earlier are waited for too.
        let remaining = sockets.withLock { Array($0.values) }
        for socket in remaining { socket.close() }
        await withTaskGroup(of: Void.self) { group in
            for socket in remaining { group.addTask { await socket.waitUntilClosed() } }
        }
        if ownsGroup {
            try? await eventLoopGroup.shutdownGracefully()
        }
    }
}
