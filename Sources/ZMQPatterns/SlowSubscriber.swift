import Foundation
import ZMQ

extension ZMQError.Code {
    /// A subscriber fell further behind its publisher than it allows (`LagGuard`).
    public static let subscriberTooSlow = ZMQError.Code("subscriberTooSlow")
}

extension ZMQError {
    /// Matches any `subscriberTooSlow` error: `catch ZMQError.subscriberTooSlow { … }`.
    public static let subscriberTooSlow = ZMQError(code: .subscriberTooSlow, message: "the subscriber is too slow")
}

/// The Guide's Suicidal Snail (chapter 5): a publisher stamps each message with the time it was
/// sent, and a subscriber that finds a message arriving more than `maxLag` after its stamp stops,
/// rather than go on working on stale data while its queue (and the publisher's) fill up.
///
/// The stamp is one extra last frame: 8 octets, the sending time in microseconds since the Unix
/// epoch, in network order. Sequence numbers would not do: a subscriber that filters sees gaps
/// in them anyway. The clocks of the two hosts must agree to well within `maxLag` (NTP).
///
///     // Publisher
///     try await publisher.send(LagGuard.stamped(["prices", "42"]))
///
///     // Subscriber
///     let guard = LagGuard(maxLag: .seconds(1))
///     for try await message in guard.messages(from: subscriber) { … }   // without the stamp
///     // ends by throwing ZMQError.subscriberTooSlow: close the socket, resubscribe, and
///     // take a fresh state (a snapshot, a last value cache) before going on.
///
/// What the publisher sees: the subscriber's connection closing when the application closes
/// its socket (a `disconnected` monitor event), and, until then, whatever its high-water mark
/// does with a full queue (PUB drops for that subscriber).
public struct LagGuard: Sendable {
    /// How far behind its stamp a message may arrive.
    public let maxLag: Duration

    public init(maxLag: Duration) {
        self.maxLag = maxLag
    }

    /// `message` with the stamp for `time` as its last frame: the publisher's side of the
    /// guard, called on each message before it is sent (there is no publisher type to set it on).
    public static func stamped(_ message: Message, at time: Date = Date()) -> Message {
        let microseconds = UInt64(max(0, (time.timeIntervalSince1970 * 1_000_000).rounded()))
        return Message(message.frames + [Frame(withUnsafeBytes(of: microseconds.bigEndian, Array.init))], metadata: message.metadata)
    }

    /// The message without its stamp, and when it was sent; nil if it carries no stamp (fewer
    /// than two frames, or a last frame that is not 8 octets).
    public static func unstamped(_ message: Message) -> (message: Message, sent: Date)? {
        guard message.count >= 2, let last = message.last, last.count == 8 else { return nil }
        let microseconds = last.withUnsafeBytes { UInt64(bigEndian: $0.loadUnaligned(as: UInt64.self)) }
        return (Message(Array(message.frames.dropLast()), metadata: message.metadata),
                Date(timeIntervalSince1970: Double(microseconds) / 1_000_000))
    }

    /// The message without its stamp. Throws `subscriberTooSlow` if it arrived `now` more than
    /// `maxLag` after it was stamped, and `invalidMessage` if it carries no stamp.
    public func check(_ message: Message, now: Date = Date()) throws -> Message {
        guard let (body, sent) = Self.unstamped(message) else {
            throw ZMQError.invalidMessage("the message carries no stamp (a last frame of 8 octets)")
        }
        let lag = now.timeIntervalSince(sent)
        guard lag <= seconds(maxLag) else {
            throw ZMQError(code: .subscriberTooSlow,
                           message: "a message arrived \(String(format: "%.3f", lag)) seconds after it was sent, more than the \(maxLag) allowed")
        }
        return body
    }

    /// The messages `socket` receives, without their stamps, until one arrives too late: then
    /// the sequence throws `subscriberTooSlow`. A message without a stamp throws
    /// `invalidMessage`. The socket stays open: closing it is the application's move.
    public func messages(from socket: ZMQSocket) -> AsyncThrowingStream<Message, any Error> {
        AsyncThrowingStream {
            try check(try await socket.receive())
        }
    }
}
