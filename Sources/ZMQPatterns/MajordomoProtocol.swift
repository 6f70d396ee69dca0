import ZMQ

/// The Majordomo Protocol's versions: 7/MDP (0.1, REQ clients, REPLY) and 18/MDP (0.2, DEALER
/// clients, PARTIAL and FINAL replies), and the dialect of 0.2 that the majortomo package
/// (PyPI) speaks. A broker speaks all three at once, telling them apart by each message's
/// first frames.
public enum MajordomoVersion: String, Sendable, Hashable, CaseIterable {
    case v01 = "0.1"
    case v02 = "0.2"
    /// majortomo 0.2.0's MDP 0.2, which departs from 18/MDP on the wire: every message starts
    /// with an empty frame, a client's REQUEST is 0x02, and replies to clients are PARTIAL 0x03
    /// and FINAL 0x04 with no service frame. Worker commands are 18/MDP's, after the empty frame.
    case majortomo = "majortomo"

    /// The versions the RFCs define.
    public static let rfc: [MajordomoVersion] = [.v01, .v02]
    /// `allCases` made once (the synthesized property makes a new array each time).
    static let every = allCases

    // Made once: a frame made from a string literal converts and copies it each time.
    private static let mdpc01: Frame = "MDPC01", mdpc02: Frame = "MDPC02"
    private static let mdpw01: Frame = "MDPW01", mdpw02: Frame = "MDPW02"
    var clientHeader: Frame { self == .v01 ? Self.mdpc01 : Self.mdpc02 }
    var workerHeader: Frame { self == .v01 ? Self.mdpw01 : Self.mdpw02 }
    /// Whether messages start with an empty frame (a REQ's delimiter in 0.1; majortomo's always).
    var leadingEmptyFrame: Bool { self != .v02 }
    /// Whether clients get PARTIAL replies (0.1 has one REPLY only).
    var streamsPartials: Bool { self != .v01 }
}

/// A worker's command, as 7/MDP and 18/MDP number them.
enum MajordomoCommand: Equatable {
    case ready(service: String)
    case request(client: Frame, body: [Frame])
    /// A reply: in 0.1 the only one (REPLY); in 0.2 `final` false is PARTIAL, true is FINAL.
    case reply(client: Frame, body: [Frame], final: Bool)
    case heartbeat
    case disconnect

    /// The command octet in `version`.
    func code(_ version: MajordomoVersion) -> UInt8 {
        switch (self, version) {
        case (.ready, _): 1
        case (.request, _): 2
        case (.reply, .v01): 3
        case (.reply(_, _, let final), _): final ? 4 : 3
        case (.heartbeat, .v01): 4
        case (.heartbeat, _): 5
        case (.disconnect, .v01): 5
        case (.disconnect, _): 6
        }
    }

    /// The frames after the routing id: 0.1 and majortomo start with an empty frame, 0.2 does not.
    func frames(_ version: MajordomoVersion) -> [Frame] {
        message(version).frames
    }

    /// The one-octet frames that carry commands' codes, made once.
    static let codeFrames = (0..<8).map { Frame([UInt8($0)]) }

    /// The command as a message, after `routingID` when given (a broker's, to the worker):
    /// built in one array.
    func message(_ version: MajordomoVersion, to routingID: Frame? = nil) -> Message {
        var frames: [Frame] = []
        let body: [Frame]
        switch self {
        case .request(_, let requestBody), .reply(_, let requestBody, _): body = requestBody
        default: body = []
        }
        frames.reserveCapacity(6 + body.count)
        if let routingID { frames.append(routingID) }
        if version.leadingEmptyFrame { frames.append(Frame()) }
        frames.append(version.workerHeader)
        frames.append(Self.codeFrames[Int(code(version))])
        switch self {
        case .ready(let service): frames.append(Frame(service))
        case .request(let client, _), .reply(let client, _, _):
            frames.append(client)
            frames.append(Frame())
            frames.append(contentsOf: body)
        case .heartbeat, .disconnect: break
        }
        return Message(frames)
    }

    /// Parses a worker command (the frames after the routing id); nil for anything malformed.
    static func parse(_ frames: ArraySlice<Frame>) -> (MajordomoVersion, MajordomoCommand)? {
        var frames = frames
        let version: MajordomoVersion
        if frames.first == MajordomoVersion.v02.workerHeader {
            version = .v02
        } else if frames.count >= 2, frames.first?.isEmpty == true, frames[frames.startIndex + 1] == MajordomoVersion.v01.workerHeader {
            version = .v01
            frames = frames.dropFirst()
        } else if frames.count >= 2, frames.first?.isEmpty == true, frames[frames.startIndex + 1] == MajordomoVersion.v02.workerHeader {
            version = .majortomo
            frames = frames.dropFirst()
        } else {
            return nil
        }
        frames = frames.dropFirst()
        guard let code = frames.first, code.count == 1 else { return nil }
        let octet = code.withUnsafeBytes { $0[0] }
        let rest = frames.dropFirst()
        let start = rest.startIndex
        let command: MajordomoCommand?
        switch (octet, version) {
        case (1, _):
            command = rest.count == 1 ? rest[start].string.map { .ready(service: $0) } : nil
        case (2, _):
            command = rest.count >= 2 && rest[start + 1].isEmpty ? .request(client: rest[start], body: Array(rest.dropFirst(2))) : nil
        case (3, _), (4, .v02), (4, .majortomo):
            let final = version == .v01 || octet == 4
            command = rest.count >= 2 && rest[start + 1].isEmpty ? .reply(client: rest[start], body: Array(rest.dropFirst(2)), final: final) : nil
        case (4, .v01), (5, .v02), (5, .majortomo):
            command = rest.isEmpty ? .heartbeat : nil
        case (5, .v01), (6, .v02), (6, .majortomo):
            command = rest.isEmpty ? .disconnect : nil
        default:
            command = nil
        }
        return command.map { (version, $0) }
    }
}

/// A client's message: a request on the way in, a reply on the way out.
enum MajordomoClientMessage {
    /// The octet of a client's REQUEST, and of its PARTIAL and FINAL replies (0.1 has no octets).
    static func codes(_ version: MajordomoVersion) -> (request: UInt8, partial: UInt8, final: UInt8) {
        version == .majortomo ? (2, 3, 4) : (1, 2, 3)
    }

    /// Appends the frames before the service name (or, in majortomo's replies, before the body).
    static func appendHead(_ version: MajordomoVersion, _ code: UInt8, to frames: inout [Frame]) {
        if version.leadingEmptyFrame { frames.append(Frame()) }
        frames.append(version.clientHeader)
        if version != .v01 { frames.append(MajordomoCommand.codeFrames[Int(code)]) }
    }

    /// Whether `frames` start with what `appendHead(version, code)` appends, without making it.
    static func startsWithHead(_ frames: ArraySlice<Frame>, _ version: MajordomoVersion, _ code: UInt8) -> Bool {
        var index = frames.startIndex
        if version.leadingEmptyFrame {
            guard index < frames.endIndex, frames[index].isEmpty else { return false }
            index += 1
        }
        guard index < frames.endIndex, frames[index] == version.clientHeader else { return false }
        index += 1
        if version == .v01 { return true }
        return index < frames.endIndex && frames[index].count == 1 && frames[index].withUnsafeBytes { $0[0] } == code
    }

    /// How many frames `appendHead(version, _)` appends.
    static func headCount(_ version: MajordomoVersion) -> Int {
        switch version {
        case .v01, .v02: 2
        case .majortomo: 3
        }
    }

    /// Parses a client request (the frames after the routing id): 0.1 `"", MDPC01, service,
    /// body…` (from a REQ), 0.2 `MDPC02, 0x01, service, body…`, majortomo `"", MDPC02, 0x02,
    /// service, body…`.
    static func parseRequest(_ frames: ArraySlice<Frame>) -> (MajordomoVersion, service: String, body: [Frame])? {
        for version in MajordomoVersion.every {
            let count = headCount(version)
            guard frames.count > count, startsWithHead(frames, version, codes(version).request),
                  let service = frames[frames.startIndex + count].string else { continue }
            return (version, service, Array(frames.dropFirst(count + 1)))
        }
        return nil
    }

    /// A reply to a client of `version`, after its routing id. `final` false is a PARTIAL.
    /// majortomo's replies carry no service frame.
    static func reply(_ version: MajordomoVersion, service: String, body: [Frame], final: Bool = true) -> [Frame] {
        replyMessage(version, service: service, body: body, final: final).frames
    }

    /// `reply` as a message, after `routingID` when given (a broker's, to the client): built in
    /// one array.
    static func replyMessage(_ version: MajordomoVersion, to routingID: Frame? = nil, service: String, body: [Frame], final: Bool = true) -> Message {
        var frames: [Frame] = []
        frames.reserveCapacity(5 + body.count)
        if let routingID { frames.append(routingID) }
        let codes = codes(version)
        appendHead(version, final ? codes.final : codes.partial, to: &frames)
        if version != .majortomo { frames.append(Frame(service)) }
        frames.append(contentsOf: body)
        return Message(frames)
    }

    /// A client's request in `version`, as it goes on the wire from a DEALER.
    static func request(_ version: MajordomoVersion, service: String, body: [Frame]) -> [Frame] {
        var frames: [Frame] = []
        frames.reserveCapacity(4 + body.count)
        appendHead(version, codes(version).request, to: &frames)
        frames.append(Frame(service))
        frames.append(contentsOf: body)
        return frames
    }

    /// A reply from the broker as a DEALER client of `version` sees it (0.1 with the empty
    /// frame a REQ would have removed): whether it is the last, its service (none in
    /// majortomo's) and its body; nil for anything else.
    static func parseReply(_ version: MajordomoVersion, _ reply: Message) -> (final: Bool, service: String?, body: [Frame])? {
        let frames = reply.frames[...]
        let codes = codes(version)
        for final in version.streamsPartials ? [true, false] : [true] {
            guard startsWithHead(frames, version, final ? codes.final : codes.partial) else { continue }
            let count = headCount(version)
            if version == .majortomo { return (final, nil, Array(frames.dropFirst(count))) }
            guard frames.count > count, let service = frames[count].string else { return nil }
            return (final, service, Array(frames.dropFirst(count + 1)))
        }
        return nil
    }

    /// What a client of `version` waiting on `service` makes of `reply`: the FINAL is the answer,
    /// a PARTIAL is kept (or passed over, without `keepPartials`), and anything else (another
    /// service's reply, garbage) is ignored.
    static func verdict(_ version: MajordomoVersion, service: String, _ reply: Message, keepPartials: Bool = true) -> RequestLane.Verdict<Message> {
        guard let (final, replyService, body) = parseReply(version, reply), replyService ?? service == service else { return .ignore }
        let message = Message(body, metadata: reply.metadata)
        if final { return .answer(message) }
        return keepPartials ? .partial(message) : .ignore
    }
}
