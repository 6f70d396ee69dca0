import DequeModule
import NIOCore
import Synchronization
import ZMTP

/// The names bound with `inproc://` in one context, and the connects waiting for a name to be
/// bound: bind and connect work in either order.
final class InprocRegistry: Sendable {
    private struct State {
        var bound: [String: ZMQSocket] = [:]
        var pending: [String: [Connecter]] = [:]
    }
    private let state = Mutex(State())

    func bind(_ name: String, socket: ZMQSocket) throws(ZMQError) {
        let waiting = try state.withLock { (state: inout State) throws(ZMQError) -> [Connecter] in
            guard state.bound[name] == nil else { throw .addressInUse("inproc://\(name)") }
            state.bound[name] = socket
            return state.pending.removeValue(forKey: name) ?? []
        }
        for connecter in waiting { link(connecter, to: socket) }
    }

    /// Links `connecter` to the socket bound at its name, or waits for that name to be bound.
    /// Also used to put a connect whose peer went away back in line for the next bind.
    func connect(_ connecter: Connecter) {
        guard case .inproc(let name) = connecter.endpoint else { return }
        let target = state.withLock { state -> ZMQSocket? in
            if let socket = state.bound[name] { return socket }
            state.pending[name, default: []].append(connecter)
            return nil
        }
        if let target { link(connecter, to: target) }
    }

    func unbind(_ name: String) {
        state.withLock { _ = $0.bound.removeValue(forKey: name) }
    }

    /// Forgets every name a closing socket bound and every connect it left waiting.
    func unbind(socket: ZMQSocket) {
        state.withLock { state in
            state.bound = state.bound.filter { $0.value !== socket }
            for name in state.pending.keys {
                state.pending[name]?.removeAll { $0.socket === socket }
            }
        }
    }

    /// Joins a connect-side pipe to a new pipe of the bound socket with two engines, one per
    /// direction. Both run on the bound socket's event loop, so linking and draining never race.
    private func link(_ connecter: Connecter, to bound: ZMQSocket) {
        let connecting = connecter.socket
        bound.eventLoop.execute {
            guard connecting.type.isCompatible(with: bound.type) else {
                bound.logger.warning("inproc: \(connecting.type) cannot connect to \(bound.type)", metadata: ["endpoint": "\(connecter.endpoint)"])
                return
            }
            let outward = InprocEngine(socket: connecting, eventLoop: bound.eventLoop, connecter: connecter, registry: self)
            let inward = InprocEngine(socket: bound, eventLoop: bound.eventLoop, connecter: nil, registry: self)
            outward.peer = inward
            inward.peer = outward
            guard connecting.register(outward), bound.register(inward) else {
                connecting.unregister(outward)
                bound.unregister(inward)
                return
            }
            let peerOfBound = PeerInfo(socketType: connecting.type, identity: connecting.options.routingID, metadata: Metadata(), minorVersion: 1)
            guard let inwardPipe = bound.attach(inward, peer: peerOfBound, connectPipe: nil) else {
                connecting.unregister(outward)
                bound.unregister(inward)
                return
            }
            inward.pipe = inwardPipe
            let peerOfConnecting = PeerInfo(socketType: bound.type, identity: bound.options.routingID, metadata: Metadata(), minorVersion: 1)
            guard let outwardPipe = connecting.attach(outward, peer: peerOfConnecting, connectPipe: connecter.pipe) else {
                inward.unlink()
                return
            }
            outward.pipe = outwardPipe
            let endpoint = connecter.endpoint.description
            connecting.events.emit(.handshakeSucceeded(endpoint: endpoint))
            bound.events.emit(.handshakeSucceeded(endpoint: endpoint))
        }
    }
}

/// One direction of an inproc link: moves whole batches from its socket's pipe straight into the
/// peer's pipe, with no encoding. Confined to one event loop.
final class InprocEngine: PipeEngine, @unchecked Sendable {
    let socket: ZMQSocket
    private let eventLoop: any EventLoop
    private let connecter: Connecter?
    private let registry: InprocRegistry
    var pipe: Pipe?
    var peer: InprocEngine?
    /// The peer's inbound queue reached its high-water mark; wait for it to resume us.
    private var peerFull = false
    private var batch = Deque<Message>()

    init(socket: ZMQSocket, eventLoop: any EventLoop, connecter: Connecter?, registry: InprocRegistry) {
        self.socket = socket
        self.eventLoop = eventLoop
        self.connecter = connecter
        self.registry = registry
    }

    private func drain() {
        guard !peerFull, let pipe, let peer, let peerPipe = peer.pipe else { return }
        while socket.takeOutbound(from: pipe, into: &batch) {
            let full = peer.socket.deliver(&batch, from: peerPipe)
            socket.batchWritten(from: pipe)
            if full {
                peerFull = true
                return
            }
        }
    }

    func scheduleDrain() {
        eventLoop.execute { self.drain() }
    }

    /// Our socket read its inbound queue down: the peer may deliver again.
    func resumeReading() {
        eventLoop.execute {
            guard let peer = self.peer else { return }
            peer.peerFull = false
            peer.drain()
        }
    }

    func close() async {
        try? await eventLoop.submit { self.unlink() }.get()
    }

    /// Detaches both directions from their sockets; the connect side waits for the next bind.
    func unlink() {
        let halves = [self, peer].compactMap { $0 }
        for half in halves {
            if let pipe = half.pipe {
                half.socket.detach(half, from: pipe)
                half.socket.events.emit(.disconnected(endpoint: "inproc", reason: nil))
            }
            half.socket.unregister(half)
            half.pipe = nil
            half.peer = nil
        }
        for half in halves {
            if let connecter = half.connecter, !half.socket.state.withLock({ $0.closed }) {
                registry.connect(connecter)
            }
        }
    }
}
