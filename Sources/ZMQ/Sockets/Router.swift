import ZMTP

/// ROUTER (28/REQREP): names every peer and routes by name. Each message received gets the
/// sender's routing id as a new first frame (the id its connection had); a message sent goes to
/// the peer its first frame names, without that frame. A message for a peer that is gone, or
/// whose queue is full, is dropped, as libzmq does; with `routerMandatory` the first throws
/// `unroutable` and the second waits for room.
///
/// Peers are named by a `RoutingTable`: by the Identity they announced (a second peer announcing
/// one in use is refused), or else by five octets made up for them, as libzmq's.
struct RouterPattern: RoutingByID {
    private(set) var table = RoutingTable()
    private var mandatory = false
    /// With `routerMandatory`, the peer a send is waiting for room at.
    private(set) var waitingFor: Pipe?

    private var handover = false
    private var notify: RouterNotify = []

    mutating func configure(_ options: SocketOptions) {
        mandatory = options.routerMandatory
        handover = options.routerHandover
        notify = options.routerNotify
    }

    func admits(_ peer: PeerInfo, among pipes: [Pipe]) -> Bool {
        table.admits(peer.identity, handover: handover)
    }

    /// The peer gets its routing id; with `routerHandover`, one announced by a peer already
    /// there is taken over, and the old peer's pipe is returned for the socket to close.
    mutating func attached(_ pipe: Pipe) -> Pipe? {
        let (id, replaced) = table.name(pipe, handover: handover)
        // [id, ""]: the id goes on as it is handed out.
        if notify.contains(.connect) { pipe.inbound.append(Message(Frame())) }
        return replaced
    }

    mutating func detached(_ pipe: Pipe) {
        guard table.remove(pipe) else { return }
        if notify.contains(.disconnect) { pipe.inbound.append(Message(Frame())) }
    }

    mutating func send(_ message: Message, among pipes: [Pipe], outbox: inout Outbox) throws(ZMQError) -> Bool {
        // A routing id with nothing after it is not a message: dropped, as libzmq does.
        guard message.count >= 2 else {
            outbox.drop(.malformed, at: nil)
            return true
        }
        guard let pipe = table[message[0]] else {
            waitingFor = nil
            if mandatory { throw .unroutable(routingID: message[0].bytes) }
            outbox.drop(.unroutable, at: nil)
            return true
        }
        guard pipe.hasRoom(hwm: outbox.hwm, waits: mandatory) else {
            guard mandatory else {
                outbox.drop(.highWaterMark, at: pipe)
                return true
            }
            waitingFor = pipe
            return false
        }
        waitingFor = nil
        outbox.queue(moving: message.droppingFirstForWire(), on: pipe)
        return true
    }
}
