import Testing
@testable import ZMQ

@Suite("Routing strategies")
struct RoutingTests {
    func pipe(_ id: Int, inbound: [String] = [], outbound: Int = 0) -> Pipe {
        let pipe = Pipe(id: id, isConnectSide: true)
        pipe.inbound.append(contentsOf: inbound.map { Message(Frame($0)) })
        for _ in 0..<outbound { pipe.outbound.append("queued") }
        return pipe
    }

    @Test("the fair queue takes one message from each peer in turn")
    func fairQueueAlternates() {
        let pipes = [pipe(1, inbound: ["a1", "a2", "a3"]), pipe(2, inbound: []), pipe(3, inbound: ["c1", "c2"])]
        var fairQueue = FairQueue()
        var order: [String] = []
        while let next = fairQueue.select(from: pipes) {
            order.append(next.inbound.removeFirst()[0].string!)
        }
        #expect(order == ["a1", "c1", "a2", "c2", "a3"])
    }

    @Test("the load balancer goes round-robin and skips peers at the high-water mark")
    func loadBalancerSkipsFullPipes() {
        let pipes = [pipe(1), pipe(2, outbound: 2), pipe(3)]
        var loadBalancer = LoadBalancer()
        let picks = (0..<4).map { _ in loadBalancer.select(from: pipes, hwm: 2)!.id }
        #expect(picks == [1, 3, 1, 3])
        let full = [pipe(1, outbound: 2), pipe(2, outbound: 2)]
        #expect(loadBalancer.select(from: full, hwm: 2) == nil)
        #expect(loadBalancer.select(from: full, hwm: 0) != nil, "0 means no limit")
    }

    @Test("PAIR admits a peer only while it has none")
    func pairAdmitsOne() {
        let pattern = PairPattern()
        let peer = PeerInfo(socketType: .pair, identity: nil, metadata: Metadata(), minorVersion: 1)
        #expect(pattern.admits(peer, among: []))
        #expect(!pattern.admits(peer, among: [pipe(1)]))
        let gone = pipe(2)
        gone.isDetached = true
        #expect(pattern.admits(peer, among: [gone]), "a peer whose connection is gone does not count")
    }
}
