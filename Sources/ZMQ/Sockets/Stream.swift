import ZMTP

/// STREAM: a ZeroMQ socket talking to plain TCP peers (an HTTP client, a line protocol), raw
/// octets in and out with no ZMTP, as libzmq's. Each message is `[routing id, data]`: received,
/// the data is what one read returned; sent, the data is written to the peer the id names. A
/// zero-length data frame closes that connection (after what was sent before it); an unknown
/// id throws `unroutable`. With `streamNotify` (the default) a zero-length data frame is also
/// delivered when a peer connects and when it disconnects. ROUTER with `routerRaw` is this
/// socket too.
///
/// Peers are named by a `RoutingTable`: five made-up octets, or the id `connectRoutingID` gave
/// the connection.
struct StreamPattern: RoutingByID {
    private(set) var table = RoutingTable()
    private var notify = true
    /// The peer a send is waiting for room at.
    private(set) var waitingFor: Pipe?

    mutating func configure(_ options: SocketOptions) {
        notify = options.streamNotify
    }

    mutating func attached(_ pipe: Pipe) -> Pipe? {
        _ = table.name(pipe, handover: false)
        // [id, ""]: the id goes on as it is handed out.
        if notify { pipe.inbound.append(Message(Frame())) }
        return nil
    }

    /// A connection this socket closed (by a zero-length frame) was taken out of the table
    /// then, and is not announced: libzmq notifies only of a peer's own disconnects.
    mutating func detached(_ pipe: Pipe) {
        guard table.remove(pipe) else { return }
        if notify { pipe.inbound.append(Message(Frame())) }
    }

    mutating func send(_ message: Message, among pipes: [Pipe], outbox: inout Outbox) throws(ZMQError) -> Bool {
        guard message.count == 2 else {
            throw .invalidMessage("a STREAM message is two frames, [routing id, data], not \(message.count)")
        }
        guard let pipe = table[message[0]] else {
            waitingFor = nil
            throw .unroutable(routingID: message[0].bytes)
        }
        let data = message[1]
        if data.isEmpty {
            // The engine closes the connection when it reaches this empty message.
            _ = table.remove(pipe)
            waitingFor = nil
            outbox.queue(moving: Message(data), on: pipe)
            return true
        }
        guard pipe.hasRoom(hwm: outbox.hwm) else {
            waitingFor = pipe
            return false
        }
        waitingFor = nil
        outbox.queue(moving: Message(data), on: pipe)
        return true
    }
}
