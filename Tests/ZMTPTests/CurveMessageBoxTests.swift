import Testing
@testable import ZMTP

/// A MESSAGE's box is put together from libsodium's parts with its first step done once per
/// connection (`Sodium.sealMessage`, `Sodium.openMessage`). It must be octet for octet what
/// libsodium's own `crypto_box_easy_afternm` makes, open only what that makes, and refuse any
/// box with a changed octet.
@Suite("CURVE message boxes against libsodium's")
struct CurveMessageBoxTests {
    #if CURVE
    /// Every length a box's first stream block covers and the lengths around each later block,
    /// then frames of the sizes sockets send.
    static let lengths = Array(0...200) + [255, 256, 257, 1023, 1024, 1025, 4096, 65535, 65536, 65537]

    /// A shared key, a 16-octet nonce prefix and an 8-octet counter, all random.
    struct Keys {
        var shared = Sodium.randomBytes(Sodium.keyBytes)
        var prefix = Sodium.randomBytes(16)
        var counter = Sodium.randomBytes(8)
        var messageKey: [UInt8] { Sodium.messageKey(sharedKey: shared, noncePrefix: prefix) }
    }

    static func libsodiumBox(_ message: [UInt8], _ keys: Keys) -> [UInt8] {
        var box = [UInt8](repeating: 0, count: message.count + Sodium.macBytes)
        let nonce = keys.prefix + keys.counter
        message.withUnsafeBytes { message in
            box.withUnsafeMutableBytes { box in
                Sodium.seal(box.baseAddress!, message.baseAddress ?? UnsafeRawPointer(box.baseAddress!), count: message.count, nonce: nonce, key: keys.shared)
            }
        }
        return box
    }

    static func sealed(_ message: [UInt8], _ keys: Keys) -> [UInt8] {
        var box = [UInt8](repeating: 0, count: message.count + Sodium.macBytes)
        let key = keys.messageKey
        message.withUnsafeBytes { message in
            box.withUnsafeMutableBytes { box in
                Sodium.sealMessage(box.baseAddress!, message.baseAddress ?? UnsafeRawPointer(box.baseAddress!), count: message.count,
                                   counter: keys.counter, key: key)
            }
        }
        return box
    }

    /// The message, or nil when the box does not open; then nothing may have been written.
    static func opened(_ box: [UInt8], _ keys: Keys, sourceLocation: SourceLocation = #_sourceLocation) -> [UInt8]? {
        let untouched = [UInt8](repeating: 0xA5, count: max(box.count - Sodium.macBytes, 1))
        var message = untouched
        let key = keys.messageKey
        let ok = box.withUnsafeBytes { box in
            message.withUnsafeMutableBytes { message in
                Sodium.openMessage(message.baseAddress!, box.baseAddress!, count: box.count, counter: keys.counter, key: key)
            }
        }
        if !ok { #expect(message == untouched, "a refused box wrote plaintext", sourceLocation: sourceLocation) }
        return ok ? Array(message.prefix(box.count - Sodium.macBytes)) : nil
    }

    @Test("sealing makes libsodium's box at every length, and opening it gives the message back")
    func sameAsLibsodium() {
        for length in Self.lengths {
            let keys = Keys()
            let message = Sodium.randomBytes(length)
            let box = Self.libsodiumBox(message, keys)
            #expect(Self.sealed(message, keys) == box, "length \(length)")
            #expect(Self.opened(box, keys) == message, "length \(length)")
        }
    }

    @Test("sealing in place, the ciphertext over the message, makes the same box")
    func sealedInPlace() {
        for length in Self.lengths {
            let keys = Keys()
            let message = Sodium.randomBytes(length)
            // MAC first, then the message where its ciphertext goes: as a MESSAGE frame is laid out.
            var frame = [UInt8](repeating: 0, count: Sodium.macBytes) + message
            let key = keys.messageKey
            frame.withUnsafeMutableBytes { frame in
                Sodium.sealMessage(frame.baseAddress!, frame.baseAddress! + Sodium.macBytes, count: length, counter: keys.counter, key: key)
            }
            #expect(frame == Self.libsodiumBox(message, keys), "length \(length)")
        }
    }

    @Test("a box with any octet changed, or under another counter or key, does not open and writes nothing")
    func tamperedBoxesDoNotOpen() {
        for length in [0, 1, 31, 32, 33, 65, 200] {
            let keys = Keys()
            let box = Self.libsodiumBox(Sodium.randomBytes(length), keys)
            for index in box.indices {
                var changed = box
                changed[index] ^= 0x01
                #expect(Self.opened(changed, keys) == nil, "length \(length), octet \(index)")
            }
            var otherCounter = keys.counter
            otherCounter[7] ^= 0x80
            let moved = Keys(shared: keys.shared, prefix: keys.prefix, counter: otherCounter)
            #expect(Self.opened(box, moved) == nil)
            let otherPrefix = Keys(shared: keys.shared, prefix: Sodium.randomBytes(16), counter: keys.counter)
            #expect(Self.opened(box, otherPrefix) == nil)
        }
        // Too short to hold a MAC.
        #expect(Self.opened([UInt8](repeating: 0, count: Sodium.macBytes - 1), Keys()) == nil)
    }
    #endif
}
