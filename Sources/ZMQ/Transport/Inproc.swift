import NIOConcurrencyHelpers
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
        guard case .inproc(let name) = connecter.endpoint.address else { return }
        let target = state.withLock { state -> ZMQSocket? in
            if let socket = state.bound[name] { return socket }
            state.pending[name, default: []].append(connecter)
            return nil
        }
        if let target { link(connecter, to: target) }
    }

    /// Whether a socket of this context is bound at `inproc://name`.
    func isBound(_ name: String) -> Bool {
        state.withLock { $0.bound[name] != nil }
    }

    func unbind(_ name: String) {
        state.withLock { _ = $0.bound.removeValue(forKey: name) }
    }

    /// Forgets a connect waiting for its name to be bound (the socket disconnected it).
    func forget(_ connecter: Connecter) {
        guard case .inproc(let name) = connecter.endpoint.address else { return }
        state.withLock { $0.pending[name]?.removeAll { $0 === connecter } }
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

    /// The routing id a socket hands its inproc peer, as its READY would over ZMTP: only the
    /// types that announce an Identity do.
    private static func identity(of socket: ZMQSocket) -> [UInt8]? {
        socket.type.announcesIdentity ? socket.options.routingID : nil
    }

    /// Joins a connect-side pipe to a new pipe of the bound socket with two engines, one per
    /// direction. Both run on the bound socket's event loop, so linking and draining never race.
    private func link(_ connecter: Connecter, to bound: ZMQSocket) {
        guard case .inproc(let name) = connecter.endpoint.address else { return }
        let connecting = connecter.socket
        bound.eventLoop.execute {
            guard connecting.type.isCompatible(with: bound.type) else {
                let reason = HandshakeFailure(ZMTPError.incompatibleSocketType(ours: bound.type.rawValue, theirs: connecting.type.rawValue))
                connecting.connectionLog.record(SocketEvent(.handshakeFailed, endpoint: "\(connecter.endpoint)", failure: reason))
                bound.connectionLog.record(SocketEvent(.handshakeFailed, endpoint: "\(connecter.endpoint)", failure: reason))
                return
            }
            let link = InprocLink()
            let outward = InprocEngine(socket: connecting, link: link, connecter: connecter, registry: self,
                                       peerReceiveHighWaterMark: bound.options.receiveHighWaterMark)
            let inward = InprocEngine(socket: bound, link: link, connecter: nil, registry: self,
                                      peerReceiveHighWaterMark: connecting.options.receiveHighWaterMark, acceptedAt: name)
            link.withLock {
                outward.peer = inward
                inward.peer = outward
                // Known before attach, which may already ask for a drain.
                outward.pipe = connecter.pipe
            }
            guard connecting.register(outward), bound.register(inward) else {
                outward.abandon()
                connecting.unregister(outward)
                bound.unregister(inward)
                return
            }
            let peerOfBound = PeerInfo(socketType: connecting.type, identity: Self.identity(of: connecting), metadata: Metadata(), minorVersion: 1)
            guard let inwardPipe = bound.attach(inward, peer: peerOfBound, connectPipe: nil) else {
                outward.abandon()
                connecting.unregister(outward)
                bound.unregister(inward)
                bound.connectionLog.record(SocketEvent(.peerRefused, endpoint: "\(connecter.endpoint)"))
                return
            }
            inward.linked(to: inwardPipe)
            let peerOfConnecting = PeerInfo(socketType: bound.type, identity: Self.identity(of: bound), metadata: Metadata(), minorVersion: 1)
            guard connecting.attach(outward, peer: peerOfConnecting, connectPipe: connecter.pipe) != nil else {
                inward.unlink()
                return
            }
            let endpoint = connecter.endpoint.description
            connecting.connectionLog.record(SocketEvent(.handshakeSucceeded, endpoint: endpoint))
            bound.connectionLog.record(SocketEvent(.handshakeSucceeded, endpoint: endpoint))
        }
    }
}

/// The lock both directions of one inproc link share: a drain reads its own pipe and its peer's,
/// so one lock for the pair keeps the two directions from waiting on each other.
final class InprocLink: @unchecked Sendable {
    private let lock = NIOLock()

    func withLock<T>(_ body: () throws -> T) rethrows -> T {
        try lock.withLock(body)
    }
}

/// One direction of an inproc link: moves whole batches from its socket's pipe straight into the
/// peer's pipe, with no encoding. Its fields are guarded by the link's lock.
final class InprocEngine: PipeEngine, @unchecked Sendable {
    let socket: ZMQSocket
    private let link: InprocLink
    private let connecter: Connecter?
    private let registry: InprocRegistry
    /// The bound name the peer connected to, on the bound side; `unbind` closes these links.
    let acceptedAt: String?
    /// The link's endpoint, for monitor events.
    var endpoint: String { connecter?.endpoint.description ?? acceptedAt.map { "inproc://\($0)" } ?? "inproc" }
    var peerAddress: String? { nil }
    var peerPulls: Bool { true }
    let peerReceiveHighWaterMark: Int?
    var pipe: Pipe? {
        didSet { pipeHandle = pipe.map(Unmanaged.passUnretained) }
    }
    /// `pipe` without a reference count: a drain on the receiving thread must not write to the
    /// counts of the objects the sending thread reads for every message.
    private var pipeHandle: Unmanaged<Pipe>?
    var peer: InprocEngine?
    /// The peer's inbound queue reached its high-water mark; wait for it to resume us.
    private var peerFull = false
    /// A drain was asked for before the link was complete.
    private var drainWanted = false
    private var batch = MessageQueue()

    init(socket: ZMQSocket, link: InprocLink, connecter: Connecter?, registry: InprocRegistry,
         peerReceiveHighWaterMark: Int, acceptedAt: String? = nil) {
        self.socket = socket
        self.peerReceiveHighWaterMark = peerReceiveHighWaterMark
        self.acceptedAt = acceptedAt
        self.link = link
        self.connecter = connecter
        self.registry = registry
    }

    /// The bound side's pipe exists once its socket has attached it.
    func linked(to pipe: Pipe) {
        link.withLock {
            self.pipe = pipe
            if drainWanted || peer?.drainWanted == true {
                drainWanted = false
                peer?.drainWanted = false
                drainLocked()
                peer?.drainLocked()
            }
        }
    }

    /// Called with the link's lock held. Takes the socket locks one at a time, never together.
    /// With `everything`, delivers all that is queued whether or not the peer has read what it
    /// holds (the socket is closing).
    private func drainLocked(everything: Bool = false) {
        guard let pipeHandle, let peer, let peerPipeHandle = peer.pipeHandle else {
            drainWanted = true
            return
        }
        guard !peerFull || everything else { return }
        pipeHandle._withUnsafeGuaranteedRef { pipe in
            peerPipeHandle._withUnsafeGuaranteedRef { peerPipe in
                while let taken = socket.takeOutbound(from: pipe, into: &batch) {
                    let full = peer.socket.deliver(&batch, from: peerPipe)
                    if taken.reportWhenWritten { socket.batchWritten(from: pipe) }
                    if full {
                        peerFull = true
                        if !everything { return }
                    }
                }
            }
        }
    }

    /// Delivers at once, on the sending thread: no I/O-thread hop. The peer's pipe pauses as
    /// soon as it holds something unread, and its receiving thread takes the rest itself when it
    /// has read it down (`resumeReading`): a stream of sends wakes nobody.
    func scheduleDrain() {
        link.withLock { drainLocked() }
    }

    /// Our socket read its inbound queue down: the peer may deliver again.
    func resumeReading() {
        link.withLock {
            guard let peer else { return }
            peer.peerFull = false
            peer.drainLocked()
        }
    }

    /// A closing socket's sends are the peer's: libzmq's inproc sends are in the peer's pipe once
    /// made, so even a close with no linger loses none of them.
    func socketClosing() {
        link.withLock { drainLocked(everything: true) }
    }

    /// Delivery happens inside the drain: whatever was taken is already with the peer.
    func whenFlushed(_ done: @escaping @Sendable () -> Void) {
        done()
    }

    func close() async {
        unlink()
    }

    /// Drops a link that never carried a message: each half holds the other, so both must let go
    /// or the two keep each other, and their sockets, alive.
    func abandon() {
        link.withLock {
            for half in [self, peer].compactMap({ $0 }) {
                half.pipe = nil
                half.peer = nil
            }
        }
    }

    /// Detaches both directions from their sockets; the connect side waits for the next bind.
    func unlink() {
        let halves = link.withLock { () -> [(InprocEngine, Pipe?)] in
            let halves = [self, peer].compactMap { $0 }.map { ($0, $0.pipe) }
            for (half, _) in halves {
                half.pipe = nil
                half.peer = nil
            }
            return halves
        }
        for (half, pipe) in halves {
            if let pipe {
                half.socket.detach(half, from: pipe)
                half.socket.connectionLog.record(SocketEvent(.disconnected, endpoint: half.endpoint))
            }
            half.socket.unregister(half)
        }
        for (half, _) in halves {
            if let connecter = half.connecter, !connecter.isStopped, !half.socket.state.withLock({ $0.closed }) {
                registry.connect(connecter)
            }
        }
    }
}
