import ZMQ

/// The Majordomo Protocol's versions: 7/MDP (0.1, REQ clients, REPLY) and 18/MDP (0.2, DEALER
/// clients, PARTIAL and FINAL replies). A broker speaks both at once, by each message's header.
public enum MajordomoVersion: String, Sendable, Hashable, CaseIterable {
    case v01 = "0.1"
    case v02 = "0.2"

    var clientHeader: Frame { self == .v01 ? "MDPC01" : "MDPC02" }
    var workerHeader: Frame { self == .v01 ? "MDPW01" : "MDPW02" }
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
        case (.reply(_, _, let final), .v02): final ? 4 : 3
        case (.heartbeat, .v01): 4
        case (.heartbeat, .v02): 5
        case (.disconnect, .v01): 5
        case (.disconnect, .v02): 6
        }
    }

    /// The frames after the routing id: 0.1 starts with an empty frame, 0.2 does not.
    func frames(_ version: MajordomoVersion) -> [Frame] {
        let head: [Frame] = (version == .v01 ? [Frame()] : []) + [version.workerHeader, Frame([code(version)])]
        switch self {
        case .ready(let service): return head + [Frame(service)]
        case .request(let client, let body): return head + [client, Frame()] + body
        case .reply(let client, let body, _): return head + [client, Frame()] + body
        case .heartbeat, .disconnect: return head
        }
    }

    /// Parses a worker command (the frames after the routing id); nil for anything malformed.
    static func parse(_ frames: ArraySlice<Frame>) -> (MajordomoVersion, MajordomoCommand)? {
        var frames = frames
        let version: MajordomoVersion
        if frames.first == "MDPW02" {
            version = .v02
        } else if frames.count >= 2, frames.first?.isEmpty == true, frames[frames.startIndex + 1] == "MDPW01" {
            version = .v01
            frames = frames.dropFirst()
        } else {
            return nil
        }
        frames = frames.dropFirst()
        guard let code = frames.first, code.count == 1 else { return nil }
        let rest = Array(frames.dropFirst())
        let command: MajordomoCommand?
        switch (code.bytes[0], version) {
        case (1, _):
            command = rest.count == 1 ? rest[0].string.map { .ready(service: $0) } : nil
        case (2, _):
            command = rest.count >= 2 && rest[1].isEmpty ? .request(client: rest[0], body: Array(rest.dropFirst(2))) : nil
        case (3, _), (4, .v02):
            let final = version == .v01 || code.bytes[0] == 4
            command = rest.count >= 2 && rest[1].isEmpty ? .reply(client: rest[0], body: Array(rest.dropFirst(2)), final: final) : nil
        case (4, .v01), (5, .v02):
            command = rest.isEmpty ? .heartbeat : nil
        case (5, .v01), (6, .v02):
            command = rest.isEmpty ? .disconnect : nil
        default:
            command = nil
        }
        return command.map { (version, $0) }
    }
}

/// A client's message: a request on the way in, a reply on the way out.
enum MajordomoClientMessage {
    /// Parses a client request (the frames after the routing id): 0.1 `"", MDPC01, service,
    /// body…` (from a REQ), 0.2 `MDPC02, 0x01, service, body…`.
    static func parseRequest(_ frames: ArraySlice<Frame>) -> (MajordomoVersion, service: String, body: [Frame])? {
        let start = frames.startIndex
        if frames.count >= 3, frames[start].isEmpty, frames[start + 1] == "MDPC01", let service = frames[start + 2].string {
            return (.v01, service, Array(frames.dropFirst(3)))
        }
        if frames.count >= 3, frames[start] == "MDPC02", frames[start + 1] == Frame([1]), let service = frames[start + 2].string {
            return (.v02, service, Array(frames.dropFirst(3)))
        }
        return nil
    }

    /// A reply to a client of `version`, after its routing id. `final` false is a 0.2 PARTIAL.
    static func reply(_ version: MajordomoVersion, service: String, body: [Frame], final: Bool = true) -> [Frame] {
        switch version {
        case .v01: return [Frame(), "MDPC01", Frame(service)] + body
        case .v02: return ["MDPC02", Frame([final ? 3 : 2]), Frame(service)] + body
        }
    }

    /// A client's request in `version`, as it goes on the wire from a DEALER.
    static func request(_ version: MajordomoVersion, service: String, body: [Frame]) -> [Frame] {
        switch version {
        case .v01: return [Frame(), "MDPC01", Frame(service)] + body
        case .v02: return ["MDPC02", Frame([1]), Frame(service)] + body
        }
    }

    /// A reply from the broker as a DEALER client of `version` sees it: whether it is the last
    /// (0.2 FINAL rather than PARTIAL), its service and its body; nil for anything else.
    static func parseReply(_ version: MajordomoVersion, _ reply: Message) -> (final: Bool, service: String, body: [Frame])? {
        let frames = reply.frames
        switch version {
        case .v01:
            // A DEALER sees the empty frame REQ would have removed.
            guard frames.count >= 3, frames[0].isEmpty, frames[1] == "MDPC01", let service = frames[2].string else { return nil }
            return (true, service, Array(frames.dropFirst(3)))
        case .v02:
            guard frames.count >= 3, frames[0] == "MDPC02", frames[1].count == 1, let service = frames[2].string else { return nil }
            let code = frames[1].bytes[0]
            guard code == 2 || code == 3 else { return nil }
            return (code == 3, service, Array(frames.dropFirst(3)))
        }
    }
}
