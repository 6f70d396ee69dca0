import Testing
@testable import ZMQ
import ZMQTestSupport

@Suite("Conflate", .timeLimit(.minutes(1)))
struct ConflateTests {
    @Test("a conflating socket keeps only the newest message delivered, batch after batch (no I/O)")
    func inbound() throws {
        var state = SocketState(pattern: PullPattern())
        try state.options.apply(.conflate(true))
        let pipe = state.makePipe(connectSide: false)
        state.pipes.append(pipe)
        var batch: MessageQueue = [["1"], ["2"], ["3"]]
        _ = state.deliver(&batch, from: pipe)
        #expect(Array(pipe.inbound) == [["3"]])
        batch = [["4"], ["5"]]
        _ = state.deliver(&batch, from: pipe)
        #expect(Array(pipe.inbound) == [["5"]])
        // 1, 2, then 3 and 4 were replaced.
        #expect(state.drops[.conflated] == 4 && pipe.drops[.conflated] == 4)
    }

    @Test("a conflating PUSH never waits and hands a late peer only its newest message")
    func outbound() async throws {
        try await withContext { context in
            let push = try context.socket(.push)
            try push.set(.conflate(true))
            try push.set(.sendHighWaterMark(1))
            try await push.connect("inproc://conflated")
            // No peer yet: with a high-water mark of one these would wait after the first.
            for index in 0..<5 { try push.trySend(Message(Frame("\(index)"))) }
            let pull = try context.socket(.pull)
            try await pull.bind("inproc://conflated")
            #expect(try await pull.receive() == ["4"])
            #expect(throws: ZMQError.wouldBlock) { try pull.tryReceive() }
            #expect(push.drops[.conflated] == 4)
        }
    }

    @Test("conflate means nothing for REQ, REP, ROUTER, PAIR, XPUB and XSUB")
    func refusedElsewhere() async throws {
        try await withContext { context in
            for type in [SocketType.req, .rep, .router, .pair, .xpub, .xsub] {
                #expect(throws: ZMQError.self) { try context.socket(type).set(.conflate(true)) }
            }
        }
    }
}
