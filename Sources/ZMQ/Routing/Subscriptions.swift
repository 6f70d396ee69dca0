import ZMTP

/// A set of topic prefixes with a count per prefix, and the prefix match every publisher and
/// subscriber applies to a message's first frame (29/PUBSUB: "a binary comparison of the
/// subscription against the start of the first frame").
///
/// Matching walks the distinct prefixes. Subscribers usually hold a handful, and the common
/// "everything" subscription is answered before the walk; a trie would pay off only for
/// thousands of topics per peer.
struct Subscriptions: Sendable {
    private var counts: [[UInt8]: Int] = [:]
    /// Whether the empty prefix is present, so every message matches.
    private(set) var matchesEverything = false

    /// The number of distinct topics, kept beside the set: a publisher's walk asks it of every
    /// peer it meets, and reading the set's own count would mean one more object to load.
    private(set) var topicCount = 0

    var isEmpty: Bool { counts.isEmpty }
    var topics: Dictionary<[UInt8], Int>.Keys { counts.keys }

    func contains(_ topic: [UInt8]) -> Bool { counts[topic] != nil }

    /// Adds one count for `topic`; true when the topic was not present before.
    @discardableResult
    mutating func add(_ topic: [UInt8]) -> Bool {
        counts[topic, default: 0] += 1
        if topic.isEmpty { matchesEverything = true }
        topicCount = counts.count
        return counts[topic] == 1
    }

    /// Removes one count for `topic`; true when that was its last count. A topic that is not
    /// present is left alone (false).
    @discardableResult
    mutating func remove(_ topic: [UInt8]) -> Bool {
        guard let count = counts[topic] else { return false }
        if count > 1 {
            counts[topic] = count - 1
            return false
        }
        counts[topic] = nil
        if topic.isEmpty { matchesEverything = false }
        topicCount = counts.count
        return true
    }

    mutating func removeAll() {
        counts.removeAll()
        matchesEverything = false
        topicCount = 0
    }

    /// Whether some prefix here starts the first frame of `message`.
    func matches(_ message: Message) -> Bool {
        if matchesEverything { return true }
        if counts.isEmpty || message.isEmpty { return false }
        return message[0].withUnsafeBytes { first in
            counts.keys.contains { topic in
                topic.count <= first.count && topic.withUnsafeBytes { prefix in
                    prefix.elementsEqual(UnsafeRawBufferPointer(rebasing: first.prefix(topic.count)))
                }
            }
        }
    }
}

extension Subscriptions {
    /// Applies one peer's request the way a publisher keeps them per subscriber (libzmq's mtrie
    /// holds a set of pipes per topic): subscribing twice from one peer needs one cancel.
    /// Returns true when the set changed. A peer holds at most `peerLimit` topics: more are
    /// ignored, so no peer can make the publisher keep an unbounded set (libzmq has no limit).
    mutating func applyOnce(_ subscription: Subscription) -> Bool {
        if subscription.isSubscribe {
            guard !contains(subscription.topic), topics.count < Self.peerLimit else { return false }
            return add(subscription.topic)
        }
        return remove(subscription.topic)
    }

    /// The most topics (or RADIO groups) one peer's subscriptions may hold.
    static let peerLimit = 100_000
}
