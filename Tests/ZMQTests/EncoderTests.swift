import NIOCore
import Testing
@testable import ZMQ
import ZMQTestSupport

@Suite("Batch encoding", .timeLimit(.minutes(1)))
struct EncoderTests {
    @Test("the engine's raw-pointer batch encoder writes exactly what FrameEncoder writes")
    func batchMatchesReferenceEncoder() {
        let sizes = [0, 1, 31, 32, 33, 255, 256, 4000]
        var batch = MessageQueue()
        for size in sizes {
            batch.append(Message(Frame([UInt8](repeating: UInt8(size % 251), count: size))))
        }
        batch.append(Message(sizes.map { Frame([UInt8](repeating: 7, count: $0)) }))
        batch.append(["", "", "end"])

        var expected = ByteBuffer()
        var total = 0
        for message in batch {
            FrameEncoder.encode(message, into: &expected)
            for frame in message { total += FrameEncoder.headerSize(for: frame.count) + frame.count }
        }
        #expect(batch.reduce(0) { $0 + $1.wireLayout.size } == total)
        #expect(batch.map(\.wireLayout.largestFrame).max() == 4000)
        var encoded = ByteBuffer()
        ZMTPEngine.encode(&batch, into: &encoded, allocator: ByteBufferAllocator()) { _, _ in
            Issue.record("no frame here is large enough to be written on its own")
        }
        #expect(batch.isEmpty)
        #expect(encoded == expected)
        #expect(encoded.readableBytes == total)
    }

    @Test("runs of small one-frame messages, written in place, mix with tagged, multipart and larger ones in any order, and the octets are FrameEncoder's")
    func smallMessagesInPlace() {
        let metadata = MessageMetadata(peerAddress: "127.0.0.1", userID: nil, peerProperties: Metadata())
        var generator = SystemRandomNumberGenerator()
        for round in 0..<200 {
            var batch = MessageQueue()
            for index in 0..<Int.random(in: 0..<300, using: &generator) {
                let size = [0, 1, 5, 32, 33, 100].randomElement(using: &generator)!
                var message = Message(Frame([UInt8](repeating: UInt8(truncatingIfNeeded: index), count: size)))
                switch Int.random(in: 0..<10, using: &generator) {
                case 0: message.metadata = metadata
                case 1: message = Message([Frame("\(index)"), Frame([UInt8](repeating: 3, count: size))])
                case 2: message = Message(Frame(permanent: [UInt8](repeating: 4, count: size + 40)))
                default: break
                }
                batch.append(message)
            }
            var expected = ByteBuffer()
            for message in batch { FrameEncoder.encode(message, into: &expected) }
            // A small buffer at first, so that runs stop for room as well.
            var encoded = ByteBufferAllocator().buffer(capacity: round % 2 == 0 ? 64 : 4096)
            ZMTPEngine.encode(&batch, into: &encoded, allocator: ByteBufferAllocator()) { _, _ in
                Issue.record("no frame here is large enough to be written on its own")
            }
            #expect(batch.isEmpty)
            #expect(encoded == expected, "round \(round)")
        }
    }

    @Test("frames of 16 KiB or more are handed over whole, after the octets before them")
    func largeFramesAreNotCopied() {
        let large = Frame([UInt8](repeating: 9, count: ZMTPEngine.zeroCopyThreshold))
        let permanent = Frame(permanent: [UInt8](repeating: 8, count: ZMTPEngine.zeroCopyThreshold + 1))
        var batch: MessageQueue = [["small"], Message(large), ["head", large, "tail"], ["after", permanent]]
        var expected = ByteBuffer()
        for message in batch { FrameEncoder.encode(message, into: &expected) }

        var written = ByteBuffer()
        var handedOver = 0
        var last = ByteBuffer()
        ZMTPEngine.encode(&batch, into: &last, allocator: ByteBufferAllocator()) { octets, frame in
            var octets = octets
            written.writeBuffer(&octets)
            written.writeImmutableBuffer(frame.buffer)
            handedOver += 1
        }
        written.writeImmutableBuffer(last)
        #expect(handedOver == 3)
        #expect(written == expected)
    }
}
