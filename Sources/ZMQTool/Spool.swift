import ArgumentParser
import Foundation
import ZMQ
import ZMQPatterns

struct SpoolCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "spool",
        abstract: "Overflow to disk: forward from an input socket to an output socket, keeping on disk what the output cannot take yet.",
        subcommands: [Run.self, Status.self],
        defaultSubcommand: Run.self
    )

    struct Run: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Run a spool until SIGINT or SIGTERM.",
            discussion: """
                Messages go from the input to the output while the output has room; when it has \
                none (no consumer, or consumers' queues full) they go to the --store (SQLite or PostgreSQL), in \
                order, and out again oldest first as room returns. The output hands messages only \
                to connected peers and queues at most --output-hwm of them: a kill of the spool \
                loses at most that many and the batch in hand (32), sends none twice, and what \
                is on disk is sent after a restart. At --max-messages or --max-bytes on disk, \
                --when-full decides: block (stop reading the input), drop-newest or drop-oldest. \
                Spilling starting and stopping is printed on standard error with --verbose. Exits \
                0 on SIGINT or SIGTERM.
                """
        )

        @Option(help: "The input's socket type, e.g. PULL, SUB, ROUTER or DEALER.")
        var inputType: String

        @Option(help: "Bind the input here.")
        var inputBind: String?

        @Option(help: "Connect the input here.")
        var inputConnect: String?

        @Option(help: "The output's socket type, e.g. PUSH or DEALER.")
        var outputType: String

        @Option(help: "Bind the output here.")
        var outputBind: String?

        @Option(help: "Connect the output here.")
        var outputConnect: String?

        @Option(help: "Where what waits is kept: an SQLite file, or a postgres:// URL (spools on several hosts can share one).")
        var store: String

        @Option(help: "The most messages kept on disk.")
        var maxMessages = 10_000_000

        @Option(help: "The most octets kept on disk.")
        var maxBytes = 10 << 30

        @Option(help: "At the maximum: block, drop-newest or drop-oldest.")
        var whenFull = "block"

        @Option(help: "How many messages the output queues for its peers.")
        var outputHwm = 100

        @Flag(help: "Print when spilling starts and stops, and drops, on standard error.")
        var verbose = false

        func validate() throws {
            try SocketArguments.validate(type: inputType, bind: inputBind, connect: inputConnect, option: "input-")
            try SocketArguments.validate(type: outputType, bind: outputBind, connect: outputConnect, option: "output-")
            if maxMessages < 1 || maxBytes < 1 || outputHwm < 1 { throw ValidationError("--max-messages, --max-bytes and --output-hwm must be at least 1") }
            if Self.policy(whenFull) == nil { throw ValidationError("--when-full is block, drop-newest or drop-oldest, not '\(whenFull)'") }
            guard let input = SocketType(rawValue: inputType.uppercased()), input.traits.receives,
                  let output = SocketType(rawValue: outputType.uppercased()), output.traits.sends else {
                throw ValidationError("the input must be a type that receives and the output one that sends")
            }
        }

        static func policy(_ text: String) -> DiskSpool.WhenFull? {
            ["block": .block, "drop-newest": .dropNewest, "drop-oldest": .dropOldest][text]
        }

        func run() async throws {
            let context = ZMQContext.forTool()
            let store: any SpoolStore
            do {
                store = try await spoolStore(at: StoreLocation(self.store))
            } catch {
                throw UsageError(message: "cannot use \(self.store) for the spool: \((error as? ZMQError)?.message ?? "\(error)")")
            }
            func plan(_ type: String, _ bind: String?, _ connect: String?) -> SocketPlan {
                SocketPlan(SocketType(rawValue: type.uppercased())!, bind: bind.map { [$0] } ?? [], connect: connect.map { [$0] } ?? [],
                           subscriptions: type.uppercased() == "SUB" ? [""] : [])
            }
            var spool = DiskSpool(input: plan(inputType, inputBind, inputConnect), output: plan(outputType, outputBind, outputConnect), store: store)
            spool.maxMessages = maxMessages
            spool.maxOctets = maxBytes
            spool.whenFull = Self.policy(whenFull)!
            spool.outputHighWaterMark = outputHwm
            spool.onEvent = eventReporter("zmq spool", verbose: verbose)
            let configured = spool
            try await runUntilSignalled(context, [{ try await configured.run(in: context) }])
        }
    }

    struct Status: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print what waits in a spool's store: queued, octets, handed-off and oldest-seconds, one a line.",
            discussion: """
                Reads the store while its spool runs, or after it died. With --list, one line per \
                message after the totals, oldest first: its number in the store, its size in \
                octets, its state (queued) and the time it was queued (UTC).
                """)

        @Option(help: "The spool's store: an SQLite file or a postgres:// URL.")
        var store: String

        @Flag(help: "Print one line per message too.")
        var list = false

        func run() async throws {
            let location = try existingStore(store)
            do {
                let spool = try await spoolStore(at: location)
                let backlog = try await spool.backlog()
                print("queued: \(backlog.messages)\noctets: \(backlog.octets)\nhanded-off: \(backlog.handedOff)\noldest-seconds: \(secondsSince(backlog.oldest))")
                guard list else { return }
                for item in try await spool.items() {
                    print("\(item.id) octets=\(item.octets) state=queued queued=\(timestamp(item.queued))")
                }
            } catch let error as ZMQError {
                throw UsageError(message: "cannot read \(store): \(error.message)")
            }
        }
    }
}
