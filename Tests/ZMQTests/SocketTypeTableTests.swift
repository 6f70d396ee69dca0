import Foundation
import Testing
@testable import ZMQ
import ZMTP

/// What each socket type is, pinned from the specifications rather than from our own table:
/// 23/ZMTP's legal pairs and Identity rule, 29/PUBSUB's subscription commands, and which types
/// send and receive at all. The table (`SocketType.traits`) is read by the handshake, the wire
/// rules, the proxy and the tool, so these facts hold everywhere at once.
@Suite("Socket types, from the specifications")
struct SocketTypeTableTests {
    /// 23/ZMTP "The Socket-Type Property": the pairs that may be connected.
    static let legalPairs: Set<[String]> = [
        ["REQ", "REP"], ["REQ", "ROUTER"], ["REP", "REQ"], ["REP", "DEALER"],
        ["DEALER", "REP"], ["DEALER", "DEALER"], ["DEALER", "ROUTER"],
        ["ROUTER", "REQ"], ["ROUTER", "DEALER"], ["ROUTER", "ROUTER"],
        ["PUB", "SUB"], ["PUB", "XSUB"], ["XPUB", "SUB"], ["XPUB", "XSUB"],
        ["SUB", "PUB"], ["SUB", "XPUB"], ["XSUB", "PUB"], ["XSUB", "XPUB"],
        ["PUSH", "PULL"], ["PULL", "PUSH"], ["PAIR", "PAIR"],
        ["CLIENT", "SERVER"], ["SERVER", "CLIENT"], ["RADIO", "DISH"], ["DISH", "RADIO"],
        ["SCATTER", "GATHER"], ["GATHER", "SCATTER"], ["PEER", "PEER"], ["CHANNEL", "CHANNEL"],
    ]

    @Test("every pair of types is legal exactly when 23/ZMTP lists it (STREAM has no ZMTP peer at all)")
    func compatibility() {
        for ours in SocketType.allCases {
            for theirs in SocketType.allCases {
                #expect(ours.isCompatible(with: theirs) == Self.legalPairs.contains([ours.rawValue, theirs.rawValue]), "\(ours) with \(theirs)")
            }
        }
    }

    @Test("PUB, PUSH, RADIO and SCATTER only send; SUB, PULL, DISH and GATHER only receive; the others do both")
    func directions() {
        for type in SocketType.allCases {
            #expect(type.traits.sends == ![.sub, .pull, .dish, .gather].contains(type), "\(type) sends")
            #expect(type.traits.receives == ![.pub, .push, .radio, .scatter].contains(type), "\(type) receives")
        }
    }

    @Test("the draft types are single-frame; RADIO takes JOIN and LEAVE, DISH sends them")
    func draftTypes() {
        let drafts: [SocketType] = [.client, .server, .radio, .dish, .scatter, .gather, .peer, .channel]
        for type in SocketType.allCases {
            #expect(type.traits.singleFrame == drafts.contains(type), "\(type)")
            #expect(type.traits.takesGroups == (type == .radio) && type.traits.sendsGroups == (type == .dish), "\(type)")
        }
    }

    @Test("REQ, DEALER and ROUTER announce an Identity (23/ZMTP); ROUTER, STREAM, SERVER and PEER route by id")
    func identities() {
        for type in SocketType.allCases {
            #expect(type.announcesIdentity == [.req, .dealer, .router].contains(type), "\(type)")
            #expect(type.traits.routesByID == [.router, .stream, .server, .peer].contains(type), "\(type)")
        }
    }

    @Test("STREAM's connections carry raw octets, DGRAM's datagrams; the others speak ZMTP")
    func framing() {
        for type in SocketType.allCases {
            #expect(type.traits.framing == (type == .stream ? .raw : type == .dgram ? .datagram : .zmtp), "\(type)")
        }
    }

    @Test("PUB and XPUB take SUBSCRIBE and CANCEL; SUB and XSUB send them; no other type does either")
    func subscriptionCommands() {
        for type in SocketType.allCases {
            let rules = WireRules(type)
            #expect(rules.takesGroupCommands == (type == .radio) && rules.sendsGroupCommands == (type == .dish), "\(type)")
            #expect(rules.takesSubscriptionCommands == [.pub, .xpub].contains(type), "\(type)")
            #expect(rules.sendsSubscriptionCommands == [.sub, .xsub].contains(type), "\(type)")
        }
    }

    /// Every typed wrapper: one written for a new type belongs here too.
    static let wrappers: [any TypedSocket.Type] = [
        PushSocket.self, PullSocket.self, PublisherSocket.self, SubscriberSocket.self, RequestSocket.self,
        ReplySocket.self, DealerSocket.self, RouterSocket.self, PairSocket.self, XPublisherSocket.self,
        XSubscriberSocket.self, StreamSocket.self, ClientSocket.self, ServerSocket.self, RadioSocket.self,
        DishSocket.self, ScatterSocket.self, GatherSocket.self, PeerSocket.self, ChannelSocket.self,
    ]

    @Test("each typed socket has send and receive exactly when its type sends and receives; every type but DGRAM has one")
    func typedSockets() {
        for wrapper in Self.wrappers {
            let type = wrapper.socketType
            #expect((wrapper is any SendingSocket.Type) == type.traits.sends, "\(wrapper) sends")
            #expect((wrapper is any ReceivingSocket.Type) == type.traits.receives, "\(wrapper) receives")
        }
        let wrapped = Self.wrappers.map { $0.socketType }
        #expect(wrapped.count == Set(wrapped).count, "one wrapper per type")
        #expect(Set(wrapped) == Set(SocketType.allCases).subtracting([.dgram]))
    }
}

/// The option reference (OptionsByType.md) against what `set(_:)` enforces.
@Suite("The option reference")
struct OptionReferenceTests {
    static let article = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Sources/ZMQ/ZMQ.docc/OptionsByType.md")

    /// One value of every option that belongs to some types only, and a few that do not.
    static let options: [SocketOption] = [
        .routerMandatory(true), .routerRaw(true), .routerHandover(true), .routerNotify(.connect), .probeRouter(true),
        .connectRoutingID([1]), .streamNotify(false), .reqRelaxed(true), .reqCorrelate(true), .conflate(true),
        .xpubVerbose(true), .xpubVerboser(true), .xpubManual(true), .xpubNoDrop(true), .xpubWelcomeMessage(nil),
        .invertMatching(true), .linger(.zero), .sendHighWaterMark(1), .heartbeatInterval(nil),
    ]

    @Test("every row of the article's table says exactly the types set(_:) accepts the option for, and no option is missing")
    func tableMatches() async throws {
        let text = try String(contentsOf: Self.article, encoding: .utf8)
        var rows: [String: Set<String>] = [:]
        for line in text.split(separator: "\n") where line.hasPrefix("| `") {
            let cells = line.split(separator: "|").map { $0.trimmingCharacters(in: .whitespaces) }
            rows[cells[0].trimmingCharacters(in: CharacterSet(charactersIn: "`"))] = Set(cells[1].components(separatedBy: ", "))
        }
        let context = ZMQContext()
        for option in Self.options {
            let accepted = SocketType.allCases.filter { type in
                guard let socket = try? context.socket(type) else { return false }
                defer { socket.close() }
                return (try? socket.set(option)) != nil
            }
            if accepted.count == SocketType.allCases.count {
                #expect(rows[option.name] == nil, "\(option.name) applies to every type")
            } else {
                #expect(rows[option.name] == Set(accepted.map(\.rawValue)), "\(option.name)")
            }
        }
        #expect(rows.count == Self.options.count - 3)
        await context.shutdown()
    }
}
