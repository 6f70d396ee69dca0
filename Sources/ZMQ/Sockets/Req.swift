import ZMTP

/// REQ (28/REQREP): one request, then its reply. A request goes to the next peer with room
/// (round-robin) behind an empty delimiter frame; only that peer's reply, starting with the
/// delimiter, is accepted, and the delimiter is removed. Strictly, sending twice or receiving
/// before sending throws `invalidState`; if the peer goes away the reply never comes, so use a
/// receive timeout, as with libzmq, or `reqRelaxed`, which lets a new request go (to the next
/// peer) without the reply. With `reqCorrelate` each request carries a 4-octet request id before
/// its delimiter, and a reply must bring the id of the last request back, so that a late reply
/// to an abandoned request is never taken for the answer to a newer one.
struct ReqPattern: LoadBalancing {
    var loadBalancer = LoadBalancer()
    /// The peer asked, while its reply is awaited.
    private var replyPipe: Pipe?
    /// The peer asked last, answered or not.
    private var lastAsked: Pipe?
    private var relaxed = false
    private var correlate = false
    /// The id of the last request, when correlating; libzmq starts from a random one too.
    private var requestID = UInt32.random(in: 0...UInt32.max)

    var batchesReceives: Bool { false }

    mutating func configure(_ options: SocketOptions) {
        relaxed = options.reqRelaxed
        correlate = options.reqCorrelate
    }

    mutating func send(_ message: Message, among pipes: [Pipe], outbox: inout Outbox) throws(ZMQError) -> Bool {
        guard replyPipe == nil || relaxed else {
            throw .invalidState("a REQ socket must receive the reply before it sends another request")
        }
        guard let pipe = loadBalancer.select(hwm: outbox.hwm)?.takeUnretainedValue() else { return false }
        // A late reply to an earlier request must not pass for the answer to this one. Only the
        // peer last asked can hold one (a second reply that came with the first): `received`
        // drops what any other peer sends.
        if let previous = lastAsked, !previous.inbound.isEmpty, pipes.contains(where: { $0 === previous }) {
            outbox.discardInbound(of: previous)
        }
        var request = message.prepending(Frame())
        if correlate {
            requestID &+= 1
            request = request.prepending(Self.frame(for: requestID))
        }
        outbox.queue(moving: request, on: pipe)
        replyPipe = pipe
        lastAsked = pipe
        return true
    }

    /// The request id as libzmq writes it: the 32-bit counter in the machine's byte order, which
    /// only the REQ itself ever reads (little-endian here, as on the machines libzmq runs on).
    private static func frame(for id: UInt32) -> Frame {
        withUnsafeBytes(of: id.littleEndian) { Frame(Array($0)) }
    }

    /// Strict: only between a reply and the next request. Relaxed: whenever a peer has room.
    func hasOut(among pipes: [Pipe], hwm: Int) -> Bool {
        (replyPipe == nil || relaxed) && loadBalancer.hasOut(hwm: hwm)
    }

    /// Only when the reply to the request sent has come.
    func hasIn(among pipes: [Pipe]) -> Bool {
        replyPipe.map { !$0.inbound.isEmpty } ?? false
    }

    mutating func pipeForReceiving(among pipes: [Pipe]) throws(ZMQError) -> Pipe? {
        guard let replyPipe else {
            throw .invalidState("a REQ socket must send a request before it receives")
        }
        return replyPipe.inbound.isEmpty ? nil : replyPipe
    }

    /// Drops what is not a reply to the request awaited: from another peer, without the
    /// delimiter, or (correlating) without the request's id.
    mutating func received(_ batch: inout MessageQueue, from pipe: Pipe) -> DropTally {
        let before = batch.count
        guard replyPipe === pipe else {
            batch.removeAll()
            return DropTally(count: before)
        }
        let envelope = correlate ? 2 : 1
        let id = correlate ? Self.frame(for: requestID) : nil
        batch.removeAll { reply in
            reply.count <= envelope || !reply[envelope - 1].isEmpty || (id != nil && reply[0] != id!)
        }
        return DropTally(count: before - batch.count)
    }

    mutating func handOut(_ message: Message, from pipe: Pipe) -> Message {
        replyPipe = nil
        return message.droppingFirst(correlate ? 2 : 1)
    }
}
