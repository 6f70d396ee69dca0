/// Why a ZMTP connection cannot go on. Every case closes that one connection; none is fatal to a socket.
public enum ZMTPError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The first octets are not a ZMTP 3.x signature (23/ZMTP "Version Negotiation").
    case badSignature
    /// The peer speaks a ZMTP major version older than 3, which this library does not implement.
    case unsupportedVersion(major: UInt8)
    /// The peer's security mechanism differs from ours (23/ZMTP: the 20-octet fields must match exactly).
    case mechanismMismatch(ours: String, theirs: String)
    /// One of the reserved flag bits 3–7 is set.
    case reservedFlags(UInt8)
    /// A LONG size with the most significant bit set (sizes must be below 2^63).
    case frameSizeOverflow
    /// An incoming message is larger than the configured maximum message size.
    case messageTooLarge(size: UInt64, limit: Int)
    /// An incoming message has more frames than the maximum message size allows (1 per 32 octets, at least 1024).
    case tooManyFrames(limit: Int)
    /// A command frame that does not follow its grammar.
    case malformedCommand(String)
    /// A command that is not allowed at this point: out of order in the handshake, or a frame
    /// other than a CURVE MESSAGE after it.
    case unexpectedCommand(String)
    /// A data frame arrived before the handshake completed.
    case messageBeforeHandshake
    /// The peer's Socket-Type property is missing, unknown, or not a legal partner of ours.
    case incompatibleSocketType(ours: String, theirs: String)
    /// The peer sent an ERROR command.
    case peerError(reason: String)
    /// Nothing arrived from the peer within the heartbeat timeout or the TTL it announced.
    case heartbeatTimeout
    /// The handshake did not complete within the handshake interval.
    case handshakeTimeout
    /// The peer refused our credentials: its ERROR carried this 27/ZAP status code (300, 400, 500).
    case authenticationFailed(status: String)
    /// We refused the peer's credentials: the authenticator answered this status code.
    case authenticationRefused(status: String)
    /// A server mechanism needs an authenticator and none is installed (PLAIN refuses everyone then, as libzmq does).
    case noAuthenticator(mechanism: String)
    /// A CURVE box did not open: forged, corrupted, or sealed with keys other than ours (a
    /// client configured with the wrong server key sees this on WELCOME).
    case boxDidNotOpen(String)
    /// A CURVE nonce did not strictly increase: a replayed or reordered message.
    case nonceNotIncreasing(received: UInt64, last: UInt64)
    /// CURVE was configured but this build has no CURVE (the package's CURVE trait is off).
    case curveNotBuilt
    /// An authentication reply arrived when the mechanism was not waiting for one (a shell bug).
    case unexpectedAuthentication
    /// The buffer of a frame being received was lent to the network to read into, and the read
    /// went elsewhere: the frame's octets so far are gone (a shell bug).
    case lentFrameLost

    /// Whether the peer turned us away on purpose, so retrying at once would be refused again.
    public var isRefusal: Bool {
        switch self {
        case .authenticationFailed, .peerError, .mechanismMismatch, .incompatibleSocketType: return true
        default: return false
        }
    }

    /// The reason to send in an ERROR command before closing, where the protocol asks for one.
    /// 27/ZAP: a 300 (temporary failure) closes without ERROR; 400 and 500 send the code.
    public var farewellReason: String? {
        switch self {
        case .incompatibleSocketType: return "Invalid socket type"
        case .mechanismMismatch: return "Security mechanism mismatch"
        case .authenticationRefused(let status): return status.hasPrefix("3") ? nil : status
        default: return nil
        }
    }

    public var description: String {
        switch self {
        case .badSignature: return "not a ZMTP 3.x peer: bad greeting signature"
        case .unsupportedVersion(let major): return "unsupported ZMTP version \(major).x (3.x required)"
        case .mechanismMismatch(let ours, let theirs):
            return "security mechanism mismatch: we use \(ours), peer uses \(theirs)"
        case .reservedFlags(let flags): return "frame flags 0x\(String(flags, radix: 16)) set reserved bits"
        case .frameSizeOverflow: return "frame size of 2^63 octets or more"
        case .messageTooLarge(let size, let limit):
            return "message of at least \(size) octets exceeds the maximum message size of \(limit)"
        case .tooManyFrames(let limit): return "message of more than \(limit) frames exceeds the maximum message size"
        case .malformedCommand(let what): return "malformed command: \(what)"
        case .unexpectedCommand(let name): return "unexpected command \(name)"
        case .messageBeforeHandshake: return "message frame received before the handshake completed"
        case .incompatibleSocketType(let ours, let theirs):
            return "socket type \(theirs) cannot talk to \(ours)"
        case .peerError(let reason): return "peer sent ERROR: \(reason)"
        case .heartbeatTimeout: return "heartbeat timeout: the peer went silent"
        case .handshakeTimeout: return "handshake timeout"
        case .authenticationFailed(let status): return "authentication failed: the peer refused our credentials (status \(status))"
        case .authenticationRefused(let status): return "authentication refused: the authenticator answered \(status)"
        case .noAuthenticator(let mechanism): return "\(mechanism) server refused the client: no authenticator is installed"
        case .boxDidNotOpen(let command): return "cryptographic error: the \(command) box did not open (wrong key, or tampered with)"
        case .nonceNotIncreasing(let received, let last): return "CURVE nonce \(received) does not follow \(last): replayed or reordered"
        case .curveNotBuilt: return CurveAvailability.missingMessage
        case .unexpectedAuthentication: return "an authentication reply when none was asked for"
        case .lentFrameLost: return "a read went past the buffer of the frame being received: its octets so far were lost"
        }
    }
}
