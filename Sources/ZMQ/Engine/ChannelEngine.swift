import NIOCore

/// What the ZMTP, raw and datagram engines do alike with their channel: reading pauses at the
/// receive high-water mark and resumes at the socket's word, and `close` waits until the channel
/// is gone. Everything here runs on the engine's event loop.
protocol ChannelEngine: PipeEngine {
    var eventLoop: any EventLoop { get }
    /// The handler's context while the engine is in its channel's pipeline.
    var channelContext: ChannelHandlerContext? { get }
    var readGate: ReadGate { get set }
}

/// Reading paused at the receive high-water mark: NIO's read requests are held back meanwhile,
/// so the kernel's buffer, then the peer, wait.
struct ReadGate {
    private(set) var paused = false
    private var pending = false

    mutating func pause() { paused = true }

    /// A read NIO asks for: passed on, unless reading is paused.
    mutating func read(_ context: ChannelHandlerContext) {
        if paused {
            pending = true
        } else {
            context.read()
        }
    }

    /// Reading may go on: a read held back is asked for now.
    mutating func resume(_ context: ChannelHandlerContext?) {
        guard paused else { return }
        paused = false
        if pending {
            pending = false
            context?.read()
        }
    }
}

extension ChannelEngine {
    func resumeReading() {
        eventLoop.execute { self.readGate.resume(self.channelContext) }
    }

    func close() async {
        let eventLoop = self.eventLoop
        let closed: EventLoopFuture<Void> = eventLoop.submit {
            guard let context = self.channelContext else { return eventLoop.makeSucceededVoidFuture() }
            context.close(promise: nil)
            return context.channel.closeFuture
        }.flatMap { $0 }
        try? await closed.get()
    }
}

extension ChannelEngine where Self: ChannelOutboundHandler, Self.OutboundOut == ByteBuffer {
    func whenFlushed(_ done: @escaping @Sendable () -> Void) {
        eventLoop.execute {
            guard let context = self.channelContext, context.channel.isActive else { return done() }
            // Writes complete in order: an empty one completes after everything before it.
            let flushed = self.eventLoop.makePromise(of: Void.self)
            context.writeAndFlush(self.wrapOutboundOut(ByteBuffer()), promise: flushed)
            flushed.futureResult.whenComplete { _ in done() }
        }
    }
}
