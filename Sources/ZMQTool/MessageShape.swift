import ArgumentParser
import ZMQ

/// How `zmq send` reads and `zmq recv` prints the messages of each socket type. The draft types
/// carry one frame, with the routing id (SERVER, PEER) or group (RADIO, DISH) on the message
/// rather than in a frame: on the command line those become a first frame of their own.
enum MessageShape {
    /// Frames as they are.
    case frames
    /// One frame: CLIENT, SCATTER, GATHER, CHANNEL, RADIO (its group from `--group`), and what
    /// a PEER that connected sends (to its one peer).
    case single
    /// `[routing id in decimal, body]`: SERVER, and PEER (except what a connecting one sends).
    case routed
    /// `[group, body]`: what a DISH prints.
    case grouped
    /// `[address, body]`: DGRAM.
    case addressed
    /// `[routing id, data]`: what a bound STREAM sends, a frame of octets to one connection.
    case connection

    /// How `zmq recv` prints a message of `type`.
    init(_ type: SocketType) {
        switch type {
        case .dish: self = .grouped
        case .dgram: self = .addressed
        case _ where type.traits.singleFrame && type.traits.routesByID: self = .routed
        case _ where type.traits.singleFrame: self = .single
        default: self = .frames
        }
    }

    /// How `zmq send` reads a message of `type`. A connecting PEER sends to the one peer it
    /// connected to, and a connecting STREAM writes every frame to its one connection.
    init(sending type: SocketType, connecting: Bool) {
        switch type {
        case .peer where connecting: self = .single
        case _ where type.traits.framing == .raw: self = connecting ? .frames : .connection
        default: self.init(type)
        }
    }

    /// Why `count` frames cannot make a message of `type`, or nil when they can.
    func refusal(frames count: Int, type: SocketType) -> String? {
        switch self {
        case .frames, .grouped: return nil
        case .single: return count == 1 ? nil : "a \(type) message is one frame: give one, not \(count)"
        case .routed: return count == 2 ? nil : "a \(type) message is [routing id, body]: give two frames, not \(count)"
        case .addressed: return count == 2 ? nil : "a DGRAM message is [address, body]: give two frames, not \(count)"
        case .connection: return count == 2 ? nil : "a bound \(type) sends [routing id, data]: give two frames, not \(count)"
        }
    }

    /// The message to send for the frames given: the routing id read from the first frame, or
    /// the group and connected peer applied.
    func message(from frames: Message, type: SocketType, group: String?, peer: UInt32?) throws -> Message {
        if let refusal = refusal(frames: frames.count, type: type) { throw UsageError(message: refusal) }
        switch self {
        case .routed:
            guard let text = frames[0].string, let id = UInt32(text), id != 0 else {
                throw UsageError(message: "a \(type) routing id is a number from 1 to 4294967295, not '\(frames[0].string ?? "binary")'")
            }
            var message = Message(frames[1])
            message.routingID = id
            return message
        case .single:
            var message = frames
            message.group = type == .radio ? (group ?? "") : nil
            message.routingID = peer
            return message
        default:
            return frames
        }
    }

    /// The frames `zmq recv` prints for `message`.
    func printed(_ message: Message) -> Message {
        switch self {
        case .routed: return [Frame(String(message.routingID ?? 0)), message[0]]
        case .grouped: return [Frame(message.group ?? ""), message[0]]
        default: return message
        }
    }

    /// A `--group` value: at most 255 octets (48/RADIO-DISH), checked before anything opens.
    static func checkGroup(_ group: String) throws {
        let count = group.utf8.count
        if count > 255 { throw ValidationError("a group is at most 255 octets, not \(count)") }
        if group.utf8.contains(0) { throw ValidationError("a group may not contain a zero octet") }
    }
}
