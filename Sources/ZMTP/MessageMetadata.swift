/// What a received message carries about its connection: the properties libzmq's `zmq_msg_gets`
/// reads. One object per connection, made when its handshake completes and shared by all its
/// messages, so tagging a message costs one reference.
public final class MessageMetadata: Sendable, CustomStringConvertible {
    /// The peer's IP address, without the port ("Peer-Address"); nil over ipc and inproc.
    public let peerAddress: String?
    /// The user id the authenticator gave the peer ("User-Id"); nil when none was given.
    public let userID: String?
    /// The properties the authenticator attached to the connection (its ZAP reply's metadata).
    public let authenticatorProperties: Metadata
    /// The peer's own handshake properties: Socket-Type, Identity, and any others it sent.
    public let peerProperties: Metadata

    public init(peerAddress: String?, userID: String?, authenticatorProperties: Metadata = Metadata(), peerProperties: Metadata) {
        self.peerAddress = peerAddress
        self.userID = userID.flatMap { $0.isEmpty ? nil : $0 }
        self.authenticatorProperties = authenticatorProperties
        self.peerProperties = peerProperties
    }

    /// A property by name, ignoring case (23/ZMTP property names are case-insensitive), as
    /// `zmq_msg_gets` finds it: "Peer-Address" and "User-Id" first, then the authenticator's
    /// properties, then the peer's. "Routing-Id" is another name for "Identity".
    public subscript(name: String) -> String? {
        switch name.lowercased() {
        case "peer-address": return peerAddress
        case "user-id": return userID
        case "routing-id": return self["Identity"]
        default:
            let value = authenticatorProperties[name] ?? peerProperties[name]
            return value.map { String(decoding: $0, as: UTF8.self) }
        }
    }

    /// The socket type the peer announced.
    public var socketType: String? { self["Socket-Type"] }

    public var description: String {
        var parts: [String] = []
        if let peerAddress { parts.append("Peer-Address: \(peerAddress)") }
        if let userID { parts.append("User-Id: \(userID)") }
        for (name, value) in authenticatorProperties.properties + peerProperties.properties {
            parts.append("\(name): \(String(decoding: value, as: UTF8.self))")
        }
        return "MessageMetadata(" + parts.joined(separator: ", ") + ")"
    }
}
