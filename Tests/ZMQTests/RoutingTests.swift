import Testing
@testable import ZMQ
import ZMQTestSupport

@Suite("Routing strategies", .timeLimit(.minutes(1)))
struct RoutingTests {
    func pipe(_ id: Int, inbound: [String] = [], outbound: Int = 0) -> Pipe {
        let pipe = Pipe(id: id, isConnectSide: true)
        pipe.inbound.append(contentsOf: inbound.map { Message(Frame($0)) })
        for _ in 0..<outbound { pipe.withOutbound { $0.append("queued") } }
        return pipe
    }

    @Test("the fair queue takes one message from each peer in turn, and holds only peers with messages")
    func fairQueueAlternates() {
        let pipes = [pipe(1, inbound: ["a1", "a2", "a3"]), pipe(2, inbound: []), pipe(3, inbound: ["c1", "c2"])]
        var fairQueue = FairQueue()
        for pipe in pipes { fairQueue.activate(pipe) }
        #expect(fairQueue.pipes.map(\.id) == [1, 3], "an idle peer is never looked at")
        var order: [String] = []
        while let next = FairQueue.next(in: fairQueue.pipes) {
            order.append(next.inbound.removeFirst()[0].string!)
            fairQueue.turnTaken(by: next)
        }
        #expect(order == ["a1", "c1", "a2", "c2", "a3"])
        #expect(fairQueue.pipes.isEmpty && pipes.allSatisfy { !$0.isReadable })
        // A peer with new messages joins at the back, once however often it is activated.
        pipes[1].inbound.append("b1")
        fairQueue.activate(pipes[1])
        fairQueue.activate(pipes[1])
        #expect(fairQueue.pipes.map(\.id) == [2])
    }

    @Test("the load balancer goes round-robin, sets aside peers at the high-water mark until they have room, and forgets peers that leave")
    func loadBalancerSkipsFullPipes() {
        let pipes = [pipe(1), pipe(2, outbound: 2), pipe(3)]
        var loadBalancer = LoadBalancer()
        for pipe in pipes { loadBalancer.add(pipe) }
        let picks = (0..<4).map { _ in loadBalancer.select(hwm: 2)!.takeUnretainedValue().id }
        #expect(picks == [1, 3, 1, 3])
        // The full peer is out of the active region: it is not looked at again until activated.
        _ = pipes[1].dropOutbound()
        #expect(Set((0..<4).map { _ in loadBalancer.select(hwm: 2)!.takeUnretainedValue().id }) == [1, 3])
        loadBalancer.activate(pipes[1])
        #expect(Set((0..<3).map { _ in loadBalancer.select(hwm: 2)!.takeUnretainedValue().id }) == [1, 2, 3])
        loadBalancer.remove(pipes[0])
        #expect(Set((0..<4).map { _ in loadBalancer.select(hwm: 2)!.takeUnretainedValue().id }) == [2, 3])
        var full = LoadBalancer()
        let fullPipes = [pipe(1, outbound: 2), pipe(2, outbound: 2)]
        for pipe in fullPipes { full.add(pipe) }
        #expect(full.select(hwm: 2) == nil && !full.hasOut(hwm: 2))
        full.activateAll()
        #expect(full.select(hwm: 0) != nil, "0 means no limit")
    }

    @Test("the topic tree finds each peer subscribed to a prefix of the message, once, and forgets what is cancelled")
    func topicTree() {
        let (everything, a, ab, b) = (pipe(1), pipe(2), pipe(3), pipe(4))
        let tree = TopicTree()
        // As a publisher keeps them: the pipe's own set, then the tree.
        func subscribe(_ topic: String, _ pipe: Pipe) {
            pipe.subscriptions.add(Array(topic.utf8))
            tree.add(Array(topic.utf8), pipe)
        }
        subscribe("", everything)
        subscribe("a", a)
        subscribe("ab", a)
        subscribe("ab", ab)
        subscribe("b", b)
        var collected: [Unmanaged<Pipe>] = []
        var matching: [Pipe] { collected.map { $0.takeUnretainedValue() } }
        tree.collect(Message("abc"), into: &collected)
        #expect(matching.map(\.id).sorted() == [1, 2, 3], "b is never looked at; a once though it holds two prefixes")
        tree.collect(Message(Frame()), into: &collected)
        #expect(matching.map(\.id) == [1])
        tree.remove(Array("ab".utf8), ab)
        tree.remove(Array("a".utf8), a)
        tree.collect(Message("abc"), into: &collected)
        #expect(matching.map(\.id).sorted() == [1, 2], "a still holds ab")
        tree.remove(Array("ab".utf8), a)
        tree.remove([], everything)
        tree.collect(Message("abc"), into: &collected)
        #expect(matching.isEmpty)
    }

    @Test("the topic tree agrees with testing every peer's topics, through thousands of subscribes and cancels")
    func topicTreeAgreesWithBruteForce() {
        var random = HostilePeerTests.SplitMix(state: 22)
        let pipes = (1...12).map { pipe($0) }
        let tree = TopicTree()
        // Short topics over a few octets, far apart and adjacent, so nodes go from no child to
        // one (held alone) to a table and back, and tables grow at either end.
        let alphabet: [UInt8] = [0x00, 0x41, 0x42, 0x43, 0x7A, 0xFF]
        func topic() -> [UInt8] { (0..<Int.random(in: 0...3, using: &random)).map { _ in alphabet.randomElement(using: &random)! } }
        var collected: [Unmanaged<Pipe>] = []
        for _ in 0..<3000 {
            let pipe = pipes.randomElement(using: &random)!
            let chosen = topic()
            if pipe.subscriptions.contains(chosen), Bool.random(using: &random) {
                pipe.subscriptions.remove(chosen)
                tree.remove(chosen, pipe)
            } else if !pipe.subscriptions.contains(chosen) {
                pipe.subscriptions.add(chosen)
                tree.add(chosen, pipe)
            }
            let message = Message(Frame(topic() + [0x01]))
            tree.collect(message, into: &collected)
            let found = collected.map { $0.takeUnretainedValue().id }
            #expect(found.count == Set(found).count, "each peer once")
            #expect(Set(found) == Set(pipes.filter { $0.subscriptions.matches(message) }.map(\.id)))
        }
    }

    @Test("the routing table finds a peer by exactly its id, whatever the id's length, from a frame or an array")
    func routingTableKeys() {
        var ids: [[UInt8]] = [[], [0], [0, 0], [1], [1, 0], [0, 1]]
        for length in [4, 5, 7, 8, 9, 16, 40] {
            let base = (0..<length).map { UInt8(truncatingIfNeeded: $0 &* 37 &+ 1) }
            ids.append(base)
            ids.append(base + [0])
            var changed = base
            changed[length - 1] ^= 0x80
            ids.append(changed)
        }
        var table = RoutingTable()
        var pipes: [Pipe] = []
        for (index, id) in ids.enumerated() {
            let pipe = Pipe(id: index, isConnectSide: false)
            pipe.peer = PeerInfo(socketType: .dealer, identity: id, metadata: Metadata(), minorVersion: 1)
            pipes.append(pipe)
            #expect(table.name(pipe, handover: false).id == (id.isEmpty ? pipe.routingID : id))
        }
        #expect(table.count == ids.count)
        for (id, pipe) in zip(ids, pipes) where !id.isEmpty {
            #expect(table[id] === pipe, "\(id)")
            #expect(table[Frame(id)] === pipe, "\(id)")
        }
        for pipe in pipes {
            let removed = table.remove(pipe)
            #expect(removed)
        }
        #expect(table.count == 0)
    }

    @Test("the table of made-up ids agrees with a dictionary through thousands of files and removals, as it grows")
    func pipesByNumber() {
        var table = PipesByNumber()
        var reference: [UInt32: Pipe] = [:]
        var generator = SystemRandomNumberGenerator()
        // Consecutive numbers from a random start, as the routing table makes them, wrapping
        // around 2^32; every few steps a random one of those filed leaves.
        var next = UInt32.random(in: 0...UInt32.max, using: &generator)
        for step in 0..<5_000 {
            let pipe = Pipe(id: step, isConnectSide: false)
            table.insert(pipe, at: next)
            reference[next] = pipe
            next &+= 1
            if step % 3 == 2, let leaving = reference.keys.randomElement(using: &generator) {
                let removed = table.remove(leaving), again = table.remove(leaving)
                reference[leaving] = nil
                #expect(removed && !again, "a number taken out is not there twice")
            }
        }
        #expect(table.count == reference.count)
        for (number, pipe) in reference { #expect(table[number] === pipe) }
        for number in [next, next &+ 1, next &+ 1_000_000] { #expect(table[number] == nil) }
        for number in Array(reference.keys) {
            let removed = table.remove(number)
            #expect(removed)
            reference[number] = nil
            if number % 64 == 0 {
                for (other, pipe) in reference { #expect(table[other] === pipe) }
            }
        }
        #expect(table.count == 0)
    }

    @Test("an announced id shaped as a made-up one is found, and leaves, as any other")
    func announcedIDShapedAsMadeUp() {
        var table = RoutingTable()
        let made = named(1, identity: nil)
        let madeID = table.name(made, handover: false).id
        let lookalike = named(2, identity: nil)
        lookalike.peer = PeerInfo(socketType: .dealer, identity: [0, 0, 0, 0, 7], metadata: Metadata(), minorVersion: 1)
        #expect(table.name(lookalike, handover: false).id == [0, 0, 0, 0, 7])
        #expect(table[madeID] === made && table[[0, 0, 0, 0, 7]] === lookalike && table[Frame([0, 0, 0, 0, 7])] === lookalike)
        // One announcing the made-up peer's id does not get it.
        let copycat = named(3, identity: nil)
        copycat.peer = PeerInfo(socketType: .dealer, identity: madeID, metadata: Metadata(), minorVersion: 1)
        #expect(table.name(copycat, handover: false).id != madeID && table[madeID] === made)
        let lookalikeRemoved = table.remove(lookalike)
        #expect(lookalikeRemoved && table[[0, 0, 0, 0, 7]] == nil && table[madeID] === made)
        let madeRemoved = table.remove(made), copycatRemoved = table.remove(copycat)
        #expect(madeRemoved && table[madeID] == nil && copycatRemoved && table.count == 0)
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

    /// A pipe whose peer announced `identity` (nil: none), accepted or connected.
    func named(_ id: Int, identity: String?, connectSide: Bool = false) -> Pipe {
        let pipe = Pipe(id: id, isConnectSide: connectSide)
        pipe.peer = PeerInfo(socketType: .dealer, identity: identity.map { Array($0.utf8) }, metadata: Metadata(), minorVersion: 1)
        return pipe
    }

    @Test("the routing table names a peer by its Identity, else by a made-up 5-octet id; a name in use is not given twice")
    func routingTableNames() {
        var table = RoutingTable()
        let alice = named(1, identity: "alice")
        #expect(table.name(alice, handover: false).id == Array("alice".utf8))
        #expect(table[Array("alice".utf8)] === alice && alice.routingID == Array("alice".utf8))
        let anonymous = named(2, identity: nil)
        let made = table.name(anonymous, handover: false).id
        #expect(made.count == 5 && made[0] == 0, "libzmq's form: 0x00 and a 32-bit counter")
        #expect(table[made] === anonymous && table[Frame(made)] === anonymous)

        // A second "alice" is refused, unless handover lets it take the name.
        #expect(!table.admits(Array("alice".utf8), handover: false))
        #expect(table.admits(Array("alice".utf8), handover: true) && table.admits(nil, handover: false))
        let second = named(3, identity: "alice")
        let renamed = table.name(second, handover: false)
        #expect(renamed.id != Array("alice".utf8) && renamed.id.count == 5 && renamed.replaced == nil)
        #expect(table[Array("alice".utf8)] === alice)
        let third = named(4, identity: "alice")
        let takeover = table.name(third, handover: true)
        #expect(takeover.id == Array("alice".utf8) && takeover.replaced === alice && table[Array("alice".utf8)] === third)
        #expect(alice.routingID != Array("alice".utf8) && !table.holds(alice), "the old holder is renamed and left out, to be closed")
        let removedOld = table.remove(alice)
        #expect(!removedOld, "it was not filed under its new name")
        let removed = table.remove(anonymous)
        #expect(removed && table[made] == nil && !table.holds(anonymous))
    }

    @Test("a connect-side peer keeps the id chosen for it over the one it announces, and its old name across a reconnect")
    func routingTableConnectSide() {
        var table = RoutingTable()
        let chosen = named(1, identity: "announced", connectSide: true)
        chosen.routingID = Array("chosen".utf8)
        chosen.routingIDChosen = true
        #expect(table.name(chosen, handover: false).id == Array("chosen".utf8))
        // Named before, without choosing: a reconnect to a peer that announces nothing keeps it.
        let reconnected = named(2, identity: nil, connectSide: true)
        reconnected.routingID = Array("before".utf8)
        #expect(table.name(reconnected, handover: false).id == Array("before".utf8))
        // Named again, it stays under the one name.
        #expect(table.name(reconnected, handover: false).id == Array("before".utf8) && table.count == 2)
    }

    @Test("SERVER and PEER ids are nonzero 32-bit numbers; a reserved one is filed before its peer connects")
    func routingTableNumbered() {
        var table = RoutingTable()
        table.numbered = true
        let ids = (0..<100).map { table.name(named($0, identity: nil), handover: false).id }
        #expect(ids.allSatisfy { $0.count == 4 && RoutingTable.number($0) != 0 } && Set(ids).count == ids.count)
        #expect(RoutingTable.number(RoutingTable.key(0xDEAD_BEEF)) == 0xDEAD_BEEF && RoutingTable.key(1) == [0, 0, 0, 1])
        let pipe = Pipe(id: 200, isConnectSide: true)
        let reserved = table.reserve(pipe)
        #expect(reserved.count == 4 && RoutingTable.number(reserved) != 0)
        #expect(table[reserved] === pipe && table[Frame(reserved)] === pipe && pipe.routingIDChosen)
        #expect(!ids.contains(reserved))
        // Its peer connects: named again under the reserved id, once; leaving, it is gone.
        let before = table.count
        #expect(table.name(pipe, handover: false).id == reserved && table.count == before && table[reserved] === pipe)
        let removed = table.remove(pipe)
        #expect(removed && table[reserved] == nil && table.count == before - 1)
    }

    @Test("a send waiting for one peer may go on once that peer has room, or has left")
    func routingTableMayGoOn() {
        var table = RoutingTable()
        let peer = named(1, identity: "busy")
        _ = table.name(peer, handover: false)
        #expect(table.mayGoOn(nil, hwm: 1), "no send is waiting")
        #expect(table.mayGoOn(peer, hwm: 1))
        peer.withOutbound { $0.append("queued") }
        #expect(!table.mayGoOn(peer, hwm: 1), "at its high-water mark")
        #expect(table.mayGoOn(peer, hwm: 0), "0 is no limit")
        _ = table.remove(peer)
        #expect(table.mayGoOn(peer, hwm: 1), "gone: the send goes on to throw or drop")
    }

    @Test("subscriptions match by binary prefix of the first frame, and count")
    func subscriptionsMatchPrefixes() {
        var subscriptions = Subscriptions()
        #expect(!subscriptions.matches("anything"), "no subscription matches nothing")
        let firstIsNew = subscriptions.add(Array("news.".utf8))
        #expect(firstIsNew)
        let repeatIsNew = subscriptions.add(Array("news.".utf8))
        #expect(!repeatIsNew, "a second subscribe to a topic is not new")
        #expect(subscriptions.matches("news.sport"))
        #expect(subscriptions.matches(["news.", "second frame ignored"]))
        #expect(!subscriptions.matches("news"), "shorter than the prefix")
        #expect(!subscriptions.matches(["weather", "news."]), "only the first frame counts")
        #expect(!subscriptions.matches(Message(Frame())))
        let firstCancelRemoved = subscriptions.remove(Array("news.".utf8))
        #expect(!firstCancelRemoved, "one count is left")
        #expect(subscriptions.matches("news.sport"))
        let secondCancelRemoved = subscriptions.remove(Array("news.".utf8))
        #expect(secondCancelRemoved)
        #expect(!subscriptions.matches("news.sport"))
        let unknownCancelRemoved = subscriptions.remove(Array("never".utf8))
        #expect(!unknownCancelRemoved)

        subscriptions.add([])
        #expect(subscriptions.matchesEverything)
        #expect(subscriptions.matches(Message(Frame())))
        #expect(subscriptions.matches(Message(Frame([0xFF, 0x00]))))
    }

    @Test("a publisher keeps each peer's subscriptions as a set: one cancel undoes repeats")
    func publisherSideSetSemantics() {
        var subscriptions = Subscriptions()
        let subscribed = subscriptions.applyOnce(Subscription(subscribe: true, topic: [1]))
        #expect(subscribed)
        let repeated = subscriptions.applyOnce(Subscription(subscribe: true, topic: [1]))
        #expect(!repeated)
        let cancelled = subscriptions.applyOnce(Subscription(subscribe: false, topic: [1]))
        #expect(cancelled)
        #expect(subscriptions.isEmpty)
        let cancelledAgain = subscriptions.applyOnce(Subscription(subscribe: false, topic: [1]))
        #expect(!cancelledAgain)
    }

    @Test("a pipe that pulls from its peer pauses while anything is unread, holds its last message back from a batch, and resumes once that is read (no I/O)")
    func pullingPipe() throws {
        var state = SocketState(pattern: PullPattern())
        let pipe = state.makePipe(connectSide: false)
        pipe.pullsFromPeer = true
        pipe.engine = IdleEngine()
        state.pipes.append(pipe)
        _ = state.pattern.attached(pipe)
        var batch: MessageQueue = [["1"], ["2"], ["3"]]
        #expect(state.deliver(&batch, from: pipe).pause)
        #expect(pipe.readingPaused)
        var received = ReceivedBatch()
        var after = SocketState.AfterReceive()
        let (first, more) = try #require(try state.dequeue(after: &after))
        #expect(first == ["1"])
        let samePipe = try #require(more)
        state.moveBatch(from: samePipe, limit: 255, into: &received, after: &after)
        // "3" stays: the next batch is taken only when it is read.
        #expect(received.count == 1)
        #expect(pipe.inbound.count == 1)
        #expect(pipe.readingPaused)
        #expect(received.popFirst() == ["2"])
        after = SocketState.AfterReceive()
        #expect(try state.dequeue(after: &after)?.0 == ["3"])
        #expect(!pipe.readingPaused)
        // Paused before its engine was attached (an inproc peer delivers from the moment it is
        // linked) and read down meanwhile: it stays paused until the attach, which resumes it.
        let early = state.makePipe(connectSide: true)
        early.pullsFromPeer = true
        state.pipes.append(early)
        _ = state.pattern.attached(early)
        var one: MessageQueue = [["x"]]
        #expect(state.deliver(&one, from: early).pause)
        after = SocketState.AfterReceive()
        #expect(try state.dequeue(after: &after)?.0 == ["x"])
        #expect(early.readingPaused && after.resume == nil)
        let attached = state.attach(IdleEngine(), peer: PeerInfo(socketType: .push, identity: nil, metadata: Metadata(), minorVersion: 1),
                                    metadata: nil, connectPipe: early)
        #expect(attached.resume && !early.readingPaused)
        // A pipe that does not pull pauses only at the high-water mark.
        let other = state.makePipe(connectSide: false)
        state.pipes.append(other)
        _ = state.pattern.attached(other)
        var two: MessageQueue = [["a"], ["b"]]
        #expect(!state.deliver(&two, from: other).pause)
    }

    @Test("REQ: a second reply that came with the first is dropped when the next request goes, never taken for its answer (no I/O)")
    func reqDropsSecondReply() throws {
        var state = SocketState(pattern: ReqPattern())
        let peer = state.makePipe(connectSide: false)
        state.pipes.append(peer)
        _ = state.pattern.attached(peer)
        func send(_ text: String) throws {
            var outbox = Outbox()
            #expect(try state.enqueue(Message(Frame(text)), outbox: &outbox))
        }
        func receive() throws -> Message? {
            var after = SocketState.AfterReceive()
            return try state.dequeue(after: &after)?.0
        }
        try send("first")
        var replies: MessageQueue = [["", "answer"], ["", "extra"]]
        _ = state.deliver(&replies, from: peer)
        #expect(try receive() == ["answer"])
        try send("second")
        var next: MessageQueue = [["", "second answer"]]
        _ = state.deliver(&next, from: peer)
        #expect(try receive() == ["second answer"])
    }
}

/// An engine that does nothing, for the state's rules without I/O.
private final class IdleEngine: PipeEngine, @unchecked Sendable {
    func scheduleDrain() {}
    func resumeReading() {}
    func whenFlushed(_ done: @escaping @Sendable () -> Void) { done() }
    func close() async {}
    var endpoint: String { "inproc://idle" }
    var peerAddress: String? { nil }
}
