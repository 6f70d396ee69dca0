import ArgumentParser
import Foundation
import ZMQ
import ZMQPatterns

struct LastValueCacheCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "lvc",
        abstract: "Run a last value cache: forward a publisher's messages, and give each new subscriber the last message of every topic it subscribes to at once.",
        discussion: """
            The frontend (a SUB taking everything) connects to the publisher; the backend (an \
            XPUB) binds for subscribers. The topic is a message's first frame; the cache keeps \
            the last message per topic. Exits 0 on SIGINT or SIGTERM.
            """
    )

    @Option(help: "Connect to the publisher here, e.g. tcp://localhost:5556 (repeat for several).")
    var frontend: [String] = []

    @Option(help: "Bind for subscribers here, e.g. tcp://*:5557 (repeat for several).")
    var backend: [String] = []

    @Flag(help: "Print each subscription and how many cached messages it got on standard error.")
    var verbose = false

    func validate() throws {
        if frontend.isEmpty || backend.isEmpty { throw ValidationError("give --frontend ENDPOINT and --backend ENDPOINT") }
    }

    func run() async throws {
        let context = ZMQContext.forTool()
        var cache = LastValueCache(frontend: frontend[0], backend: backend[0])
        cache.frontend = frontend
        cache.backend = backend
        cache.onEvent = eventReporter("zmq lvc", verbose: verbose)
        let configured = cache
        try await runUntilSignalled(context, [{ try await configured.run(in: context) }])
    }
}
