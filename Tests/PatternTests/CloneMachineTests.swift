import Foundation
import Testing
import ZMQ
@testable import ZMQPatterns
import ZMQTestSupport

/// 12/CHP's frames, octet for octet, and what is not 12/CHP.
@Suite("Clone protocol")
struct CloneProtocolTests {
    static let uuid = [UInt8](0..<16)

    @Test("KVPUB, KVSET and KVSYNC are key, 8-octet sequence in network order, UUID, name=value lines, value")
    func entryFrames() throws {
        let entry = CloneEntry(key: "/a/b", sequence: 0x0102_0304_0506_0708, uuid: Self.uuid,
                               properties: ["ttl": "30", "owner": "x"], value: Frame([0, 255]))
        #expect(entry.message.frames.map(\.bytes) == [
            Array("/a/b".utf8), [1, 2, 3, 4, 5, 6, 7, 8], Self.uuid, Array("owner=x\nttl=30\n".utf8), [0, 255],
        ])
        #expect(CloneProtocol.parse(entry.message) == .success(.entry(entry)))
        #expect(entry.timeToLive == .seconds(30))
        #expect(CloneEntry(key: "k", value: Frame()).message.frames.map(\.count) == [1, 8, 0, 0, 0], "no UUID, no properties, deleting")
    }

    @Test("ICANHAZ? is 2 frames; KTHXBAI and HUGZ are 5, HUGZ with a zero sequence")
    func commandFrames() {
        #expect(CloneProtocol.snapshotRequest(subtree: "/a/").frames.map(\.bytes) == [Array("ICANHAZ?".utf8), Array("/a/".utf8)])
        #expect(CloneProtocol.snapshotEnd(sequence: 258, subtree: "/a/").frames.map(\.bytes) == [
            Array("KTHXBAI".utf8), [0, 0, 0, 0, 0, 0, 1, 2], [], [], Array("/a/".utf8),
        ])
        #expect(CloneProtocol.heartbeat.frames.map(\.bytes) == [Array("HUGZ".utf8), [0, 0, 0, 0, 0, 0, 0, 0], [], [], []])
        #expect(CloneProtocol.parse(CloneProtocol.snapshotRequest(subtree: "")) == .success(.snapshotRequest(subtree: "")))
        #expect(CloneProtocol.parse(CloneProtocol.snapshotEnd(sequence: 9, subtree: "/x/")) == .success(.snapshotEnd(sequence: 9, subtree: "/x/")))
        #expect(CloneProtocol.parse(CloneProtocol.heartbeat) == .success(.heartbeat))
    }

    @Test("what is not 12/CHP is refused with the reason", arguments: [
        (Message(["k", Frame([0, 0, 0, 1]), "", "", "v"]), CloneProtocolError.sequenceLength(4)),
        (Message(["k", Frame([UInt8](repeating: 0, count: 8)), Frame([1, 2, 3]), "", "v"]), .uuidLength(3)),
        (Message(["k", Frame([UInt8](repeating: 0, count: 8)), "", "ttl=soon\n", "v"]), .badTimeToLive("soon")),
        (Message(["k", Frame([UInt8](repeating: 0, count: 8)), "", "ttl=-1\n", "v"]), .badTimeToLive("-1")),
        (Message(["k", Frame([UInt8](repeating: 0, count: 8)), "", "ttl=1e16\n", "v"]), .badTimeToLive("1e16")),
        (Message(["k", Frame([UInt8](repeating: 0, count: 8)), "", "no equals\n", "v"]), .badProperty("no equals")),
        (Message([Frame([0xFF, 0xFE]), Frame([UInt8](repeating: 0, count: 8)), "", "", "v"]), .notText("key")),
        (Message(["k", "v"]), .unexpected("a 2-frame command other than ICANHAZ?")),
        (Message(["k", Frame([UInt8](repeating: 0, count: 8)), "", "v"]), .frameCount(4)),
        (Message(), .frameCount(0)),
    ] as [(Message, CloneProtocolError)])
    func refused(message: Message, error: CloneProtocolError) {
        #expect(CloneProtocol.parse(message) == .failure(error))
    }

    @Test("a server's three endpoints are P, P+1 and P+2 of a tcp endpoint, or an ipc path and the path with +1 and +2; other endpoints are refused")
    func endpoints() throws {
        #expect(try CloneEndpoints("tcp://*:5556") == CloneEndpoints(snapshot: "tcp://*:5556", publisher: "tcp://*:5557", collector: "tcp://*:5558"))
        #expect(try CloneEndpoints("tcp://[::1]:7000").collector == "tcp://[::1]:7002")
        #expect(try CloneEndpoints("ipc:///tmp/c") == CloneEndpoints(snapshot: "ipc:///tmp/c", publisher: "ipc:///tmp/c+1", collector: "ipc:///tmp/c+2"))
        for bad in ["udp://host:5556", "tcp://host", "tcp://host:65534", "tcp://host:http"] {
            #expect(throws: ZMQError.self, "\(bad)") { try CloneEndpoints(bad) }
        }
    }
}

/// The Clone server's rules as a value, on a clock the test moves.
@Suite("Clone server machine")
struct CloneServerMachineTests {
    typealias Machine = CloneServerMachine
    static let at = FixedClock.at
    static let endpoints = CloneEndpoints(snapshot: "inproc://s", publisher: "inproc://p", collector: "inproc://c")

    static func server(serving: Bool = true, peer: Bool = false) -> Machine {
        var machine = Machine(.init(endpoints: endpoints, heartbeat: .seconds(1),
                                    peer: peer ? CloneEndpoints(snapshot: "inproc://ps", publisher: "inproc://pp", collector: "") : nil),
                              serving: serving)
        _ = machine.start(now: at(0))
        return machine
    }

    static func set(_ key: String, _ value: String, uuid: UInt8 = 0, ttl: String? = nil) -> Message {
        CloneEntry(key: key, uuid: uuid == 0 ? [] : [UInt8](repeating: uuid, count: 16),
                   properties: ttl.map { ["ttl": $0] } ?? [:], value: Frame(value)).message
    }

    static func published(_ actions: [Machine.Action]) -> [CloneEntry] {
        actions.compactMap { action in
            guard let (message, socket) = action.sent, socket == Machine.publisher,
                  case .success(.entry(let entry)) = CloneProtocol.parse(message) else { return nil }
            return entry
        }
    }

    static func snapshot(_ machine: inout Machine, subtree: String, at seconds: Double) -> [Message] {
        machine.received(Message([Frame("client")] + CloneProtocol.snapshotRequest(subtree: subtree).frames), on: Machine.snapshot, now: at(seconds))
            .flatMap(\.sends).filter { $0.socket == Machine.snapshot }.map(\.message)
    }

    /// A server with `count` keys, `/k/00000` …, and snapshots as given.
    static func filled(_ count: Int, settings: (inout Machine.Settings) -> Void = { _ in }) -> Machine {
        var configured = Machine.Settings(endpoints: endpoints)
        settings(&configured)
        var machine = Machine(configured)
        _ = machine.start(now: at(0))
        for index in 0..<count {
            _ = machine.received(set("/k/" + String(format: "%05d", index), "v"), on: Machine.collector, now: at(0))
        }
        return machine
    }

    /// The messages `actions` send on the snapshot port.
    static func snapshotSends(_ actions: [Machine.Action]) -> [Message] {
        actions.flatMap(\.sends).filter { $0.socket == Machine.snapshot }.map(\.message)
    }

    static func ask(_ machine: inout Machine, from client: Frame, at seconds: Double) -> [Machine.Action] {
        machine.received(Message([client] + CloneProtocol.snapshotRequest(subtree: "").frames), on: Machine.snapshot, now: at(seconds))
    }

    /// Runs the actions as a socket would that takes `room` more messages for each client
    /// (nil: no limit), refusing the rest of a chunk, as the runner does: what each client got.
    static func deliver(_ actions: [Machine.Action], to machine: inout Machine, room: inout [Frame: Int], at seconds: Double,
                        into delivered: inout [Frame: [Message]], events: inout [CloneServerEvent]) {
        var queue = actions[...]
        while let action = queue.popFirst() {
            if case .report(let event) = action { events.append(event) }
            guard case .sendInOrder(let messages, let socket, let report) = action, socket == Machine.snapshot else { continue }
            var refused: Message?
            for message in messages {
                let client = message[0]
                if let left = room[client] {
                    guard left > 0 else { refused = message; break }
                    room[client] = left - 1
                }
                delivered[client, default: []].append(Message(Array(message.frames.dropFirst())))
            }
            if let refused {
                queue = machine.sendFailed(refused, on: socket, error: ZMQError(code: .wouldBlock, message: "full"), now: at(seconds))[...] + queue
            } else if let report {
                events.append(report)
            }
        }
    }

    @Test("it binds a ROUTER, a PUB and a SUB to everything at its three endpoints; a pair's server also follows its peer's publisher")
    func sockets() {
        var machine = Machine(.init(endpoints: Self.endpoints))
        let opened = machine.start(now: Self.at(0)).compactMap { if case .open(let name, let plan) = $0 { (name, plan) } else { nil } }
        #expect(opened.map(\.0) == [Machine.snapshot, Machine.publisher, Machine.collector])
        #expect(opened.map(\.1.type) == [.router, .pub, .sub] && opened.map(\.1.bind) == [["inproc://s"], ["inproc://p"], ["inproc://c"]])
        #expect(opened[2].1.subscriptions == [""])
        var paired = Machine(.init(endpoints: Self.endpoints, peer: CloneEndpoints(snapshot: "inproc://ps", publisher: "inproc://pp", collector: "")),
                             serving: false)
        let peer = paired.start(now: Self.at(0)).compactMap { if case .open(let name, let plan) = $0 { (name, plan) } else { nil } }.last
        #expect(peer?.0 == Machine.peerUpdates && peer?.1.connect == ["inproc://pp"] && peer?.1.subscriptions == [""])
    }

    @Test("each update is published with the next sequence number, its UUID and properties; an empty value deletes; a repeated UUID is applied once")
    func updates() {
        var machine = Self.server()
        let first = Self.published(machine.received(Self.set("/a/1", "one", uuid: 1), on: Machine.collector, now: Self.at(0.1)))
        #expect(first.map(\.sequence) == [1] && first.first?.uuid == [UInt8](repeating: 1, count: 16) && first.first?.value == "one")
        #expect(Self.published(machine.received(Self.set("/a/2", "two"), on: Machine.collector, now: Self.at(0.2))).map(\.sequence) == [2])
        let repeated = machine.received(Self.set("/a/1", "one", uuid: 1), on: Machine.collector, now: Self.at(0.3))
        #expect(Self.published(repeated).isEmpty && repeated.compactMap(\.event).map(\.kind) == [.duplicateIgnored])
        #expect(Self.published(machine.received(Self.set("/a/1", ""), on: Machine.collector, now: Self.at(0.4))).map(\.sequence) == [3])
        #expect(machine.map.keys.sorted() == ["/a/2"] && machine.sequence == 3)
    }

    @Test("a snapshot is every key under the subtree in key order, then KTHXBAI with the sequence and the subtree, to the asking client")
    func snapshots() {
        var machine = Self.server()
        for (index, key) in ["/b/1", "/a/2", "/a/1", "/ab"].enumerated() {
            _ = machine.received(Self.set(key, "v\(index)"), on: Machine.collector, now: Self.at(0.1))
        }
        let sent = Self.snapshot(&machine, subtree: "/a/", at: 0.2)
        #expect(sent.map(\.first) == ["client", "client", "client"])
        #expect(sent.map { $0[1].string } == ["/a/1", "/a/2", "KTHXBAI"])
        #expect(sent.last.map { Array($0.frames.dropFirst()) } == CloneProtocol.snapshotEnd(sequence: 4, subtree: "/a/").frames)
        #expect(Self.snapshot(&machine, subtree: "", at: 0.3).count == 5)
    }

    @Test("a snapshot larger than the client's queue goes as the client reads: each refused entry is sent again from where it stopped, no key missed or repeated, then KTHXBAI")
    func snapshotResumes() {
        var machine = Self.filled(1000)
        var (room, delivered, events): ([Frame: Int], [Frame: [Message]], [CloneServerEvent]) = (["client": 100], [:], [])
        var now = 1.0
        Self.deliver(Self.ask(&machine, from: "client", at: now), to: &machine, room: &room, at: now, into: &delivered, events: &events)
        while events.isEmpty, now < 100 {
            // The client reads 70 messages every 5 ms.
            now += 0.005
            room["client"]! += 70
            Self.deliver(machine.tick(now: Self.at(now)), to: &machine, room: &room, at: now, into: &delivered, events: &events)
        }
        let keys = (delivered["client"] ?? []).map { $0[0].string ?? "" }
        #expect(keys == (0..<1000).map { "/k/" + String(format: "%05d", $0) } + ["KTHXBAI"])
        #expect(delivered["client"]?.last == CloneProtocol.snapshotEnd(sequence: 1000, subtree: ""))
        #expect(events.map(\.kind) == [.snapshotSent])
        _ = machine.tick(now: Self.at(now + 1))
        #expect(machine.snapshots.counts == (0, 0), "nothing kept once it is sent")
    }

    @Test("a snapshot is of the map when it started: an update made while it goes is not in it, and follows it with a newer sequence number")
    func snapshotIsOfOneMoment() {
        var machine = Self.filled(600)
        let first = Self.ask(&machine, from: "client", at: 1)
        _ = machine.received(Self.set("/k/00599", "changed"), on: Machine.collector, now: Self.at(1))
        _ = machine.received(Self.set("/k/00000", ""), on: Machine.collector, now: Self.at(1))
        let sent = Self.snapshotSends(first + machine.tick(now: Self.at(1)) + machine.tick(now: Self.at(1)))
        #expect(sent.count == 601)
        #expect(sent.first?[1].string == "/k/00000" && sent[600] == Message(["client"] + CloneProtocol.snapshotEnd(sequence: 600, subtree: "").frames))
        #expect(CloneProtocol.parse(Message(Array(sent[599].frames.dropFirst()))) == .success(.entry(CloneEntry(key: "/k/00599", sequence: 600, value: "v"))))
    }

    @Test("a client that reads nothing has its snapshot dropped after the snapshot timeout, and holds nothing more than its queue; asking again starts afresh")
    func snapshotAbandoned() {
        var machine = Self.filled(1000) { $0.snapshotTimeout = .seconds(2) }
        var (room, delivered, events): ([Frame: Int], [Frame: [Message]], [CloneServerEvent]) = (["stuck": 50], [:], [])
        var now = 1.0
        for _ in 0..<20 {
            Self.deliver(Self.ask(&machine, from: "stuck", at: now), to: &machine, room: &room, at: now, into: &delivered, events: &events)
        }
        var ticks = 0
        while events.isEmpty, now < 10 {
            // A microsecond past the deadline: seconds as a Double do not land on it exactly.
            now = max(now, machine.nextDeadline.map { ($0 - Self.at(0)) / .seconds(1) + 1e-6 } ?? now)
            Self.deliver(machine.tick(now: Self.at(now)), to: &machine, room: &room, at: now, into: &delivered, events: &events)
            ticks += 1
        }
        #expect(events.map(\.kind) == [.snapshotAbandoned] && (3...3.2).contains(now), "2 s after the last progress, at 1 s: \(now)")
        #expect(delivered["stuck"]?.count == 50 && machine.snapshots.counts == (0, 0))
        #expect(ticks < 40, "retries back off: \(ticks)")
        room["stuck"] = 1000
        Self.deliver(Self.ask(&machine, from: "stuck", at: now), to: &machine, room: &room, at: now, into: &delivered, events: &events)
        #expect(delivered["stuck"]?[50][0].string == "/k/00000", "from the first key again")
    }

    @Test("beyond the limit, requests wait their turn, one per client; a client that has gone has its snapshot dropped and the next starts")
    func snapshotTurns() {
        var machine = Self.filled(10) { $0.concurrentSnapshots = 1 }
        #expect(Self.snapshotSends(Self.ask(&machine, from: "a", at: 1)).count == 11)
        #expect(Self.ask(&machine, from: "b", at: 1).isEmpty && Self.ask(&machine, from: "b", at: 1).isEmpty)
        #expect(Self.ask(&machine, from: "c", at: 1).isEmpty && machine.snapshots.counts == (1, 2))
        let next = Self.snapshotSends(machine.tick(now: Self.at(1)))
        #expect(next.count == 11 && next.allSatisfy { $0[0] == "b" }, "a's is done, b's starts")
        let gone = machine.sendFailed(next[0], on: Machine.snapshot, error: .unroutable(routingID: Array("b".utf8)), now: Self.at(1.1))
        #expect(gone.compactMap(\.event).map(\.kind) == [.snapshotAbandoned, .snapshotSent], "b's dropped, c's sent")
        #expect(Self.snapshotSends(gone).count == 11 && Self.snapshotSends(gone).allSatisfy { $0[0] == "c" })
    }

    @Test("an ephemeral key is deleted and the delete published when its ttl runs out; set again without one, it stays; its snapshot entry carries the time left")
    func ephemeral() {
        var machine = Self.server()
        _ = machine.received(Self.set("/s/1", "x", ttl: "2"), on: Machine.collector, now: Self.at(0))
        _ = machine.received(Self.set("/s/2", "y", ttl: "1.5"), on: Machine.collector, now: Self.at(0))
        #expect(machine.nextDeadline == Self.at(1), "the first HUGZ comes first")
        #expect(Self.snapshot(&machine, subtree: "/s/1", at: 0.5).first.flatMap { CloneProtocol.parse(Message(Array($0.frames.dropFirst()))) }
            == .success(.entry(CloneEntry(key: "/s/1", sequence: 1, properties: ["ttl": "1.500"], value: "x"))))
        _ = machine.received(Self.set("/s/1", "x again"), on: Machine.collector, now: Self.at(1))
        let expired = machine.tick(now: Self.at(2.5))
        #expect(Self.published(expired).map(\.key) == ["/s/2"] && Self.published(expired).first?.value.isEmpty == true)
        #expect(Self.published(expired).first?.sequence == 4 && expired.compactMap(\.event).map(\.kind) == [.keyExpired])
        #expect(machine.map.keys.sorted() == ["/s/1"])
        #expect(Self.published(machine.tick(now: Self.at(10))).isEmpty)
    }

    /// A passive server that has the active one's snapshot at `sequence` (with `/a`).
    static func passive(sequence: UInt64 = 7) -> Machine {
        var machine = Self.server(serving: false, peer: true)
        _ = machine.pairState(.passive, now: Self.at(1))
        _ = machine.received(CloneProtocol.heartbeat, on: Machine.peerUpdates, now: Self.at(1))
        _ = machine.received(CloneEntry(key: "/a", sequence: 3, uuid: [UInt8](repeating: 9, count: 16), value: "a").message,
                             on: Machine.peerSnapshot, now: Self.at(1))
        _ = machine.received(CloneProtocol.snapshotEnd(sequence: sequence, subtree: ""), on: Machine.peerSnapshot, now: Self.at(1))
        return machine
    }

    @Test("passive: a gap in the active one's sequence numbers, or its publisher's connection dropping, makes it take the snapshot again")
    func passiveResynchronizes() {
        var machine = Self.passive()
        let gap = machine.received(CloneEntry(key: "/b", sequence: 9, value: "b").message, on: Machine.peerUpdates, now: Self.at(2))
        #expect(gap.compactMap(\.event).map(\.kind) == [.updatesMissed] && machine.map["/b"] == nil)
        #expect(gap.contains { if case .open(let name, _) = $0 { name == Machine.peerSnapshot } else { false } })
        var dropped = Self.passive()
        let reopened = dropped.disconnected(Machine.peerUpdates, now: Self.at(2))
        #expect(reopened.compactMap(\.event).map(\.reason) == ["the connection to the active server's publisher dropped"])
        #expect(dropped.reads(Machine.peerUpdates), "it waits for the publisher again before asking")
        var serving = Self.server()
        #expect(serving.disconnected(Machine.peerUpdates, now: Self.at(2)).isEmpty)
    }

    @Test("passive: an update without a UUID is not held (it could not be matched); one the snapshot holds is not applied again on taking over")
    func passivePending() {
        var machine = Self.passive()
        _ = machine.received(Self.set("/no-id", "x"), on: Machine.collector, now: Self.at(2))
        #expect(machine.pending.isEmpty)
        var early = Self.server(serving: false, peer: true)
        _ = early.pairState(.passive, now: Self.at(1))
        _ = early.received(CloneProtocol.heartbeat, on: Machine.peerUpdates, now: Self.at(1))
        _ = early.received(Self.set("/a", "a", uuid: 9), on: Machine.collector, now: Self.at(1))
        #expect(early.pending.count == 1)
        _ = early.received(CloneEntry(key: "/a", sequence: 3, uuid: [UInt8](repeating: 9, count: 16), value: "a").message,
                           on: Machine.peerSnapshot, now: Self.at(1))
        _ = early.received(CloneProtocol.snapshotEnd(sequence: 3, subtree: ""), on: Machine.peerSnapshot, now: Self.at(1))
        #expect(early.pending.isEmpty)
        #expect(CloneServerMachineTests.published(early.pairState(.active, now: Self.at(5))).isEmpty)
    }

    @Test("HUGZ every heartbeat, busy or idle, serving or not")
    func heartbeats() {
        var machine = Self.server()
        #expect(machine.tick(now: Self.at(0.5)).isEmpty)
        _ = machine.received(Self.set("/k", "v"), on: Machine.collector, now: Self.at(0.9))
        #expect(machine.tick(now: Self.at(1)).compactMap { $0.sent?.message } == [CloneProtocol.heartbeat])
        #expect(machine.nextDeadline == Self.at(2))
        var passive = Self.server(serving: false)
        #expect(passive.tick(now: Self.at(1)).compactMap { $0.sent?.message } == [CloneProtocol.heartbeat])
    }

    @Test("malformed messages, and commands on the wrong socket, are dropped and counted; the map and sequence stay", arguments: [
        (Message(["k", Frame([1]), "", "", "v"]), CloneServerMachine.collector),
        (Message(["k", Frame([UInt8](repeating: 0, count: 8)), "", "ttl=never\n", "v"]), CloneServerMachine.collector),
        (CloneProtocol.snapshotRequest(subtree: ""), CloneServerMachine.collector),
        (Message(["HUGZ", Frame([UInt8](repeating: 0, count: 8)), "", "", "v"]), CloneServerMachine.collector),
        (Message(["client", "ICANHAZ", ""]), CloneServerMachine.snapshot),
        (Message([Frame("client")] + CloneServerMachineTests.set("/k", "v").frames), CloneServerMachine.snapshot),
        (Message(["lonely"]), CloneServerMachine.snapshot),
    ] as [(Message, SocketName)])
    func badInput(message: Message, socket: SocketName) {
        var machine = Self.server()
        _ = machine.received(Self.set("/k", "v"), on: Machine.collector, now: Self.at(0))
        let actions = machine.received(message, on: socket, now: Self.at(0.1))
        #expect(actions.compactMap(\.event).map(\.kind) == [.messageDropped] && actions.allSatisfy { $0.sent == nil })
        #expect(machine.drops == 1 && machine.sequence == 1 && machine.map["/k"]?.value == "v")
    }

    @Test("passive: it takes the active one's snapshot, follows its updates, holds clients' updates until it sees them published, and applies the rest on taking over")
    func passive() {
        var machine = Self.server(serving: false, peer: true)
        let opened = machine.pairState(.passive, now: Self.at(1))
        #expect(opened.compactMap { if case .open(let name, let plan) = $0 { (name, plan.connect) } else { nil } }.first! == (Machine.peerSnapshot, ["inproc://ps"]))
        #expect(opened.allSatisfy { $0.sent == nil } && machine.reads(Machine.peerUpdates), "it asks once the active one's publisher is heard")
        let asked = machine.received(CloneProtocol.heartbeat, on: Machine.peerUpdates, now: Self.at(1.05))
        #expect(asked.compactMap { $0.sent } .map(\.message) == [CloneProtocol.snapshotRequest(subtree: "")])
        #expect(!machine.reads(Machine.peerUpdates), "the active one's updates wait until its snapshot is in")
        _ = machine.received(CloneEntry(key: "/old", sequence: 7, value: "o").message, on: Machine.peerSnapshot, now: Self.at(1.1))
        let synced = machine.received(CloneProtocol.snapshotEnd(sequence: 7, subtree: ""), on: Machine.peerSnapshot, now: Self.at(1.1))
        #expect(synced.compactMap(\.event).map(\.kind) == [.synchronized] && machine.map.keys.sorted() == ["/old"] && machine.sequence == 7)
        // Client updates 1 and 2 arrive; the active one publishes 1; 2 is still pending.
        #expect(machine.received(Self.set("/one", "1", uuid: 1), on: Machine.collector, now: Self.at(1.2)).compactMap(\.event).map(\.kind) == [.updateHeld])
        _ = machine.received(Self.set("/two", "2", uuid: 2), on: Machine.collector, now: Self.at(1.2))
        _ = machine.received(Self.set("/two", "2", uuid: 2), on: Machine.collector, now: Self.at(1.25))
        var published = CloneEntry(key: "/one", sequence: 8, uuid: [UInt8](repeating: 1, count: 16), value: "1")
        #expect(machine.received(published.message, on: Machine.peerUpdates, now: Self.at(1.3)).isEmpty)
        published.sequence = 6
        _ = machine.received(published.message, on: Machine.peerUpdates, now: Self.at(1.3))
        #expect(machine.pending.map(\.key) == ["/two"] && machine.sequence == 8, "an update not newer than the map is not applied")
        #expect(machine.received(Self.set("/one", "1", uuid: 1), on: Machine.collector, now: Self.at(1.4)).isEmpty, "seen published already")
        #expect(machine.tick(now: Self.at(5)).compactMap(\.sent).map(\.message) == [CloneProtocol.heartbeat], "a passive server sends HUGZ, nothing else")
        let takeover = machine.pairState(.active, now: Self.at(6))
        #expect(Self.published(takeover).map(\.key) == ["/two"] && Self.published(takeover).first?.sequence == 9)
        #expect(machine.map.keys.sorted() == ["/old", "/one", "/two"] && machine.pending.isEmpty)
    }
}

/// The Clone client's rules as a value.
@Suite("Clone client machine")
struct CloneClientMachineTests {
    typealias Machine = CloneClientMachine
    static let at = FixedClock.at
    static let servers = [CloneEndpoints(snapshot: "inproc://s1", publisher: "inproc://p1", collector: "inproc://c1"),
                          CloneEndpoints(snapshot: "inproc://s2", publisher: "inproc://p2", collector: "inproc://c2")]

    static func news(_ actions: [Machine.Action]) -> [String] {
        actions.compactMap(\.event).map { news in
            switch news {
            case .synchronized(let entries, let sequence): "snapshot \(entries.keys.sorted()) \(sequence)"
            case .updated(let entry): "update \(entry.key) \(entry.sequence)"
            case .event(let event): "\(event.kind)"
            }
        }
    }

    static func synchronized(subtree: String = "") -> Machine {
        var machine = Machine(servers: servers, subtree: subtree, serverTimeout: .seconds(5), options: [])
        _ = machine.start(now: at(0))
        _ = machine.received(CloneProtocol.heartbeat, on: Machine.subscriber, now: at(0.1))
        _ = machine.received(CloneEntry(key: "/a", sequence: 3, value: "x").message, on: Machine.snapshot, now: at(0.2))
        _ = machine.received(CloneProtocol.snapshotEnd(sequence: 5, subtree: subtree), on: Machine.snapshot, now: at(0.2))
        return machine
    }

    @Test("it subscribes first, asks for the snapshot only once its subscriber hears the server, and leaves updates queued until KTHXBAI")
    func joining() {
        var machine = Machine(servers: Self.servers, subtree: "/a/", serverTimeout: .seconds(5), options: [])
        let opened = machine.start(now: Self.at(0)).compactMap { if case .open(let name, let plan) = $0 { (name, plan) } else { nil } }
        #expect(opened.map(\.0) == [Machine.subscriber, Machine.snapshot] && opened[0].1.subscriptions == ["/a/", "HUGZ"])
        #expect(opened.map(\.1.connect) == [["inproc://p1"], ["inproc://s1"]])
        let asked = machine.received(CloneProtocol.heartbeat, on: Machine.subscriber, now: Self.at(0.1))
        #expect(asked.compactMap(\.sent).map(\.message) == [CloneProtocol.snapshotRequest(subtree: "/a/")])
        #expect(!machine.reads(Machine.subscriber))
        _ = machine.received(CloneEntry(key: "/a/x", sequence: 1, value: "1").message, on: Machine.snapshot, now: Self.at(0.2))
        let done = machine.received(CloneProtocol.snapshotEnd(sequence: 4, subtree: "/a/"), on: Machine.snapshot, now: Self.at(0.2))
        #expect(Self.news(done) == ["snapshot [\"/a/x\"] 4", "snapshotReceived"] && machine.reads(Machine.subscriber))
    }

    @Test("updates not newer than the snapshot are dropped, newer ones applied; without a subtree a gap asks for a fresh snapshot")
    func updates() {
        var machine = Self.synchronized()
        #expect(Self.news(machine.received(CloneEntry(key: "/a", sequence: 5, value: "old").message, on: Machine.subscriber, now: Self.at(1))).isEmpty)
        #expect(Self.news(machine.received(CloneEntry(key: "/a", sequence: 6, value: "new").message, on: Machine.subscriber, now: Self.at(1))) == ["update /a 6"])
        let gap = machine.received(CloneEntry(key: "/a", sequence: 9, value: "later").message, on: Machine.subscriber, now: Self.at(1))
        #expect(Self.news(gap) == ["updatesMissed"] && gap.compactMap(\.sent).map(\.message) == [CloneProtocol.snapshotRequest(subtree: "")])
        var filtered = Self.synchronized(subtree: "/a")
        #expect(Self.news(filtered.received(CloneEntry(key: "/a", sequence: 9, value: "later").message, on: Machine.subscriber, now: Self.at(1))) == ["update /a 9"],
                "under a subtree, sequence numbers skip the other keys' updates")
    }

    @Test("silence for the server timeout (HUGZ count) loses the server: fresh sockets to the next, its snapshot, failedOver")
    func failover() {
        var machine = Self.synchronized()
        _ = machine.received(CloneProtocol.heartbeat, on: Machine.subscriber, now: Self.at(4))
        #expect(machine.tick(now: Self.at(8.9)).isEmpty, "HUGZ at 4 s keeps it until 9 s")
        let lost = machine.tick(now: Self.at(9))
        #expect(Self.news(lost) == ["serverLost"])
        #expect(lost.compactMap { if case .open(_, let plan) = $0 { plan.connect } else { nil } } == [["inproc://p2"], ["inproc://s2"]])
        _ = machine.received(CloneProtocol.heartbeat, on: Machine.subscriber, now: Self.at(9.1))
        let synced = machine.received(CloneProtocol.snapshotEnd(sequence: 2, subtree: ""), on: Machine.snapshot, now: Self.at(9.2))
        #expect(Self.news(synced) == ["snapshot [] 2", "snapshotReceived", "failedOver"])
        #expect(Self.news(machine.tick(now: Self.at(14.2))) == ["serverLost"] && machine.server == 0, "and back to the first")
    }

    @Test("its subscriber's connection dropping (the server restarted) makes it take the map again from the same server")
    func connectionDropped() {
        var machine = Self.synchronized()
        let rejoined = machine.disconnected(Machine.subscriber, now: Self.at(1))
        #expect(Self.news(rejoined) == ["updatesMissed"] && machine.server == 0)
        #expect(rejoined.compactMap { if case .open(_, let plan) = $0 { plan.connect } else { nil } } == [["inproc://p1"], ["inproc://s1"]])
        #expect(rejoined.contains { if case .open(_, let plan) = $0 { plan.reportsDisconnects } else { false } })
        // Mid-snapshot too: the snapshot may be the old server's.
        _ = machine.received(CloneProtocol.heartbeat, on: Machine.subscriber, now: Self.at(1.1))
        #expect(Self.news(machine.disconnected(Machine.subscriber, now: Self.at(1.2))) == ["updatesMissed"])
        #expect(machine.reads(Machine.subscriber), "joining again")
    }

    @Test("a snapshot that keeps arriving keeps the server; a key outside the subtree that the HUGZ subscription lets through is ignored")
    func slowSnapshotAndStrayKeys() {
        var machine = Machine(servers: Self.servers, subtree: "/a/", serverTimeout: .seconds(5), options: [])
        _ = machine.start(now: Self.at(0))
        _ = machine.received(CloneProtocol.heartbeat, on: Machine.subscriber, now: Self.at(0))
        for second in 1...10 {
            _ = machine.received(CloneEntry(key: "/a/\(second)", sequence: 1, value: "v").message, on: Machine.snapshot, now: Self.at(Double(second) * 4))
            #expect(machine.tick(now: Self.at(Double(second) * 4 + 3)).isEmpty)
        }
        _ = machine.received(CloneProtocol.snapshotEnd(sequence: 5, subtree: "/a/"), on: Machine.snapshot, now: Self.at(41))
        #expect(Self.news(machine.received(CloneEntry(key: "HUGZY", sequence: 6, value: "x").message, on: Machine.subscriber, now: Self.at(42))).isEmpty)
        #expect(Self.news(machine.received(CloneEntry(key: "/a/x", sequence: 7, value: "x").message, on: Machine.subscriber, now: Self.at(42))) == ["update /a/x 7"])
    }

    @Test("a malformed update or snapshot entry is dropped and counted; the client goes on")
    func badInput() {
        var machine = Self.synchronized()
        #expect(Self.news(machine.received(["/a", Frame([1, 2]), "", "", "v"], on: Machine.subscriber, now: Self.at(1))) == ["messageDropped"])
        #expect(Self.news(machine.received(CloneEntry(key: "/a", sequence: 6, value: "ok").message, on: Machine.subscriber, now: Self.at(1))) == ["update /a 6"])
        #expect(machine.drops == 1)
    }
}

/// A Clone store in memory, for the machine's tests; `failing` makes every write throw.
final class MemoryCloneStore: CloneStore, @unchecked Sendable {
    struct Failure: Error {}
    private let lock = NSLock()
    private var entries: [String: (entry: CloneEntry, expires: Date?)] = [:]
    private var sequence: UInt64 = 0
    var failing = false

    func load() -> (entries: [(entry: CloneEntry, expires: Date?)], sequence: UInt64) {
        lock.withLock { (Array(entries.values), sequence) }
    }

    func record(_ entry: CloneEntry, expires: Date?, sequence: UInt64) throws {
        try lock.withLock {
            if failing { throw Failure() }
            entries[entry.key] = entry.deletes ? nil : (entry, expires)
            self.sequence = sequence
        }
    }

    func replace(with entries: [(entry: CloneEntry, expires: Date?)], sequence: UInt64) throws {
        try lock.withLock {
            if failing { throw Failure() }
            self.entries = Dictionary(uniqueKeysWithValues: entries.map { ($0.entry.key, $0) })
            self.sequence = sequence
        }
    }
}

@Suite("Clone server store")
struct CloneServerStoreTests {
    typealias Machine = CloneServerMachine
    static let at = FixedClock.at
    static func set(_ key: String, _ value: String, ttl: String? = nil) -> Message {
        CloneServerMachineTests.set(key, value, ttl: ttl)
    }

    /// A server started on what `store` holds, as `CloneServer.run` starts one.
    static func server(_ store: MemoryCloneStore, wall: Date, at seconds: Double) -> (Machine, [Machine.Action]) {
        var settings = Machine.Settings(endpoints: CloneServerMachineTests.endpoints, store: store, wallClock: { wall })
        settings.stored = store.load()
        var machine = Machine(settings)
        let started = machine.start(now: at(seconds))
        return (machine, started)
    }

    /// `actions` after running their writes, as the runner does.
    @discardableResult
    static func performed(_ actions: [Machine.Action]) async throws -> [Machine.Action] {
        for case .perform(let work) in actions { try await work.run() }
        return actions
    }

    @Test("a server restarted on its store has the same map and goes on from the same sequence; an ephemeral key keeps its wall-clock expiry across the restart")
    func restart() async throws {
        let store = MemoryCloneStore()
        let wall = Date(timeIntervalSince1970: 1_000_000)
        var (first, _) = Self.server(store, wall: wall, at: 0)
        try await Self.performed(first.received(Self.set("/kept", "k"), on: Machine.collector, now: Self.at(0)))
        try await Self.performed(first.received(Self.set("/gone", "g"), on: Machine.collector, now: Self.at(0)))
        try await Self.performed(first.received(Self.set("/gone", ""), on: Machine.collector, now: Self.at(0)))
        try await Self.performed(first.received(Self.set("/brief", "b", ttl: "10"), on: Machine.collector, now: Self.at(0)))
        // Restarted 4 s of wall-clock time later: the ephemeral key has 6 s left.
        var (second, _) = Self.server(store, wall: wall.addingTimeInterval(4), at: 100)
        #expect(second.map.keys.sorted() == ["/brief", "/kept"] && second.sequence == 4)
        #expect(CloneServerMachineTests.published(second.tick(now: Self.at(105.9))).isEmpty)
        #expect(CloneServerMachineTests.published(second.tick(now: Self.at(106))).map(\.key) == ["/brief"])
        #expect(CloneServerMachineTests.published(second.received(Self.set("/next", "n"), on: Machine.collector, now: Self.at(107))).map(\.sequence) == [6])
    }

    @Test("nothing is published that is not stored: the write comes before the publication, and a store that fails ends the run")
    func failingStore() async throws {
        let store = MemoryCloneStore()
        var (machine, _) = Self.server(store, wall: Date(), at: 0)
        store.failing = true
        let actions = machine.received(Self.set("/k", "v"), on: Machine.collector, now: Self.at(0))
        let write = try #require(actions.firstIndex { if case .perform = $0 { true } else { false } })
        let publication = try #require(actions.firstIndex { $0.sent?.socket == Machine.publisher })
        #expect(write < publication)
        let failure = await #expect(throws: ZMQError.self) { try await Self.performed(actions) }
        #expect(failure?.code == .invalidFile)
    }
}
