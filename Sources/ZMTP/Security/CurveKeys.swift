/// A CURVE public key (RFC 26): 32 octets that identify a peer and may be shared freely.
public struct CurvePublicKey: Sendable, Hashable, CustomStringConvertible {
    /// The key's 32 octets.
    public let bytes: [UInt8]

    /// Wraps 32 octets; any other count throws.
    public init(bytes: some Collection<UInt8>) throws(KeyError) {
        self.bytes = try curveKeyBytes(bytes, kind: .public)
    }

    /// Decodes the 40-character Z85 form that certificates and `zmq_curve_keypair` use.
    public init(z85: String) throws(KeyError) {
        self.bytes = try curveKeyBytes(z85: z85, kind: .public)
    }

    /// The 40-character Z85 form.
    public var z85: String { Z85.encode(wholeGroups: bytes) }

    /// The Z85 form, which is how ZeroMQ tools show public keys.
    public var description: String { z85 }
}

/// A CURVE secret key (RFC 26): 32 octets that must never leave their owner, so it never prints itself.
public struct CurveSecretKey: Sendable, Hashable, CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    /// The key's 32 octets.
    public let bytes: [UInt8]

    /// Wraps 32 octets; any other count throws.
    public init(bytes: some Collection<UInt8>) throws(KeyError) {
        self.bytes = try curveKeyBytes(bytes, kind: .secret)
    }

    /// Decodes the 40-character Z85 form that certificates and `zmq_curve_keypair` use.
    public init(z85: String) throws(KeyError) {
        self.bytes = try curveKeyBytes(z85: z85, kind: .secret)
    }

    /// The 40-character Z85 form, for writing a secret certificate.
    public var z85: String { Z85.encode(wholeGroups: bytes) }

    /// A placeholder, so a secret key in a log line or a failed test shows no key material.
    public var description: String { "CurveSecretKey(…)" }
    /// The same placeholder as `description`.
    public var debugDescription: String { description }
    /// No children, so `dump` and other reflection show no key material either.
    public var customMirror: Mirror { Mirror(self, children: [:]) }

    /// Compares every octet whatever the first difference, so timing says nothing about the key.
    public static func == (lhs: CurveSecretKey, rhs: CurveSecretKey) -> Bool {
        zip(lhs.bytes, rhs.bytes).reduce(UInt8(0)) { $0 | ($1.0 ^ $1.1) } == 0
    }

    /// Hashes the octets, consistently with `==`.
    public func hash(into hasher: inout Hasher) { hasher.combine(bytes) }
}

/// A matching public and secret key, as a peer needs to take part in CURVE.
public struct CurveKeyPair: Sendable, Hashable {
    /// The half to give to peers.
    public let publicKey: CurvePublicKey
    /// The half to keep; it prints as `CurveSecretKey(…)`.
    public let secretKey: CurveSecretKey

    /// Pairs two keys; nothing checks that they match, since that needs the curve arithmetic.
    public init(publicKey: CurvePublicKey, secretKey: CurveSecretKey) {
        self.publicKey = publicKey
        self.secretKey = secretKey
    }

    /// A new key pair from the system's secure random source (libsodium's crypto_box_keypair).
    /// Throws in a build without CURVE, saying what to install.
    public static func generate() throws(KeyError) -> CurveKeyPair {
        #if CURVE
        let (publicKey, secretKey) = Sodium.keyPair()
        return CurveKeyPair(publicKey: try CurvePublicKey(bytes: publicKey), secretKey: try CurveSecretKey(bytes: secretKey))
        #else
        throw KeyError(description: CurveAvailability.missingMessage)
        #endif
    }

    /// The pair that `secretKey` belongs to: its public key is computed from it.
    public init(secretKey: CurveSecretKey) throws(KeyError) {
        #if CURVE
        self.init(publicKey: try CurvePublicKey(bytes: Sodium.publicKey(forSecretKey: secretKey.bytes)), secretKey: secretKey)
        #else
        throw KeyError(description: CurveAvailability.missingMessage)
        #endif
    }
}

/// Why a CURVE key could not be made; the description says what was wrong.
public struct KeyError: Error, Equatable, Sendable, CustomStringConvertible {
    /// A sentence saying what was wrong, never containing secret key material.
    public let description: String
}

/// Which half of a key pair, for error messages.
enum CurveKeyKind: String {
    case `public`, secret
}

/// The octets of a CURVE key, after checking there are exactly 32.
private func curveKeyBytes(_ bytes: some Collection<UInt8>, kind: CurveKeyKind) throws(KeyError) -> [UInt8] {
    guard bytes.count == 32 else {
        throw KeyError(description: "a CURVE \(kind.rawValue) key is 32 octets, not \(bytes.count)")
    }
    return Array(bytes)
}

/// The octets of a CURVE key given as 40 characters of Z85.
private func curveKeyBytes(z85: String, kind: CurveKeyKind) throws(KeyError) -> [UInt8] {
    let length = z85.unicodeScalars.count
    guard length == 40 else {
        throw KeyError(description: "a Z85 CURVE \(kind.rawValue) key is 40 characters, not \(length)")
    }
    do throws(Z85Error) {
        return try Z85.decode(z85)
    } catch {
        // An overflowing group would quote five characters of what may be a secret key.
        let reason = switch error {
        case .groupOverflow(_, let offset): "the 5 characters at offset \(offset) are worth more than 2^32 - 1"
        default: error.description
        }
        throw KeyError(description: "a Z85 CURVE \(kind.rawValue) key is not valid Z85: \(reason)")
    }
}
