import NIOCore
import Testing
@testable import ZMTP

@Suite("MessageQueue")
struct MessageQueueTests {
    /// Messages of every storage: inline, compact and buffer frames, one frame and several, so that
    /// a message copied where it should have moved (or freed twice) shows in the contents.
    static func message(_ number: Int) -> Message {
        switch number % 4 {
        case 0: return Message(Frame([UInt8(truncatingIfNeeded: number)]))
        case 1: return Message(Frame([UInt8](repeating: UInt8(truncatingIfNeeded: number), count: 100)))
        case 2: return Message([Frame("n\(number)"), Frame(buffer: ByteBuffer(repeating: 7, count: 9000))])
        default: return Message([Frame("\(number)"), Frame(), Frame("tail")])
        }
    }

    static let connection = MessageMetadata(peerAddress: "192.0.2.1", userID: nil, peerProperties: Metadata())
    static let own = MessageMetadata(peerAddress: "192.0.2.2", userID: nil, peerProperties: Metadata())

    static func metadata(of messages: some Sequence<Message>) -> [ObjectIdentifier?] {
        messages.map { $0.metadata.map(ObjectIdentifier.init) }
    }

    @Test("a copy made only to unshare the storage keeps its capacity: a queue copied and written again and again does not grow")
    func unsharingKeepsCapacity() {
        var queue = MessageQueue()
        for index in 0..<10 { queue.append(Self.message(index)) }
        let start = queue.capacity
        for index in 0..<20 {
            let copy = queue
            queue.append(Self.message(index))
            _ = queue.popFirst()
            queue.reserveCapacity(queue.count + 1)
            #expect(copy.count == 10)
        }
        #expect(queue.capacity <= 2 * start, "\(start) → \(queue.capacity)")
    }

    @Test("every operation agrees with an array doing the same, through growth, wrap-around and shared copies")
    func agreesWithArray() {
        var generator = SystemRandomNumberGenerator()
        var queue = MessageQueue()
        var model: [Message] = []
        var copies: [(MessageQueue, [Message])] = []
        // A second queue that runs of messages move from (`appendMoving`), itself wrapped around.
        var source = MessageQueue()
        var sourceModel: [Message] = []
        for step in 0..<10_000 {
            // Up to a few hundred messages, so that the storage grows, wraps and shrinks again.
            switch model.count > 300 ? 40 : Int.random(in: 0..<100, using: &generator) {
            case 0..<30:
                queue.append(Self.message(step))
                model.append(Self.message(step))
            case 30..<40:
                queue.prepend(Self.message(step))
                model.insert(Self.message(step), at: 0)
            case 40..<65:
                #expect(queue.popFirst() == (model.isEmpty ? nil : model.removeFirst()))
            case 65..<75:
                #expect(queue.popLast() == model.popLast())
            case 75..<80:
                let wanted = step % 3
                queue.removeAll { $0.count == wanted + 1 }
                model.removeAll { $0.count == wanted + 1 }
            case 80..<83:
                if !model.isEmpty {
                    let index = Int.random(in: 0..<model.count, using: &generator)
                    queue[index] = Self.message(-step)
                    model[index] = Self.message(-step)
                }
            case 83..<86:
                // A copy keeps what it held while the original changes, and the other way round.
                copies.append((queue, model))
                if copies.count > 4 { copies.removeFirst() }
            case 86..<88:
                queue.prepend(contentsOf: [Self.message(step), Self.message(step + 1)])
                model.insert(contentsOf: [Self.message(step), Self.message(step + 1)], at: 0)
            case 88:
                queue.removeAll(keepingCapacity: Bool.random(using: &generator))
                model.removeAll()
            case 89:
                queue.reserveCapacity(model.count + 50)
                #expect(queue.capacity >= model.count + 50)
            case 90..<92:
                queue.transformEach { $0.prepending(Frame("id")) }
                model = model.map { $0.prepending(Frame("id")) }
            case 92..<96:
                for extra in 0..<Int.random(in: 0..<40, using: &generator) {
                    // Some already carry metadata, which tagging must keep.
                    var message = Self.message(step * 100 + extra)
                    if extra % 5 == 0 { message.metadata = Self.own }
                    source.append(message)
                    sourceModel.append(message)
                }
                for _ in 0..<Int.random(in: 0...sourceModel.count, using: &generator) / 2 {
                    #expect(source.popFirst() == sourceModel.removeFirst())
                }
                // Sometimes shared with a copy, which must keep what it held.
                let sourceCopy = Bool.random(using: &generator) ? source : nil
                let moving = Int.random(in: 0...sourceModel.count, using: &generator)
                if Bool.random(using: &generator) {
                    queue.appendMoving(first: moving, of: &source)
                    model.append(contentsOf: sourceModel.prefix(moving))
                } else {
                    // Tagged as they move: only those that carry no metadata of their own.
                    queue.appendMoving(first: moving, of: &source, tagging: Self.connection)
                    model.append(contentsOf: sourceModel.prefix(moving).map { message in
                        var tagged = message
                        if tagged.metadata == nil { tagged.metadata = Self.connection }
                        return tagged
                    })
                }
                sourceModel.removeFirst(moving)
                // Equality leaves metadata out: compared by identity here.
                #expect(Self.metadata(of: queue) == Self.metadata(of: model), "metadata after step \(step)")
                #expect(Array(source) == sourceModel)
                if let sourceCopy { #expect(sourceCopy.count == sourceModel.count + moving) }
            default:
                queue.append(contentsOf: [Self.message(step), Self.message(step + 2)])
                model.append(contentsOf: [Self.message(step), Self.message(step + 2)])
            }
            #expect(queue.count == model.count)
            #expect(Array(queue) == model, "after step \(step)")
            if Array(queue) != model { return }
        }
        for (copy, held) in copies {
            #expect(Array(copy) == held)
        }
    }
}
