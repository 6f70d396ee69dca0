import ZMTP

/// The peers of a socket that names them, by routing id: ROUTER's, STREAM's, SERVER's and
/// PEER's. A peer is named by the Identity it announced, by the id its connect was given
/// (`connectRoutingID`, or PEER's `connectPeer`), by the name it had before it reconnected, or
/// else by an id made up here: five octets, 0x00 and a 32-bit counter, as libzmq makes them, or
/// for SERVER and PEER (`numbered`) four octets, a nonzero 32-bit number.
struct RoutingTable {
    /// Ids of up to seven octets (libzmq makes five, SERVER and PEER four, and announced ones are
    /// often short) are keyed by one word, their octets and their count: hashed as an integer and
    /// compared as one, as a ROUTER does for every message it sends. Longer ids by their octets.
    private var pipesByShortID: [UInt64: Pipe] = [:]
    private var pipesByLongID: [[UInt8]: Pipe] = [:]
    /// Peers under an id made up here, by its number: found without hashing, as a ROUTER finds
    /// the peer of every message it sends (most peers announce no identity).
    private var pipesByGeneratedID = PipesByNumber()

    /// How many peers are named.
    var count: Int { pipesByShortID.count + pipesByLongID.count + pipesByGeneratedID.count }

    /// The keys a short id (up to seven octets) is filed under, from its word (octet i in bits
    /// 8i, as `shortWord` and `Frame.shortWord` give it) and count: the word with the count in its
    /// top octet, and the number of an id shaped as `generatedID` makes them (0x00 and four
    /// octets, or four octets for `numbered`), the four octets big-endian. A peer may announce an
    /// id of that shape too: it is then filed with the other announced ids.
    private static func keys(word: UInt64, count: Int, numbered: Bool) -> (number: UInt32?, short: UInt64?) {
        let number: UInt32? = numbered
            ? (count == 4 ? UInt32(truncatingIfNeeded: word).byteSwapped : nil)
            : (count == 5 && word & 0xFF == 0 ? UInt32(truncatingIfNeeded: word >> 8).byteSwapped : nil)
        return (number, word | UInt64(count) << 56)
    }

    /// The word of a short id's octets, octet i in bits 8i; nil for an id of more than seven.
    private static func shortWord(_ octets: UnsafeRawBufferPointer) -> UInt64? {
        guard octets.count <= 7 else { return nil }
        var word: UInt64 = 0
        withUnsafeMutableBytes(of: &word) { $0.copyMemory(from: octets) }  // one copy, not a loop per octet
        return UInt64(littleEndian: word)
    }

    /// The keys an id is filed under, read from its octets; both nil for a long one.
    private static func keys(_ octets: UnsafeRawBufferPointer, numbered: Bool) -> (number: UInt32?, short: UInt64?) {
        guard let word = shortWord(octets) else { return (nil, nil) }
        return keys(word: word, count: octets.count, numbered: numbered)
    }

    /// The peer filed under the id with these `keys` (`octets` is read only for a long id). The
    /// octets are read apart from the lookup, so that no closure holds (and copies) the table.
    private func pipe(keys: (number: UInt32?, short: UInt64?), octets: () -> [UInt8]) -> Pipe? {
        if let number = keys.number, let pipe = pipesByGeneratedID[number] { return pipe }
        if let short = keys.short { return pipesByShortID.isEmpty ? nil : pipesByShortID[short] }
        return pipesByLongID.isEmpty ? nil : pipesByLongID[octets()]
    }

    /// Files `pipe` under `id`, or takes the id out (nil). An id `generated` here is filed by its
    /// number, and stays there when filed again (a PEER's reserved id as its peer connects).
    private mutating func file(_ pipe: Pipe?, under id: [UInt8], generated: Bool = false) {
        let numbered = numbered
        let keys = id.withUnsafeBytes { Self.keys($0, numbered: numbered) }
        if let number = keys.number, (generated && pipe != nil) || pipesByGeneratedID[number] != nil {
            if let pipe { pipesByGeneratedID.insert(pipe, at: number) } else { pipesByGeneratedID.remove(number) }
        } else if let key = keys.short {
            pipesByShortID[key] = pipe
        } else {
            pipesByLongID[id] = pipe
        }
    }
    private var lastGeneratedID = UInt32.random(in: 0...UInt32.max)
    /// Ids are nonzero 32-bit numbers (SERVER, PEER), not libzmq's 5-octet ROUTER ids.
    var numbered = false

    /// A SERVER or PEER routing id as the table keys it.
    static func key(_ number: UInt32) -> [UInt8] { withUnsafeBytes(of: number.bigEndian) { Array($0) } }

    /// The number a SERVER or PEER key stands for.
    static func number(_ key: [UInt8]) -> UInt32 { key.reduce(0) { $0 << 8 | UInt32($1) } }

    subscript(id: [UInt8]) -> Pipe? {
        let numbered = numbered
        return pipe(keys: id.withUnsafeBytes { Self.keys($0, numbered: numbered) }, octets: { id })
    }

    /// The peer a message's first frame names, found without copying the frame's octets out.
    subscript(id: Frame) -> Pipe? {
        if let (word, count) = id.shortWord {
            // A short id, the usual one: its keys straight from the frame's word.
            return pipe(keys: Self.keys(word: word, count: count, numbered: numbered), octets: { id.bytes })
        }
        let numbered = numbered
        return pipe(keys: id.withUnsafeBytes { Self.keys($0, numbered: numbered) }, octets: { id.bytes })
    }

    /// Whether a peer announcing `identity` may join: not while another peer holds that name,
    /// unless `handover` lets it take the name over.
    func admits(_ identity: [UInt8]?, handover: Bool) -> Bool {
        guard let identity, !identity.isEmpty, !handover else { return true }
        return self[identity] == nil
    }

    /// Names `pipe` and files it. With `handover`, a peer already holding the name `pipe`'s peer
    /// announced is renamed (with a made-up id) and returned, for the socket to close.
    mutating func name(_ pipe: Pipe, handover: Bool) -> (id: [UInt8], replaced: Pipe?) {
        let announced = pipe.peer?.identity ?? []
        var replaced: Pipe?
        let keepsChosenID = pipe.isConnectSide && pipe.routingIDChosen && !pipe.routingID.isEmpty
        if handover, !keepsChosenID, !announced.isEmpty, let old = self[announced], old !== pipe {
            file(nil, under: announced)
            old.routingID = generatedID()
            replaced = old
        }
        let id: [UInt8]
        var generated = false
        if pipe.isConnectSide, !pipe.routingID.isEmpty, pipe.routingIDChosen, isFree(pipe.routingID, for: pipe) {
            id = pipe.routingID  // given with connectRoutingID: it wins over what the peer announces
        } else if !announced.isEmpty, self[announced] == nil {
            id = announced
        } else if pipe.isConnectSide, !pipe.routingID.isEmpty, isFree(pipe.routingID, for: pipe) {
            id = pipe.routingID  // a reconnect keeps the name replies are addressed to, as in libzmq
        } else {
            id = generatedID()
            generated = true
        }
        pipe.routingID = id
        file(pipe, under: id, generated: generated)
        return (id, replaced)
    }

    /// Files a connect-side pipe under a new id before it connects (PEER's `connectPeer`), so
    /// messages for it queue meanwhile; the id is kept across reconnects.
    mutating func reserve(_ pipe: Pipe) -> [UInt8] {
        let id = generatedID()
        pipe.routingID = id
        pipe.routingIDChosen = true
        file(pipe, under: id, generated: true)
        return id
    }

    private func isFree(_ id: [UInt8], for pipe: Pipe) -> Bool {
        let filed = self[id]
        return filed == nil || filed === pipe
    }

    /// Takes `pipe` out; false when it was not filed under its name (a peer renamed by a handover).
    mutating func remove(_ pipe: Pipe) -> Bool {
        guard holds(pipe) else { return false }
        file(nil, under: pipe.routingID)
        return true
    }

    /// Whether `pipe` is still filed under its name.
    func holds(_ pipe: Pipe) -> Bool { self[pipe.routingID] === pipe }

    /// Whether a send waiting for room at `waitingFor` (nil: none waits) may go on: when that
    /// peer has room, or has gone (the send then throws or drops).
    func mayGoOn(_ waitingFor: Pipe?, hwm: Int) -> Bool {
        guard let waitingFor else { return true }
        return waitingFor.hasRoom(hwm: hwm) || !holds(waitingFor)
    }

    private mutating func generatedID() -> [UInt8] {
        while true {
            lastGeneratedID &+= 1
            if numbered, lastGeneratedID == 0 { continue }
            let id = numbered ? Self.key(lastGeneratedID) : [0] + Self.key(lastGeneratedID)
            if self[id] == nil { return id }
        }
    }
}

/// A pattern that names its peers in a `RoutingTable` and puts the sender's id before each
/// message received (ROUTER, STREAM): how it receives, and when a send waiting for one peer may
/// go on. The id goes on as the message is handed out (`prefixesRoutingID`), on the receiving
/// thread: the id of the connection the message came from.
protocol RoutingByID: SocketPattern {
    var table: RoutingTable { get }
    /// The peer a send is waiting for room at.
    var waitingFor: Pipe? { get }
}

extension RoutingByID {
    /// A waiting send is for one peer: it may go on when that peer has room, or has gone (then
    /// it throws or drops).
    func hasOut(among pipes: [Pipe], hwm: Int) -> Bool {
        table.mayGoOn(waitingFor, hwm: hwm)
    }

    mutating func pipeForReceiving(among pipes: [Pipe]) throws(ZMQError) -> Pipe? {
        FairQueue.next(in: pipes)
    }

    var prefixesRoutingID: Bool { true }
}
