#if CURVE
import CSodium

/// The NaCl primitives CurveZMQ is built from, as libsodium provides them. Nothing here is
/// hand-written cryptography: every primitive (X25519, HSalsa20, Salsa20, Poly1305) is
/// libsodium's. The one composition is the box of a MESSAGE (`sealMessage`, `openMessage`), NaCl's
/// XSalsa20-Poly1305 put together from libsodium's parts so that its first step, which depends
/// only on the key and the nonce's fixed prefix, is done once per connection (`messageKey`).
/// Tests check it octet for octet against libsodium's own `crypto_box_easy_afternm`.
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
    /// `message` to `box` (which may overlap the message, as libsodium allows). The box
    /// `sealMessage` must make, octet for octet (the tests compare the two).
    static func seal(_ box: UnsafeMutableRawPointer, _ message: UnsafeRawPointer, count: Int, nonce: UnsafePointer<UInt8>, key: UnsafePointer<UInt8>) {
        _ = crypto_box_easy_afternm(box.assumingMemoryBound(to: UInt8.self), message.assumingMemoryBound(to: UInt8.self), UInt64(count), nonce, key)
    }

    /// The Salsa20 key of every box sealed with `sharedKey` under a nonce that starts with the
    /// 16 octets of `noncePrefix` (crypto_core_hsalsa20): XSalsa20's first step, which
    /// `crypto_box_easy_afternm` repeats for each box. A CurveZMQ connection's MESSAGE nonces share
    /// their prefix in each direction, so each direction needs it once.
    static func messageKey(sharedKey: [UInt8], noncePrefix: [UInt8]) -> [UInt8] {
        precondition(sharedKey.count == keyBytes && noncePrefix.count == 16)
        var key = [UInt8](repeating: 0, count: keyBytes)
        _ = crypto_core_hsalsa20(&key, noncePrefix, sharedKey, nil)
        return key
    }

    /// What `crypto_box_easy_afternm` writes for a nonce of `messageKey`'s prefix followed by the
    /// 8 octets at `counter`: MAC, then ciphertext of the `count` octets at `message`. `box + 16`
    /// is either `message` itself (sealed in place) or memory that does not overlap it.
    ///
    /// As NaCl's secretbox does: the Salsa20 stream's first 32 octets are the Poly1305 key of
    /// this box, the rest encrypts the message, and the MAC covers the ciphertext.
    static func sealMessage(_ box: UnsafeMutableRawPointer, _ message: UnsafeRawPointer, count: Int,
                            counter: UnsafeRawPointer, key: UnsafePointer<UInt8>) {
        let output = UnsafeRawPointer(box)
        assert(output + macBytes == message || output + macBytes + count <= message || message + count <= output,
               "a box may lie over its message only exactly")
        assert(counter + 8 <= output || output + macBytes + count <= counter, "the counter is read while the box is written")
        let nonce = counter.assumingMemoryBound(to: UInt8.self)
        let ciphertext = (box + macBytes).assumingMemoryBound(to: UInt8.self)
        let head = min(count, 32)
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 64) { block in
            let block = block.baseAddress!
            block.initialize(repeating: 0, count: 32)
            (block + 32).initialize(from: message.assumingMemoryBound(to: UInt8.self), count: head)
            // Stream block 0: the Poly1305 key, and the first 32 octets of ciphertext.
            _ = crypto_stream_salsa20_xor(block, block, UInt64(32 + head), nonce, key)
            ciphertext.update(from: block + 32, count: head)
            if count > head {
                _ = crypto_stream_salsa20_xor_ic(ciphertext + head, message.assumingMemoryBound(to: UInt8.self) + head,
                                                 UInt64(count - head), nonce, 1, key)
            }
            _ = crypto_onetimeauth_poly1305(box.assumingMemoryBound(to: UInt8.self), ciphertext, UInt64(count), block)
            sodium_memzero(block, 64)
        }
    }

    /// Opens what `sealMessage` (or `crypto_box_easy_afternm`) sealed: the `count` octets at
    /// `box` are MAC then ciphertext; the plaintext goes to `message`, which must not overlap
    /// the box. The MAC is checked (in constant time) before anything is decrypted; false, with
    /// nothing written, when it does not match.
    static func openMessage(_ message: UnsafeMutableRawPointer, _ box: UnsafeRawPointer, count: Int,
                            counter: UnsafeRawPointer, key: UnsafePointer<UInt8>) -> Bool {
        guard count >= macBytes else { return false }
        assert(UnsafeRawPointer(message) + (count - macBytes) <= box || box + count <= UnsafeRawPointer(message),
               "the plaintext must not overlap the box")
        let nonce = counter.assumingMemoryBound(to: UInt8.self)
        let ciphertext = (box + macBytes).assumingMemoryBound(to: UInt8.self)
        let length = count - macBytes, head = min(length, 32)
        let plain = message.assumingMemoryBound(to: UInt8.self)
        return withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 64) { block -> Bool in
            let block = block.baseAddress!
            // Stream block 0 once: the Poly1305 key, then what the first 32 octets are XORed with.
            _ = crypto_stream_salsa20(block, UInt64(32 + head), nonce, key)
            defer { sodium_memzero(block, 64) }
            guard crypto_onetimeauth_poly1305_verify(box.assumingMemoryBound(to: UInt8.self), ciphertext, UInt64(length), block) == 0 else {
                return false
            }
            for index in 0..<head { plain[index] = ciphertext[index] ^ block[32 + index] }
            if length > head {
                _ = crypto_stream_salsa20_xor_ic(plain + head, ciphertext + head, UInt64(length - head), nonce, 1, key)
            }
            return true
        }
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
