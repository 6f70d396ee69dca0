/// Every peer's subscriptions in one prefix tree (libzmq's `mtrie_t`): the first frame of a
/// message walks it once, octet by octet, and only the pipes subscribed to a prefix of it are
/// visited, so a publisher with many subscribers does not test each one's topics. Nodes are
/// objects guarded, like pipes, by the socket's lock; nothing is written to a pipe per message.
struct TopicTree: @unchecked Sendable {
    private final class Node {
        var pipes: [Pipe] = []
        var children: [UInt8: Node] = [:]

        var isEmpty: Bool { pipes.isEmpty && children.isEmpty }
    }

    private let root = Node()

    /// `pipe` subscribes to `topic` (it did not before: the pipe's own set says so).
    func add(_ topic: [UInt8], _ pipe: Pipe) {
        var node = root
        for octet in topic {
            if let child = node.children[octet] {
                node = child
            } else {
                let child = Node()
                node.children[octet] = child
                node = child
            }
        }
        node.pipes.append(pipe)
    }

    /// `pipe` no longer subscribes to `topic`; nodes left empty are pruned.
    func remove(_ topic: [UInt8], _ pipe: Pipe) {
        var path: [(Node, UInt8)] = []
        var node = root
        for octet in topic {
            guard let child = node.children[octet] else { return }
            path.append((node, octet))
            node = child
        }
        node.pipes.removeAll { $0 === pipe }
        while let (parent, octet) = path.popLast(), parent.children[octet]!.isEmpty {
            parent.children[octet] = nil
        }
    }

    /// Puts into `matching` (emptied first, its storage kept) each pipe subscribed to a prefix
    /// of `message`'s first frame, once. Only a pipe with several topics can be met twice, so
    /// only such a pipe is looked for among those already taken.
    func collect(_ message: Message, into matching: inout [Pipe]) {
        matching.removeAll(keepingCapacity: true)
        matching.append(contentsOf: root.pipes)
        guard !root.children.isEmpty, !message.isEmpty else { return }
        var node = root
        message[0].withUnsafeBytes { first in
            for octet in first {
                guard let child = node.children[octet] else { return }
                node = child
                for pipe in node.pipes where pipe.subscriptions.topicCount == 1 || !matching.contains(where: { $0 === pipe }) {
                    matching.append(pipe)
                }
            }
        }
    }
}
