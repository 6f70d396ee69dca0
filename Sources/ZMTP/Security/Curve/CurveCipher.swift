#if CURVE
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import DequeModule
import NIOCore

/// CurveZMQ traffic after the handshake (26/CURVEZMQ MESSAGE, as libzmq encodes it): every frame
/// travels as its own ZMTP data frame, flags 0, whose body is "\x07MESSAGE", an 8-octet nonce
/// and a box of one flags octet (0x01 MORE, 0x02 COMMAND) followed by the frame. Nonces carry on
/// from the handshake and must strictly increase.
/// Holds key material or a password, so it shows nothing of itself when printed or dumped.
struct CurveCipher: Sendable, CustomReflectable {
    var customMirror: Mirror { Mirror(self, children: [:]) }

    static let messageName: [UInt8] = [7] + Array("MESSAGE".utf8)
    /// The name as the 8 octets load from memory, to compare each MESSAGE's with in one step.
    static let messageNameWord = messageName.withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) }
    /// Name, nonce, MAC and flags: what a MESSAGE adds to the frame it carries.
    static let overhead = 8 + 8 + Sodium.macBytes + 1

    /// Nonces are 24 octets: a 16-octet prefix naming the sender, then the 8-octet counter that
    /// each MESSAGE also carries. The prefix is the same for every MESSAGE one way, so each
    /// direction keeps the Salsa20 key it makes with the connection's key (`Sodium.messageKey`).
    private let sendKey: [UInt8]
    private let receiveKey: [UInt8]
    private var nextNonce: UInt64
    private var lastReceived: UInt64

    /// `nextNonce` is the sender's next short nonce; `lastReceived` the peer's last handshake nonce.
    init(key: [UInt8], isServer: Bool, nextNonce: UInt64, lastReceived: UInt64) {
        let client = Array("CurveZMQMESSAGEC".utf8), server = Array("CurveZMQMESSAGES".utf8)
        self.sendKey = Sodium.messageKey(sharedKey: key, noncePrefix: isServer ? server : client)
        self.receiveKey = Sodium.messageKey(sharedKey: key, noncePrefix: isServer ? client : server)
        self.nextNonce = nextNonce
        self.lastReceived = lastReceived
    }

    /// The octets one MESSAGE carrying `count` octets of frame takes on the wire, header included.
    static func sealedSize(frame count: Int) -> Int {
        let body = 16 + Sodium.macBytes + 1 + count
        return FrameEncoder.headerSize(for: body) + body
    }

    /// Appends one whole MESSAGE frame carrying `payload` with inner `flags`, sealed in place in
    /// `buffer`: no allocation beyond the buffer's own growth.
    mutating func seal(flags: UInt8, payload: UnsafeRawBufferPointer, into buffer: inout ByteBuffer) {
        withSendState { state in
            buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: Self.sealedSize(frame: payload.count)) { target in
                state.seal(flags: flags, payload: payload, at: target.baseAddress!)
            }
        }
    }

    /// Appends every frame of `messages` as a MESSAGE. The whole batch is one capacity check and
    /// one write into `buffer`, with the nonce kept on the stack: per frame, only the box itself.
    mutating func seal(_ messages: some Sequence<Message>, into buffer: inout ByteBuffer) {
        var total = 0
        for message in messages {
            for frame in message { total += Self.sealedSize(frame: frame.count) }
        }
        withSendState { state in
            buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: total) { target in
                var written = 0
                for message in messages {
                    let last = message.count - 1
                    for index in 0...last {
                        message[index].withUnsafeBytes { payload in
                            written += state.seal(flags: index < last ? 0x01 : 0x00, payload: payload, at: target.baseAddress! + written)
                        }
                    }
                }
                return written
            }
        }
    }

    /// What sealing needs, as raw memory for the duration of `body`: the key, and the counter,
    /// written back afterwards.
    private mutating func withSendState(_ body: (inout SendState) -> Void) {
        nextNonce = sendKey.withUnsafeBufferPointer { key in
            var state = SendState(key: key.baseAddress!, counter: nextNonce)
            body(&state)
            return state.counter
        }
    }

    private struct SendState {
        let key: UnsafePointer<UInt8>
        var counter: UInt64

        /// Writes one MESSAGE frame at `target` (which has `sealedSize` octets): the ZMTP header,
        /// the name, the short nonce and the box, sealed over the plaintext laid out in place.
        /// Returns the octets written.
        mutating func seal(flags: UInt8, payload: UnsafeRawBufferPointer, at target: UnsafeMutableRawPointer) -> Int {
            let body = 16 + Sodium.macBytes + 1 + payload.count
            var at = target
            if body <= 255 {
                at.storeBytes(of: 0, as: UInt8.self)
                at.storeBytes(of: UInt8(body), toByteOffset: 1, as: UInt8.self)
                at += 2
            } else {
                at.storeBytes(of: FrameFlags.long.rawValue, as: UInt8.self)
                at.storeBytes(of: UInt64(body).bigEndian, toByteOffset: 1, as: UInt64.self)
                at += 9
            }
            CurveCipher.messageName.withUnsafeBytes { at.copyMemory(from: $0.baseAddress!, byteCount: 8) }
            // The short nonce as it goes on the wire is the nonce's last 8 octets.
            at.storeBytes(of: counter.bigEndian, toByteOffset: 8, as: UInt64.self)
            counter &+= 1
            let plain = at + 16 + Sodium.macBytes
            plain.storeBytes(of: flags, as: UInt8.self)
            if payload.count > 0 { (plain + 1).copyMemory(from: payload.baseAddress!, byteCount: payload.count) }
            Sodium.sealMessage(at + 16, plain, count: 1 + payload.count, counter: at + 8, key: key)
            return body + (at - target)
        }
    }

    mutating func seal(_ frame: Frame, more: Bool, into buffer: inout ByteBuffer) {
        frame.withUnsafeBytes { seal(flags: more ? 0x01 : 0x00, payload: $0, into: &buffer) }
    }

    /// A command (PING, PONG, SUBSCRIBE …) inside a box, with the COMMAND flag.
    mutating func seal(_ command: Command, into buffer: inout ByteBuffer) {
        var encoded = command.encoded
        let headerLength = (encoded.getInteger(at: 0, as: UInt8.self)! & FrameFlags.long.rawValue) != 0 ? 9 : 2
        encoded.moveReaderIndex(forwardBy: headerLength)
        encoded.withUnsafeReadableBytes { seal(flags: 0x02, payload: $0, into: &buffer) }
    }

    /// Opens one MESSAGE: its inner flags and the frame it carries.
    mutating func open(_ body: ByteBuffer) throws(ZMTPError) -> (flags: UInt8, frame: Frame) {
        var opened = Deque<(flags: UInt8, frame: Frame)>()
        if let failure = open([body], into: &opened) { throw failure }
        return opened[0]
    }

    /// Opens the MESSAGEs of one read in order, appending each one's inner flags and frame to
    /// `opened`. Frames that fit inline are opened on the stack; the larger ones share one buffer
    /// allocated for the whole batch, so the steady path allocates once per read, not per message.
    /// Returns the error of the first MESSAGE that does not open, after keeping those before it.
    mutating func open(_ bodies: [ByteBuffer], into opened: inout Deque<(flags: UInt8, frame: Frame)>) -> ZMTPError? {
        let shared = bodies.reduce(0) { total, body in
            let length = Self.plainLength(body)
            return length - 1 > Frame.inlineCapacity ? total + length : total
        }
        var batch = ByteBufferAllocator().buffer(capacity: shared)
        // Where each large frame's plaintext starts in `batch`; sliced once every box is open, as
        // writing after slicing would copy the buffer.
        var large: [(index: Int, start: Int, length: Int)] = []
        let failure = receiveKey.withUnsafeBufferPointer { key -> ZMTPError? in
            for index in bodies.indices {
                if let failure = openOne(bodies[index], key: key.baseAddress!, batch: &batch, large: &large, into: &opened) {
                    return failure
                }
            }
            return nil
        }
        for (index, start, length) in large {
            opened[index] = (batch.getInteger(at: start)!, Frame(buffer: batch.getSlice(at: start + 1, length: length - 1)!))
        }
        return failure
    }

    /// Opens one MESSAGE, borrowed from the batch: no reference count is touched for it.
    @inline(__always)
    private mutating func openOne(_ body: borrowing ByteBuffer, key: UnsafePointer<UInt8>,
                                  batch: inout ByteBuffer, large: inout [(index: Int, start: Int, length: Int)],
                                  into opened: inout Deque<(flags: UInt8, frame: Frame)>) -> ZMTPError? {
        // The name and the short nonce, in one look.
        let (named, wireNonce) = body.withUnsafeReadableBytes { bytes -> (Bool, UInt64) in
            guard bytes.count >= 16 else { return (bytes.count >= 8 && memcmp(bytes.baseAddress!, Self.messageName, 8) == 0, 0) }
            return (bytes.loadUnaligned(as: UInt64.self) == Self.messageNameWord, bytes.loadUnaligned(fromByteOffset: 8, as: UInt64.self))
        }
        guard named else { return .unexpectedCommand("after the handshake: not a CURVE MESSAGE") }
        let count = body.readableBytes
        guard count >= Self.overhead else { return .malformedCommand("MESSAGE of \(count) octets (at least \(Self.overhead))") }
        let nonce = UInt64(bigEndian: wireNonce)
        guard nonce > lastReceived else { return .nonceNotIncreasing(received: nonce, last: lastReceived) }
        // The flags octet, then the frame: what the box holds once opened.
        let length = count - 16 - Sodium.macBytes
        if length - 1 <= Frame.inlineCapacity {
            var small: (flags: UInt8, frame: Frame)?
            body.withUnsafeReadableBytes { bytes in
                withUnsafeTemporaryAllocation(byteCount: Frame.inlineCapacity + 1, alignment: 1) { target in
                    guard Sodium.openMessage(target.baseAddress!, bytes.baseAddress! + 16, count: count - 16, counter: bytes.baseAddress! + 8, key: key) else { return }
                    small = (target[0], Frame(storage: .inline(InlineBytes(UnsafeRawBufferPointer(rebasing: target[1..<length])))))
                }
            }
            guard let small else { return .boxDidNotOpen("MESSAGE") }
            opened.append(small)
        } else {
            let start = batch.writerIndex
            var written = false
            _ = body.withUnsafeReadableBytes { bytes in
                batch.writeWithUnsafeMutableBytes(minimumWritableBytes: length) { target in
                    written = Sodium.openMessage(target.baseAddress!, bytes.baseAddress! + 16, count: count - 16, counter: bytes.baseAddress! + 8, key: key)
                    return written ? length : 0
                }
            }
            guard written else { return .boxDidNotOpen("MESSAGE") }
            large.append((opened.count, start, length))
            opened.append((0, Frame()))
        }
        lastReceived = nonce
        return nil
    }

    /// The flags octet, then the frame: what a box holds once opened.
    private static func plainLength(_ body: ByteBuffer) -> Int { body.readableBytes - 16 - Sodium.macBytes }
}
#endif
