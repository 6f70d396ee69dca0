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
