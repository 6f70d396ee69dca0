/// The pipes that hold unread messages, in the order they are read (libzmq's `fq_t` and its
/// active region): a pipe joins at the back when messages arrive on it, is read from the front,
/// goes to the back after each turn if it still holds messages, and leaves when it is empty. A
/// receive therefore looks only at pipes with something to read, never at idle peers, and no
/// peer can starve another. The socket keeps one for all its pipes; patterns get its `pipes` as
/// the candidates for `pipeForReceiving`, in turn order.
struct FairQueue: Sendable {
    /// The pipes with messages, in turn order. A pipe whose queue was emptied other than by a
    /// receive (a cancel, a discard) may linger until `sweep` or its next turn.
    private(set) var pipes: [Pipe] = []

    /// `pipe` may hold messages now: it joins the back of the queue unless it is in it.
    @inline(__always)
    mutating func activate(_ pipe: Pipe) {
        guard !pipe.isReadable, !pipe.inbound.isEmpty else { return }
        pipe.isReadable = true
        pipes.append(pipe)
    }

    /// `pipe` had its turn: to the back if it holds more, out if not.
    @inline(__always)
    mutating func turnTaken(by pipe: Pipe) {
        guard pipe.isReadable else { return }
        if pipes.first === pipe {
            pipes.removeFirst()
        } else if let index = pipes.firstIndex(where: { $0 === pipe }) {
            pipes.remove(at: index)
        }
        if pipe.inbound.isEmpty {
            pipe.isReadable = false
        } else {
            pipes.append(pipe)
        }
    }

    /// Takes `pipe` out (it is going away).
    mutating func remove(_ pipe: Pipe) {
        guard pipe.isReadable else { return }
        pipe.isReadable = false
        pipes.removeAll { $0 === pipe }
    }

    /// Drops the pipes whose queues were emptied other than by a receive.
    mutating func sweep() {
        pipes.removeAll { pipe in
            guard pipe.inbound.isEmpty else { return false }
            pipe.isReadable = false
            return true
        }
    }

    /// The first of `pipes` (a fair queue's, in turn order) that holds a message.
    @inline(__always)
    static func next(in pipes: [Pipe]) -> Pipe? {
        pipes.first { !$0.inbound.isEmpty }
    }
}
