import NIOCore
import Testing
import ZMTP

@Suite("Subscription forms")
struct SubscriptionTests {
    @Test("the ZMTP 3.0 form is a one-frame message: 0x01 or 0x00, then the topic")
    func messageForm() {
        #expect(Subscription(Message(Frame([1] + Array("A".utf8)))) == Subscription(subscribe: true, topic: [65]))
        #expect(Subscription(Message(Frame([0]))) == Subscription(subscribe: false, topic: []))
        #expect(Subscription(subscribe: true, topic: [65]).message == Message(Frame([1, 65])))
    }

    @Test("anything else is not a subscription", arguments: [
        Message(Frame()),
        Message(Frame([2, 65])),
        Message([Frame([1, 65]), Frame([66])]),
    ])
    func notSubscriptions(message: Message) {
        #expect(Subscription(message) == nil)
    }

    @Test("the ZMTP 3.1 form is a SUBSCRIBE or CANCEL command, byte for byte")
    func commandForm() throws {
        let subscribe = Subscription(subscribe: true, topic: Array("topic".utf8)).command.encoded
        #expect(Array(subscribe.readableBytesView) == [0x04, 15, 9] + Array("SUBSCRIBE".utf8) + Array("topic".utf8))
        let cancel = Subscription(subscribe: false, topic: []).command.encoded
        #expect(Array(cancel.readableBytesView) == [0x04, 7, 6] + Array("CANCEL".utf8))
        var body = subscribe
        body.moveReaderIndex(forwardBy: 2)
        #expect(Subscription(try Command(parsing: body)) == Subscription(subscribe: true, topic: Array("topic".utf8)))
        #expect(Subscription(Command.ping(ttl: 0, context: [])) == nil)
    }
}
