import NIOCore
import Testing
@testable import ZMTP

@Suite("Heartbeat (37/ZMTP Connection Heartbeating)")
struct HeartbeatTests {
    static let ping = Heartbeat.Action.sendPing(.ping(ttl: 0, context: []))

    @Test("PING is due at the interval, not before")
    func pingAtInterval() {
        var heartbeat = Heartbeat(configuration: .init(interval: .seconds(1)), now: at(milliseconds: 0))
        #expect(heartbeat.nextDeadline == at(milliseconds: 1000))
        #expect(heartbeat.tick(now: at(milliseconds: 0)) == .none)
        #expect(heartbeat.tick(now: at(milliseconds: 999)) == .none)
        #expect(heartbeat.tick(now: at(milliseconds: 1000)) == Self.ping)
        // The next PING is an interval later; the timeout clock now runs from the PING.
        #expect(heartbeat.nextDeadline == at(milliseconds: 2000))
    }

    @Test("no traffic for the timeout after a PING times out (timeout defaults to the interval)")
    func timeoutDefaultsToInterval() {
        var heartbeat = Heartbeat(configuration: .init(interval: .seconds(1)), now: at(milliseconds: 0))
        #expect(heartbeat.tick(now: at(milliseconds: 1000)) == Self.ping)
        #expect(heartbeat.tick(now: at(milliseconds: 1999)) == .none)
        #expect(heartbeat.tick(now: at(milliseconds: 2000)) == .timeout)
    }

    @Test("an explicit timeout longer than the interval: further PINGs, one timeout clock")
    func explicitTimeout() {
        var heartbeat = Heartbeat(configuration: .init(interval: .seconds(1), timeout: .seconds(3)), now: at(milliseconds: 0))
        #expect(heartbeat.tick(now: at(milliseconds: 1000)) == Self.ping)
        #expect(heartbeat.nextDeadline == at(milliseconds: 2000))
        #expect(heartbeat.tick(now: at(milliseconds: 2000)) == Self.ping)
        #expect(heartbeat.tick(now: at(milliseconds: 3000)) == Self.ping)
        #expect(heartbeat.nextDeadline == at(milliseconds: 4000))
        // Timed from the first unanswered PING (1 s), not the latest.
        #expect(heartbeat.tick(now: at(milliseconds: 3999)) == .none)
        #expect(heartbeat.tick(now: at(milliseconds: 4000)) == .timeout)
    }

    @Test("traffic received resets the timeout")
    func trafficResets() {
        var heartbeat = Heartbeat(configuration: .init(interval: .seconds(1)), now: at(milliseconds: 0))
        #expect(heartbeat.tick(now: at(milliseconds: 1000)) == Self.ping)
        heartbeat.trafficReceived(at: at(milliseconds: 1500))
        // At 2 s the first PING would have timed out; instead a new PING is due.
        #expect(heartbeat.tick(now: at(milliseconds: 2000)) == Self.ping)
        #expect(heartbeat.tick(now: at(milliseconds: 2999)) == .none)
        heartbeat.trafficReceived(at: at(milliseconds: 2999))
        #expect(heartbeat.tick(now: at(milliseconds: 3000)) == Self.ping)
        #expect(heartbeat.tick(now: at(milliseconds: 3999)) == .none)
        #expect(heartbeat.tick(now: at(milliseconds: 4000)) == .timeout)
    }

    @Test("our PINGs announce the configured TTL in deciseconds")
    func announcedTTL() {
        var heartbeat = Heartbeat(configuration: .init(interval: .seconds(1), ttl: .milliseconds(2500)), now: at(milliseconds: 0))
        #expect(heartbeat.tick(now: at(milliseconds: 1000)) == .sendPing(.ping(ttl: 25, context: [])))

        var huge = Heartbeat(configuration: .init(interval: .seconds(1), ttl: .hours(10)), now: at(milliseconds: 0))
        #expect(huge.tick(now: at(milliseconds: 1000)) == .sendPing(.ping(ttl: 65535, context: [])), "clamped to 6553.5 s")
    }

    @Test("a TTL announced by the peer times out 1 s after the last traffic")
    func peerTTL() {
        var heartbeat = Heartbeat(configuration: .init(), now: at(milliseconds: 0))
        #expect(heartbeat.nextDeadline == nil)
        heartbeat.peerAnnounced(ttlDeciseconds: 10)
        #expect(heartbeat.nextDeadline == at(milliseconds: 1000))
        heartbeat.trafficReceived(at: at(milliseconds: 400))
        #expect(heartbeat.nextDeadline == at(milliseconds: 1400))
        #expect(heartbeat.tick(now: at(milliseconds: 1000)) == .none)
        #expect(heartbeat.tick(now: at(milliseconds: 1399)) == .none)
        #expect(heartbeat.tick(now: at(milliseconds: 1400)) == .timeout)
    }

    @Test("traffic keeps a peer TTL alive, and a TTL of 0 cancels it")
    func peerTTLKeptAlive() {
        var heartbeat = Heartbeat(configuration: .init(), now: at(milliseconds: 0))
        heartbeat.peerAnnounced(ttlDeciseconds: 10)
        for time in stride(from: Int64(900), through: 9000, by: 900) {
            heartbeat.trafficReceived(at: at(milliseconds: time))
            #expect(heartbeat.tick(now: at(milliseconds: time + 999)) == .none)
        }
        heartbeat.peerAnnounced(ttlDeciseconds: 0)
        #expect(heartbeat.nextDeadline == nil)
        #expect(heartbeat.tick(now: at(milliseconds: 100_000)) == .none)
    }

    @Test("without an interval nothing is ever sent and nothing times out")
    func disabled() {
        var heartbeat = Heartbeat(configuration: .init(), now: at(milliseconds: 0))
        #expect(heartbeat.nextDeadline == nil)
        #expect(heartbeat.tick(now: at(milliseconds: 1_000_000)) == .none)
    }
}
