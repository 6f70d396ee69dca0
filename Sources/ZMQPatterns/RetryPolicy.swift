/// How a client retries a request that got no reply: how long it waits for each attempt, how
/// many attempts it makes in all, and how the wait grows. Every client in ZMQPatterns takes one
/// (Lazy Pirate, Majordomo, Titanic's dispatcher), and so can an application's own.
///
///     let patient = RetryPolicy(timeout: .seconds(1), attempts: 5, backoff: 2, maxTimeout: .seconds(8))
///     patient.timeout(forAttempt: 3)   // 4 seconds
public struct RetryPolicy: Sendable, Hashable, CustomStringConvertible {
    /// The wait for the first attempt's reply.
    public var timeout: Duration
    /// How many attempts in all; nil for no limit (a request that must be answered some day).
    public var attempts: Int?
    /// Each wait is this many times the one before; 1 keeps it constant.
    public var backoff: Double
    /// The longest a wait grows to.
    public var maxTimeout: Duration

    public init(timeout: Duration, attempts: Int?, backoff: Double = 1, maxTimeout: Duration? = nil) {
        precondition(attempts.map { $0 >= 1 } ?? true, "a request needs at least one attempt")
        precondition(backoff >= 1, "a wait may grow or stay, not shrink")
        self.timeout = timeout
        self.attempts = attempts
        self.backoff = backoff
        self.maxTimeout = max(maxTimeout ?? timeout, timeout)
    }

    /// The Guide's Lazy Pirate: three attempts of 2.5 s each.
    public static let lazyPirate = RetryPolicy(timeout: .milliseconds(2500), attempts: 3)

    /// How long to wait for the reply to attempt `attempt` (the first is 1).
    public func timeout(forAttempt attempt: Int) -> Duration {
        var wait = timeout
        for _ in 1..<max(1, attempt) {
            guard wait < maxTimeout else { break }
            wait = min(wait * backoff, maxTimeout)
        }
        return wait
    }

    /// Whether attempt `attempt` (the first is 1) may be made.
    public func allows(attempt: Int) -> Bool {
        attempts.map { attempt <= $0 } ?? true
    }

    /// "3 attempts of 2.5 seconds each", as error messages put it.
    public var description: String {
        let count = attempts.map { "\($0) attempt\($0 == 1 ? "" : "s")" } ?? "attempts without limit"
        return backoff == 1 || maxTimeout == timeout ? "\(count) of \(timeout) each" : "\(count) from \(timeout) up to \(maxTimeout)"
    }
}
