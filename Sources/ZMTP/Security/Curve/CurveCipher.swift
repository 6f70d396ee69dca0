#if CURVE
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import NIOCore

/// CurveZMQ traffic after the handshake (26/CURVEZMQ MESSAGE, as libzmq encodes it): every frame
/// travels as its own ZMTP data frame, flags 0, whose body is "\x07MESSAGE", an 8-octet nonce
/// and a box of one flags octet (0x01 MORE, 0x02 COMMAND) followed by the frame. Nonces carry on
/// from the handshake and must strictly increase.
/// Holds key material or a password, so it shows nothing of itself when printed or dumped.
struct CurveCipher: Sendable, CustomReflectable {
    var customMirror: Mirror { Mirror(self, children: [:]) }

    static let messageName: [UInt8] = [7] + Array("MESSAGE".utf8)
    /// Name, nonce, MAC and flags: what a MESSAGE adds to the frame it carries.
    static let overhead = 8 + 8 + Sodium.macBytes + 1

    private let key: [UInt8]
    /// 24-octet nonces: a 16-octet prefix naming the sender, then the counter.
    private var sendNonce: [UInt8]
    private var receiveNonce: [UInt8]
    private var nextNonce: UInt64
    private var lastReceived: UInt64

    /// `nextNonce` is the sender's next short nonce; `lastReceived` the peer's last handshake nonce.
    init(key: [UInt8], isServer: Bool, nextNonce: UInt64, lastReceived: UInt64) {
        self.key = key
        let client = Array("CurveZMQMESSAGEC".utf8), server = Array("CurveZMQMESSAGES".utf8)
        self.sendNonce = (isServer ? server : client) + [UInt8](repeating: 0, count: 8)
        self.receiveNonce = (isServer ? client : server) + [UInt8](repeating: 0, count: 8)
        self.nextNonce = nextNonce
        self.lastReceived = lastReceived
    }

    /// Appends one whole MESSAGE frame carrying `payload` with inner `flags`. The box is sealed
    /// in place in `buffer`: no allocation beyond the buffer's own growth.
    mutating func seal(flags: UInt8, payload: UnsafeRawBufferPointer, into buffer: inout ByteBuffer) {
        let boxed = Sodium.macBytes + 1 + payload.count
        let size = 16 + boxed
        FrameEncoder.writeHeader(more: false, size: size, into: &buffer)
        buffer.writeBytes(Self.messageName)
        buffer.writeInteger(nextNonce)
        Self.store(nextNonce, in: &sendNonce)
        nextNonce &+= 1
        buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: boxed) { target in
            let plain = target.baseAddress! + Sodium.macBytes
            plain.storeBytes(of: flags, as: UInt8.self)
            if payload.count > 0 { (plain + 1).copyMemory(from: payload.baseAddress!, byteCount: payload.count) }
            sendNonce.withUnsafeBufferPointer { nonce in
                key.withUnsafeBufferPointer { key in
                    Sodium.seal(target.baseAddress!, plain, count: 1 + payload.count, nonce: nonce.baseAddress!, key: key.baseAddress!)
                }
            }
            return boxed
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
        var opened: [(flags: UInt8, frame: Frame)] = []
        if let failure = open([body], into: &opened) { throw failure }
        return opened[0]
    }

    /// Opens the MESSAGEs of one read in order, appending each one's inner flags and frame to
    /// `opened`. Frames that fit inline are opened on the stack; the larger ones share one buffer
    /// allocated for the whole batch, so the steady path allocates once per read, not per message.
    /// Returns the error of the first MESSAGE that does not open, after keeping those before it.
    mutating func open(_ bodies: [ByteBuffer], into opened: inout [(flags: UInt8, frame: Frame)]) -> ZMTPError? {
        // The flags octet, then the frame: what a box holds once opened.
        func plainLength(_ body: ByteBuffer) -> Int { body.readableBytes - 16 - Sodium.macBytes }
        let shared = bodies.reduce(0) { total, body in
            let length = plainLength(body)
            return length - 1 > Frame.inlineCapacity ? total + length : total
        }
        var batch = ByteBufferAllocator().buffer(capacity: shared)
        // Where each large frame's plaintext starts in `batch`; sliced once every box is open, as
        // writing after slicing would copy the buffer.
        var large: [(index: Int, start: Int, length: Int)] = []
        var failure: ZMTPError?
        for body in bodies {
            let named = body.readableBytes >= 8 && body.withUnsafeReadableBytes { bytes in
                Self.messageName.withUnsafeBytes { name in memcmp(bytes.baseAddress!, name.baseAddress!, 8) == 0 }
            }
            guard named else {
                failure = .unexpectedCommand("a frame that is not a CURVE MESSAGE")
                break
            }
            guard body.readableBytes >= Self.overhead else {
                failure = .malformedCommand("MESSAGE of \(body.readableBytes) octets (at least \(Self.overhead))")
                break
            }
            let nonce = body.getInteger(at: body.readerIndex + 8, as: UInt64.self)!
            guard nonce > lastReceived else {
                failure = .nonceNotIncreasing(received: nonce, last: lastReceived)
                break
            }
            Self.store(nonce, in: &receiveNonce)
            let length = plainLength(body)
            let ok: Bool
            if length - 1 <= Frame.inlineCapacity {
                var small = (flags: UInt8(0), frame: Frame())
                ok = withUnsafeTemporaryAllocation(byteCount: Frame.inlineCapacity + 1, alignment: 1) { target in
                    guard openBox(body, into: target.baseAddress!) else { return false }
                    small = (target[0], Frame(storage: .inline(InlineBytes(UnsafeRawBufferPointer(rebasing: target[1..<length])))))
                    return true
                }
                if ok { opened.append(small) }
            } else {
                let start = batch.writerIndex
                var written = false
                batch.writeWithUnsafeMutableBytes(minimumWritableBytes: length) { target in
                    written = openBox(body, into: target.baseAddress!)
                    return written ? length : 0
                }
                ok = written
                if ok {
                    large.append((opened.count, start, length))
                    opened.append((0, Frame()))
                }
            }
            guard ok else {
                failure = .boxDidNotOpen("MESSAGE")
                break
            }
            lastReceived = nonce
        }
        for (index, start, length) in large {
            opened[index] = (batch.getInteger(at: start)!, Frame(buffer: batch.getSlice(at: start + 1, length: length - 1)!))
        }
        return failure
    }

    /// Opens the box of one MESSAGE body, with the receive nonce already set, into `target`.
    private func openBox(_ body: ByteBuffer, into target: UnsafeMutableRawPointer) -> Bool {
        let boxLength = body.readableBytes - 16
        return body.withUnsafeReadableBytes { bytes in
            receiveNonce.withUnsafeBufferPointer { nonce in
                key.withUnsafeBufferPointer { key in
                    Sodium.open(target, bytes.baseAddress! + 16, count: boxLength, nonce: nonce.baseAddress!, key: key.baseAddress!)
                }
            }
        }
    }

    private static func store(_ counter: UInt64, in nonce: inout [UInt8]) {
        for index in 0..<8 { nonce[16 + index] = UInt8(truncatingIfNeeded: counter >> (56 - 8 * UInt64(index))) }
    }
}
#endif
