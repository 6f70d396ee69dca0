import ZMTP

/// DGRAM: udp datagrams to and from any address, as libzmq's. Each message is `[address,
/// body]`: received, the sender's `ip:port`; sent, the `ip:port` to send the body to (a reply
/// goes to the address a message came from). A body over 8,192 octets, or an address that is
/// not `ip:port`, is refused with an error. Bound or connected over udp only.
struct DgramPattern: SocketPattern {

    mutating func send(_ message: Message, among pipes: [Pipe], outbox: inout Outbox) throws(ZMQError) -> Bool {
        guard message.count == 2 else {
            throw .invalidMessage("a DGRAM message is two frames, [address, body], not \(message.count)")
        }
        guard DatagramEngine.address(message[0]) != nil else {
            throw .invalidMessage("'\(message[0].string ?? "binary")' is not an ip:port address")
        }
        guard let pipe = pipes.first(where: { $0.engine != nil }) else { return false }
        if let limit = pipe.datagramLimit, message[1].count > limit {
            throw .invalidMessage("udp carries at most \(limit) octets per datagram; this one needs \(message[1].count)")
        }
        guard pipe.hasRoom(hwm: outbox.hwm) else { return false }
        outbox.queue(message, on: pipe)
        return true
    }

    mutating func pipeForReceiving(among pipes: [Pipe]) throws(ZMQError) -> Pipe? {
        FairQueue.next(in: pipes)
    }
}
