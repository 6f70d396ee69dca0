import Foundation
import Testing
import ZMQ
@testable import ZMQPatterns
import ZMQTestSupport

/// A Clone client against a hand-made server, and its map's bookkeeping.
@Suite("Clone client", .timeLimit(.minutes(1)))
struct CloneClientTests {
    @Test("messages with the wrong frame count, unknown commands and commands out of place, from the snapshot port or the publisher, are dropped and counted; the map takes only the well-formed updates")
    func malformedCommands() async throws {
        try await withContext { context in
            let (snapshots, publisher, client, request) = try await CloneTests.handMadeServer(in: context)
            let inSnapshot: [Message] = [
                CloneEntry(key: "/k", sequence: 1, value: "v").message,
                ["/k", Frame([UInt8](repeating: 0, count: 8)), "", "gone"],   // 4 frames
                CloneProtocol.heartbeat,                                         // HUGZ is no snapshot entry
                CloneProtocol.snapshotEnd(sequence: 1, subtree: ""),
            ]
            for reply in inSnapshot { try await snapshots.send(Message([request[0]] + reply.frames)) }
            try await client.waitUntilSynchronized()
            #expect(client.values == ["/k": "v"] && client.droppedMessages == 2)

            let changes = client.changes()
            let published: [Message] = [
                ["/k", Frame([UInt8](repeating: 0, count: 8)), ""],                 // 3 frames
                Message(CloneEntry(key: "/k", sequence: 2, value: "six").message.frames + [Frame("frames")]),
                ["WHAT?", "/k"],                                                     // no such command
                CloneProtocol.snapshotRequest(subtree: ""),                          // ICANHAZ? is for the snapshot port
                CloneProtocol.snapshotEnd(sequence: 9, subtree: ""),                 // and KTHXBAI comes in a snapshot
                CloneEntry(key: "/k2", sequence: 2, value: "fine").message,
            ]
            for message in published { try await publisher.send(message) }
            // In order on one socket: the well-formed update last, so every other one has been dropped.
            for await change in changes where change.key == "/k2" { break }
            #expect(client.values == ["/k": "v", "/k2": "fine"] && client.sequence == 2)
            #expect(client.droppedMessages == 7)
            await client.close()
        }
    }

    @Test("a set waiting for its update takes a snapshot with the update in it as its echo; for a deletion, a snapshot without the key")
    func echoInSnapshot() async {
        let replica = CloneReplica()
        let (set, delete, other) = (CloneProtocol.newUUID(), CloneProtocol.newUUID(), CloneProtocol.newUUID())
        replica.expect(set)
        replica.expect(delete, deleting: "/gone")
        replica.expect(other, deleting: "/kept")
        replica.take(.synchronized(["/set": CloneEntry(key: "/set", sequence: 3, uuid: set, value: "v"),
                                    "/kept": CloneEntry(key: "/kept", sequence: 2, value: "still")], sequence: 3))
        #expect(await replica.echo(of: set, within: .zero))
        #expect(await replica.echo(of: delete, within: .zero), "the deletion shows as the key's absence")
        #expect(await !replica.echo(of: other, within: .zero), "a key still in the map was not deleted")
    }
}
