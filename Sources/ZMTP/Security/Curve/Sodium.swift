#if CURVE
import CSodium

/// The NaCl primitives CurveZMQ is built from, as libsodium provides them. Nothing here is
/// hand-written cryptography: every function is one libsodium call.
enum Sodium {
    static let keyBytes = 32
    static let nonceBytes = 24
    /// The authenticator every box carries in front of its ciphertext.
    static let macBytes = 16

    /// libsodium must be initialised once before use (it picks implementations, seeds its RNG).
    private static let initialised: Bool = sodium_init() >= 0

    static func ensureInitialised() {
        precondition(initialised, "libsodium failed to initialise")
    }

    /// Octets from the system's secure random source.
    static func randomBytes(_ count: Int) -> [UInt8] {
        ensureInitialised()
        var bytes = [UInt8](repeating: 0, count: count)
        if count > 0 { bytes.withUnsafeMutableBytes { randombytes_buf($0.baseAddress!, count) } }
        return bytes
    }

    /// A new X25519 key pair (crypto_box_keypair).
    static func keyPair() -> (publicKey: [UInt8], secretKey: [UInt8]) {
        ensureInitialised()
        var publicKey = [UInt8](repeating: 0, count: keyBytes)
        var secretKey = [UInt8](repeating: 0, count: keyBytes)
        _ = crypto_box_keypair(&publicKey, &secretKey)
        return (publicKey, secretKey)
    }

    /// The public key that belongs to `secretKey` (crypto_scalarmult_base).
    static func publicKey(forSecretKey secretKey: [UInt8]) -> [UInt8] {
        ensureInitialised()
        var publicKey = [UInt8](repeating: 0, count: keyBytes)
        _ = crypto_scalarmult_base(&publicKey, secretKey)
        return publicKey
    }

    /// crypto_box_easy: MAC and ciphertext of `message` from `secretKey`'s owner to `publicKey`'s.
    static func box(_ message: [UInt8], nonce: [UInt8], to publicKey: [UInt8], from secretKey: [UInt8]) -> [UInt8]? {
        var box = [UInt8](repeating: 0, count: message.count + macBytes)
        let result = crypto_box_easy(&box, message, UInt64(message.count), nonce, publicKey, secretKey)
        return result == 0 ? box : nil
    }

    /// crypto_box_open_easy: the message, or nil when the box does not open (forged, corrupted,
    /// or sealed with other keys).
    static func openBox(_ box: some Collection<UInt8>, nonce: [UInt8], from publicKey: [UInt8], to secretKey: [UInt8]) -> [UInt8]? {
        let box = Array(box)
        guard box.count >= macBytes else { return nil }
        var message = [UInt8](repeating: 0, count: box.count - macBytes)
        let result = crypto_box_open_easy(&message, box, UInt64(box.count), nonce, publicKey, secretKey)
        return result == 0 ? message : nil
    }

    /// crypto_box_beforenm: the key shared by the two parties, computed once per connection;
    /// nil for a degenerate public key (all-zero shared point).
    static func sharedKey(publicKey: [UInt8], secretKey: [UInt8]) -> [UInt8]? {
        var key = [UInt8](repeating: 0, count: keyBytes)
        return crypto_box_beforenm(&key, publicKey, secretKey) == 0 ? key : nil
    }

    /// crypto_box_easy_afternm on raw memory: writes MAC + ciphertext of the `count` octets at
    /// `message` to `box` (which may overlap the message, as libsodium allows).
    static func seal(_ box: UnsafeMutableRawPointer, _ message: UnsafeRawPointer, count: Int, nonce: UnsafePointer<UInt8>, key: UnsafePointer<UInt8>) {
        _ = crypto_box_easy_afternm(box.assumingMemoryBound(to: UInt8.self), message.assumingMemoryBound(to: UInt8.self), UInt64(count), nonce, key)
    }

    /// crypto_box_open_easy_afternm on raw memory; false when the box does not open.
    static func open(_ message: UnsafeMutableRawPointer, _ box: UnsafeRawPointer, count: Int, nonce: UnsafePointer<UInt8>, key: UnsafePointer<UInt8>) -> Bool {
        crypto_box_open_easy_afternm(message.assumingMemoryBound(to: UInt8.self), box.assumingMemoryBound(to: UInt8.self), UInt64(count), nonce, key) == 0
    }

    /// crypto_secretbox_easy: MAC and ciphertext under a symmetric key.
    static func secretBox(_ message: [UInt8], nonce: [UInt8], key: [UInt8]) -> [UInt8] {
        var box = [UInt8](repeating: 0, count: message.count + macBytes)
        _ = crypto_secretbox_easy(&box, message, UInt64(message.count), nonce, key)
        return box
    }

    static func openSecretBox(_ box: some Collection<UInt8>, nonce: [UInt8], key: [UInt8]) -> [UInt8]? {
        let box = Array(box)
        guard box.count >= macBytes else { return nil }
        var message = [UInt8](repeating: 0, count: box.count - macBytes)
        return crypto_secretbox_open_easy(&message, box, UInt64(box.count), nonce, key) == 0 ? message : nil
    }
}
#endif
