/// Pipes filed by a 32-bit number that this process made up (a routing id's counter), found
/// without hashing: open addressing with linear probing, the slot picked by multiplying the number
/// by an odd factor chosen at random for the table and keeping the top bits. The numbers are
/// consecutive, which this spreads evenly; no peer chooses them, and none knows the factor, so no
/// peer can line its number up with others' to make a lookup walk far.
struct PipesByNumber {
    private var numbers: [UInt32] = []
    private var pipes: [Pipe?] = []
    private(set) var count = 0
    private var shift: UInt64 = 64
    private let factor = UInt64.random(in: 0...UInt64.max) | 1

    /// The slot `number` is looked for from.
    private func home(_ number: UInt32) -> Int {
        Int(truncatingIfNeeded: (UInt64(number) &* factor) >> shift)
    }

    private var mask: Int { pipes.count - 1 }

    /// The pipe filed under `number`, if any.
    subscript(number: UInt32) -> Pipe? {
        guard count > 0 else { return nil }
        var slot = home(number)
        while let pipe = pipes[slot] {
            if numbers[slot] == number { return pipe }
            slot = (slot &+ 1) & mask
        }
        return nil
    }

    /// Files `pipe` under `number`, in place of any filed there.
    mutating func insert(_ pipe: Pipe, at number: UInt32) {
        // At most half full, so that a walk stays short.
        if (count + 1) * 2 > pipes.count { grow() }
        var slot = home(number)
        while pipes[slot] != nil {
            if numbers[slot] == number {
                pipes[slot] = pipe
                return
            }
            slot = (slot &+ 1) & mask
        }
        numbers[slot] = number
        pipes[slot] = pipe
        count += 1
    }

    /// Takes out what is filed under `number`; false when nothing is.
    @discardableResult
    mutating func remove(_ number: UInt32) -> Bool {
        guard count > 0 else { return false }
        var slot = home(number)
        while pipes[slot] != nil, numbers[slot] != number { slot = (slot &+ 1) & mask }
        guard pipes[slot] != nil else { return false }
        pipes[slot] = nil
        count -= 1
        // Moves back each entry after the hole that could not be found past it any more (a
        // walk stops at an empty slot), so no marker of removal is needed.
        var hole = slot
        var next = (slot &+ 1) & mask
        while let pipe = pipes[next] {
            let wanted = home(numbers[next])
            // The entry may fill the hole if its home is not cyclically within (hole, next].
            let reachable = hole <= next ? (wanted <= hole || wanted > next) : (wanted <= hole && wanted > next)
            if reachable {
                numbers[hole] = numbers[next]
                pipes[hole] = pipe
                pipes[next] = nil
                hole = next
            }
            next = (next &+ 1) & mask
        }
        return true
    }

    private mutating func grow() {
        let old = zip(numbers, pipes).compactMap { number, pipe in pipe.map { (number, $0) } }
        let capacity = max(8, pipes.count * 2)
        numbers = Array(repeating: 0, count: capacity)
        pipes = Array(repeating: nil, count: capacity)
        shift = UInt64(64 - capacity.trailingZeroBitCount)
        count = 0
        for (number, pipe) in old { insert(pipe, at: number) }
    }
}
