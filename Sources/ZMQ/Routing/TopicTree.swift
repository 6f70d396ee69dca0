/// Every peer's subscriptions in one prefix tree (libzmq's `mtrie_t`): the first frame of a
/// message walks it once, octet by octet, and only the pipes subscribed to a prefix of it are
/// visited, so a publisher with many subscribers does not test each one's topics. Nodes are
/// objects guarded, like pipes, by the socket's lock; nothing is written to a pipe per message.
///
/// As in libzmq, a node keeps its children in a table indexed by octet, from the lowest octet it
/// has a child for to the highest: a step of the walk is an index, not a hash, and it takes no
/// reference count.
struct TopicTree: @unchecked Sendable {
    private final class Node {
        /// Touched under the socket's lock only: no runtime exclusivity checks on the walk.
        @exclusivity(unchecked) var pipes: [Pipe] = []
        /// The child for octet `lowest + i` is `children[i]` (nil where there is none); a node
        /// with one child keeps it in `only` instead, so a walk down a topic's tail reads one
        /// object per octet rather than two. Neither retains: `owned` keeps the children alive,
        /// so a step of the walk writes no reference count.
        @exclusivity(unchecked) var lowest: UInt8 = 0
        @exclusivity(unchecked) var only: Unmanaged<Node>?
        @exclusivity(unchecked) var children: [Unmanaged<Node>?] = []
        private var owned: [(octet: UInt8, node: Node)] = []

        var childCount: Int { owned.count }
        var isEmpty: Bool { pipes.isEmpty && owned.isEmpty }

        @inline(__always)
        func child(_ octet: UInt8) -> Unmanaged<Node>? {
            if let only { return octet == lowest ? only : nil }
            let index = Int(octet) &- Int(lowest)
            guard index >= 0, index < children.count else { return nil }
            return children[index]
        }

        /// The child for `octet`, made if there is none.
        func makeChild(_ octet: UInt8) -> Node {
            if let existing = child(octet) { return existing.takeUnretainedValue() }
            let made = Node()
            owned.append((octet, made))
            layOut()
            return made
        }

        func removeChild(_ octet: UInt8) {
            owned.removeAll { $0.octet == octet }
            layOut()
        }

        /// Rebuilds `only` or the table from `owned`. Only subscribing and cancelling come here,
        /// never a send.
        private func layOut() {
            only = nil
            children = []
            guard let low = owned.map(\.octet).min(), let high = owned.map(\.octet).max() else { return }
            lowest = low
            if owned.count == 1 {
                only = .passUnretained(owned[0].node)
                return
            }
            children = Array(repeating: nil, count: Int(high - low) + 1)
            for (octet, node) in owned { children[Int(octet - low)] = .passUnretained(node) }
        }
    }

    private let root = Node()

    /// `pipe` subscribes to `topic` (it did not before: the pipe's own set says so).
    func add(_ topic: [UInt8], _ pipe: Pipe) {
        var node = root
        for octet in topic { node = node.makeChild(octet) }
        node.pipes.append(pipe)
    }

    /// `pipe` no longer subscribes to `topic`; nodes left empty are pruned.
    func remove(_ topic: [UInt8], _ pipe: Pipe) {
        var path: [(Node, UInt8)] = []
        var node = root
        for octet in topic {
            guard let child = node.child(octet)?.takeUnretainedValue() else { return }
            path.append((node, octet))
            node = child
        }
        node.pipes.removeAll { $0 === pipe }
        while let (parent, octet) = path.popLast(), parent.child(octet)!.takeUnretainedValue().isEmpty {
            parent.removeChild(octet)
        }
    }

    /// Puts into `matching` (emptied first, its storage kept) each pipe subscribed to a prefix
    /// of `message`'s first frame, once. Only a pipe with several topics can be met twice, so
    /// only such a pipe is looked for among those already taken.
    ///
    /// The pipes are unretained: the tree holds them while the socket's lock is held, which is
    /// as long as `matching` is used. A retain here would write to each matched pipe's reference
    /// count, a cache line the I/O thread shares, on every message.
    func collect(_ message: Message, into matching: inout [Unmanaged<Pipe>]) {
        Self.empty(&matching)
        for pipe in root.pipes { matching.append(.passUnretained(pipe)) }
        guard root.childCount > 0, !message.isEmpty else { return }
        message[0].withUnsafeBytes { first in Self.walk(first, from: root, into: &matching) }
    }

    /// Empties `list`, keeping its storage. It holds a pipe or two: popping them is cheaper than
    /// `removeAll(keepingCapacity:)`, which goes through the general `replaceSubrange`.
    @inline(__always)
    static func empty(_ list: inout [Unmanaged<Pipe>]) {
        while !list.isEmpty { list.removeLast() }
    }

    private static func walk(_ first: UnsafeRawBufferPointer, from root: Node, into matching: inout [Unmanaged<Pipe>]) {
        var node = Unmanaged.passUnretained(root)
        for octet in first {
            guard let child = node._withUnsafeGuaranteedRef({ $0.child(octet) }) else { return }
            node = child
            node._withUnsafeGuaranteedRef { node in
                for index in node.pipes.indices {
                    let pipe = Unmanaged.passUnretained(node.pipes[index])
                    let once = pipe._withUnsafeGuaranteedRef { $0.subscriptions.topicCount == 1 }
                    if once || !matching.contains(where: { $0.toOpaque() == pipe.toOpaque() }) {
                        matching.append(pipe)
                    }
                }
            }
        }
    }
}
