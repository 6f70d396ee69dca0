import Foundation
import ZMQ

/// One key-value pair as 12/CHP carries it: KVSYNC (a snapshot's entries), KVPUB (a server's
/// updates) and KVSET (a client's) are all these five frames:
///
///     key | sequence (8 octets, network order) | UUID (16 octets or none) | properties | value
///
/// An empty value deletes the key. Properties are `name=value` lines; `ttl` (seconds) makes a
/// key ephemeral: the server deletes it, and publishes the delete, when it has lived that long.
public struct CloneEntry: Sendable, Hashable {
    public var key: String
    public var sequence: UInt64
    /// Identifies a client's update, so a server pair applies it once (16 octets, or none).
    public var uuid: [UInt8]
    public var properties: [String: String]
    public var value: Frame

    public init(key: String, sequence: UInt64 = 0, uuid: [UInt8] = [], properties: [String: String] = [:], value: Frame) {
        self.key = key
        self.sequence = sequence
        self.uuid = uuid
        self.properties = properties
        self.value = value
    }

    /// A key with an empty value is deleted.
    public var deletes: Bool { value.isEmpty }

    /// How long the key lives, from its `ttl` property; nil when it is not ephemeral (no `ttl`,
    /// or zero).
    public var timeToLive: Duration? {
        guard let text = properties["ttl"], let seconds = CloneProtocol.seconds(text), seconds > 0 else { return nil }
        return .milliseconds(Int64((seconds * 1000).rounded(.up)))
    }

    /// The five frames.
    public var message: Message {
        Message([Frame(key), CloneProtocol.sequenceFrame(sequence), Frame(uuid), Frame(CloneProtocol.text(of: properties)), value])
    }
}

/// A 12/CHP command, as it arrives.
public enum CloneCommand: Sendable, Hashable {
    /// `ICANHAZ?`: a client asks for the keys under `subtree` (empty for all).
    case snapshotRequest(subtree: String)
    /// `KTHXBAI`: the end of a snapshot, at `sequence`, the last update it includes.
    case snapshotEnd(sequence: UInt64, subtree: String)
    /// `HUGZ`: the server is alive and has nothing to say.
    case heartbeat
    /// KVSYNC, KVPUB or KVSET: which one is told by the socket it came on.
    case entry(CloneEntry)
}

/// Why a 12/CHP message was dropped.
public enum CloneProtocolError: Error, Hashable, Sendable, CustomStringConvertible {
    case frameCount(Int)
    case sequenceLength(Int)
    case uuidLength(Int)
    case notText(String)
    case badProperty(String)
    case badTimeToLive(String)
    /// A well-formed command on a socket that does not take it (a KVSET on the snapshot port).
    case unexpected(String)

    public var description: String {
        switch self {
        case .frameCount(let count): "\(count) frames: a command is 2 (ICANHAZ?) or 5"
        case .sequenceLength(let count): "a sequence number of \(count) octets, not 8"
        case .uuidLength(let count): "a UUID of \(count) octets, not 16 or none"
        case .notText(let field): "the \(field) is not UTF-8 text"
        case .badProperty(let line): "property \"\(line)\" is not name=value"
        case .badTimeToLive(let text): "ttl \"\(text)\" is not a number of seconds"
        case .unexpected(let what): "\(what) was not expected here"
        }
    }
}

/// Parses and builds 12/CHP's frames (`../specs/12-CHP.md`).
public enum CloneProtocol {
    static let snapshotRequestName = "ICANHAZ?"
    static let snapshotEndName = "KTHXBAI"
    static let heartbeatName = "HUGZ"

    /// The command `message` carries, or why it is not one.
    public static func parse(_ message: Message) -> Result<CloneCommand, CloneProtocolError> {
        if message.count == 2 {
            guard message[0] == Frame(snapshotRequestName) else { return .failure(.unexpected("a 2-frame command other than ICANHAZ?")) }
            guard let subtree = message[1].string else { return .failure(.notText("subtree")) }
            return .success(.snapshotRequest(subtree: subtree))
        }
        guard message.count == 5 else { return .failure(.frameCount(message.count)) }
        guard let key = message[0].string else { return .failure(.notText("key")) }
        guard message[1].count == 8 else { return .failure(.sequenceLength(message[1].count)) }
        let sequence = message[1].withUnsafeBytes { UInt64(bigEndian: $0.loadUnaligned(as: UInt64.self)) }
        guard message[2].isEmpty || message[2].count == 16 else { return .failure(.uuidLength(message[2].count)) }
        switch key {
        case snapshotEndName:
            guard let subtree = message[4].string else { return .failure(.notText("subtree")) }
            return .success(.snapshotEnd(sequence: sequence, subtree: subtree))
        case heartbeatName:
            return .success(.heartbeat)
        default:
            guard let text = message[3].string else { return .failure(.notText("properties")) }
            let properties: [String: String]
            switch self.properties(text) {
            case .success(let parsed): properties = parsed
            case .failure(let error): return .failure(error)
            }
            if let ttl = properties["ttl"], seconds(ttl) == nil { return .failure(.badTimeToLive(ttl)) }
            return .success(.entry(CloneEntry(key: key, sequence: sequence, uuid: message[2].bytes, properties: properties, value: message[4])))
        }
    }

    /// `ICANHAZ?` for the keys under `subtree`.
    public static func snapshotRequest(subtree: String) -> Message {
        Message([Frame(snapshotRequestName), Frame(subtree)])
    }

    /// `KTHXBAI`: the snapshot is complete up to `sequence`.
    public static func snapshotEnd(sequence: UInt64, subtree: String) -> Message {
        Message([Frame(snapshotEndName), sequenceFrame(sequence), Frame(), Frame(), Frame(subtree)])
    }

    /// `HUGZ`, with the sequence number zero as the spec shows it.
    public static var heartbeat: Message {
        Message([Frame(heartbeatName), sequenceFrame(0), Frame(), Frame(), Frame()])
    }

    /// Properties as 12/CHP writes them: `name=value` lines, in name order.
    static func text(of properties: [String: String]) -> String {
        properties.keys.sorted().map { "\($0)=\(properties[$0]!)\n" }.joined()
    }

    /// The properties `text` holds, or the first line that is not `name=value`.
    static func properties(_ text: String) -> Result<[String: String], CloneProtocolError> {
        var properties: [String: String] = [:]
        for line in text.split(separator: "\n") {
            guard let equals = line.firstIndex(of: "="), equals != line.startIndex else { return .failure(.badProperty(String(line))) }
            properties[String(line[..<equals])] = String(line[line.index(after: equals)...])
        }
        return .success(properties)
    }

    /// A key 12/CHP gives a meaning of its own, which no entry may have.
    public static func isReserved(_ key: String) -> Bool {
        key == snapshotEndName || key == heartbeatName || key == snapshotRequestName
    }

    static func sequenceFrame(_ sequence: UInt64) -> Frame {
        Frame(withUnsafeBytes(of: sequence.bigEndian, Array.init))
    }

    /// The longest `ttl` taken: ten years. Anything longer is refused, not left to overflow.
    static let longestTimeToLive: Double = 315_360_000

    /// Seconds as a `ttl` property gives them: a decimal number from 0 to ten years.
    static func seconds(_ text: String) -> Double? {
        guard let seconds = Double(text), seconds.isFinite, (0...longestTimeToLive).contains(seconds) else { return nil }
        return seconds
    }

    /// A `ttl` property's text for `duration`, to the millisecond.
    static func secondsText(_ duration: Duration) -> String {
        let milliseconds = max(1, duration.components.seconds * 1000 + duration.components.attoseconds / 1_000_000_000_000_000)
        return milliseconds % 1000 == 0 ? "\(milliseconds / 1000)" : String(format: "%.3f", Double(milliseconds) / 1000)
    }

    /// A fresh UUID's 16 octets, for a KVSET.
    static func newUUID() -> [UInt8] {
        withUnsafeBytes(of: UUID().uuid, Array.init)
    }
}

/// Where a Clone server listens: its snapshot ROUTER, its publisher PUB and its collector SUB.
/// 12/CHP puts them at ports P, P + 1 and P + 2, which `init(_:)` derives from P's endpoint
/// (and for ipc, from one path).
public struct CloneEndpoints: Sendable, Hashable {
    public var snapshot: String
    public var publisher: String
    public var collector: String

    public init(snapshot: String, publisher: String, collector: String) {
        self.snapshot = snapshot
        self.publisher = publisher
        self.collector = collector
    }

    /// From one endpoint: for tcp at port P (`tcp://*:5556` to bind, `tcp://host:5556` to
    /// connect), ports P, P + 1 and P + 2; for ipc and inproc, the endpoint itself and the
    /// endpoint with `+1` and `+2` after it (`ipc:///run/clone`, `ipc:///run/clone+1` …).
    /// Throws for another transport, a tcp endpoint without a port number, or a port too high
    /// to have two after it.
    public init(_ endpoint: String) throws {
        if endpoint.hasPrefix("ipc://") || endpoint.hasPrefix("inproc://") {
            self.init(snapshot: endpoint, publisher: endpoint + "+1", collector: endpoint + "+2")
            return
        }
        guard endpoint.hasPrefix("tcp://"), let colon = endpoint.lastIndex(of: ":"),
              let port = Int(endpoint[endpoint.index(after: colon)...]), (1...65533).contains(port) else {
            throw ZMQError.invalidEndpoint(endpoint, reason: "a Clone server is at a tcp endpoint with a port number below 65534 (its ports are P, P+1 and P+2), or an ipc or inproc endpoint")
        }
        let host = endpoint[..<colon]
        self.init(snapshot: "\(host):\(port)", publisher: "\(host):\(port + 1)", collector: "\(host):\(port + 2)")
    }
}
