/// One server's mailbox, as a pure state machine: which items it holds for
/// which users, what storing one more would cost, and what goes when (an
/// acknowledgement, an expiry). Times are wall-clock milliseconds (an
/// item's time to live outlasts restarts), injected.
///
/// Durability is the caller's: `store` answers `.commit` and the server
/// writes the item (and its object, fsynced) before it calls `committed` and
/// tells the sender. An item whose object is still to come holds its room
/// (`pendingObject`) for a while, so that a quota cannot be overrun by items
/// announced together. An acknowledged item leaves a tombstone, so that a
/// late copy (a sender's retry, another server's catch-up) does not bring it
/// back.
public struct Mailbox: Sendable {
    public struct Limits: Sendable, Equatable {
        /// Items and bytes held for one user at most.
        public var perUserItems: Int
        public var perUserBytes: UInt64
        /// Bytes held for everyone at most.
        public var totalBytes: UInt64
        /// An item not picked up by then is dropped (and logged).
        public var timeToLive: UInt64
        /// How long an announced object may take to arrive: a minute and a second a megabyte.
        public var objectWait: UInt64 { 60_000 }
        /// Tombstones kept at most (the oldest are forgotten first).
        public var tombstones: Int
        /// Room one sender may hold for objects still to come (items and bytes), for all recipients together.
        public var perSenderPendingItems: Int
        public var perSenderPendingBytes: UInt64

        public init(perUserItems: Int = 20_000, perUserBytes: UInt64 = 2 << 30, totalBytes: UInt64 = 16 << 30,
                    timeToLive: UInt64 = 30 * 86_400_000, tombstones: Int = 200_000,
                    perSenderPendingItems: Int = 8, perSenderPendingBytes: UInt64 = 256 << 20) {
            self.perUserItems = perUserItems
            self.perUserBytes = perUserBytes
            self.totalBytes = totalBytes
            self.timeToLive = timeToLive
            self.tombstones = tombstones
            self.perSenderPendingItems = perSenderPendingItems
            self.perSenderPendingBytes = perSenderPendingBytes
        }
    }

    public enum Decision: Sendable, Equatable {
        /// Held already (or delivered already): the sender may count it as stored.
        case stored
        /// Write it now (it has no object, or its object has come) and tell the sender once written.
        case commit
        /// Take its object (of exactly `bytes`) first.
        case awaitObject(bytes: UInt64)
        /// Being written: the sender hears once it is.
        case committing
        case refused(String)
    }

    /// What the mailbox knows of an item.
    public struct Entry: Sendable, Equatable {
        public var recipient: String
        public var sender: String
        public var bytes: UInt64
        /// When it was first stored here (wall-clock milliseconds).
        public var storedAt: UInt64
        public var state: State

        public enum State: Sendable, Equatable {
            case pendingObject(since: UInt64)
            case committing
            case held
        }

        public init(recipient: String, sender: String = "", bytes: UInt64, storedAt: UInt64, state: State) {
            self.recipient = recipient
            self.sender = sender
            self.bytes = bytes
            self.storedAt = storedAt
            self.state = state
        }
    }

    public let limits: Limits
    public private(set) var entries: [MailID: Entry] = [:]
    private var perUser: [String: (items: Int, bytes: UInt64)] = [:]
    /// Room held for objects still to come, by sender.
    private var pendingBySender: [String: (items: Int, bytes: UInt64)] = [:]
    /// The items held (written) for each user: what a fetch lists.
    private var heldByUser: [String: Set<MailID>] = [:]
    public private(set) var totalBytes: UInt64 = 0
    /// Items held (written) here, and their bytes.
    public private(set) var heldCount = 0
    public private(set) var heldBytes: UInt64 = 0
    /// Acknowledged items, with when: a late copy is not taken again.
    private var tombstones = BoundedMap<MailID, UInt64>(capacity: 200_000)

    public init(limits: Limits = Limits()) {
        self.limits = limits
        tombstones = BoundedMap(capacity: max(1, limits.tombstones))
    }

    public func isTombstoned(_ id: MailID) -> Bool { tombstones[id] != nil }

    // MARK: Events

    /// Items (and tombstones) read back from the store at start.
    public mutating func load(_ held: [(MailID, Entry)], tombstones dead: [(MailID, UInt64)]) {
        for (id, at) in dead.sorted(by: { $0.1 < $1.1 }) { tombstones[id] = at }
        // An item written as it was buried (its row came after the deletion) stays buried.
        for (id, entry) in held where entries[id] == nil && tombstones[id] == nil { add(id, entry) }
    }

    /// Items read back that a tombstone buries: the store deletes them.
    public func buriedAmong(_ ids: [MailID]) -> [MailID] { ids.filter { tombstones[$0] != nil } }

    /// A sender (or another server catching up) asks this mailbox to hold `item`.
    public mutating func store(_ item: MailItem, now: UInt64) -> Decision {
        guard item.isWellFormed else { return .refused("a malformed mail item (or an object over \(MailItem.maxObjectBytes >> 20) MiB)") }
        if tombstones[item.id] != nil { return .stored }
        if let entry = entries[item.id] {
            switch entry.state {
            case .held: return .stored
            case .committing: return .committing
            case .pendingObject: return .awaitObject(bytes: item.objectBytes)
            }
        }
        let bytes = item.heldBytes   // at most an object's bound and an envelope's: no sum below can overflow
        let user = perUser[item.recipient] ?? (0, 0)
        guard user.items < limits.perUserItems, bytes <= limits.perUserBytes, user.bytes <= limits.perUserBytes - bytes else {
            return .refused("\(item.recipient)'s mailbox is full (\(user.items) messages, \(user.bytes / 1_048_576) MiB held)")
        }
        guard bytes <= limits.totalBytes, totalBytes <= limits.totalBytes - bytes else { return .refused("this server's mailbox is full") }
        if item.hasObject {
            // Room for an object that has not come yet is the sender's to hold, and little of it.
            let pending = pendingBySender[item.sender] ?? (0, 0)
            guard pending.items < limits.perSenderPendingItems, bytes <= limits.perSenderPendingBytes,
                  pending.bytes <= limits.perSenderPendingBytes - bytes else {
                return .refused("\(item.sender) has too many photos on their way to this server; try again in a minute")
            }
        }
        add(item.id, Entry(recipient: item.recipient, sender: item.sender, bytes: bytes, storedAt: now,
                           state: item.hasObject ? .pendingObject(since: now) : .committing))
        return item.hasObject ? .awaitObject(bytes: item.objectBytes) : .commit
    }

    /// The object of an item waiting for it came (its size and SHA-256 were checked): write the item now.
    public mutating func objectArrived(_ id: MailID) -> Decision {
        guard let entry = entries[id] else { return tombstones[id] != nil ? .stored : .refused("no such item") }
        guard case .pendingObject = entry.state else { return entry.state == .held ? .stored : .committing }
        setState(id, .committing)
        return .commit
    }

    /// The item is durably written: it counts as stored from now on (false:
    /// it was buried meanwhile, and the store deletes what it just wrote).
    @discardableResult
    public mutating func committed(_ id: MailID) -> Bool {
        guard let entry = entries[id] else { return tombstones[id] == nil }
        if entry.state != .held { setState(id, .held) }
        return true
    }

    /// Writing failed (a full disk): the room it held is free again, and it is not stored.
    public mutating func commitFailed(_ id: MailID) {
        guard let entry = entries[id], entry.state != .held else { return }
        remove(id)
    }

    /// `user` applied these items: each here for `user` (held, or still
    /// being written) goes, leaving a tombstone; the ones removed are returned
    /// (the store deletes them). An id not here for `user` is left alone: a
    /// user cannot bury someone else's item before it arrives.
    public mutating func acknowledged(_ ids: [MailID], by user: String, now: UInt64) -> [MailID] {
        var removed: [MailID] = []
        for id in ids {
            guard let entry = entries[id], entry.recipient == user else { continue }
            remove(id)
            tombstones[id] = now
            removed.append(id)
        }
        return removed
    }

    /// A tombstone learnt from another server (the item was delivered there): the item goes here too.
    public mutating func buried(_ id: MailID, at: UInt64) -> Bool {
        let held = entries[id] != nil
        if held { remove(id) }
        if tombstones[id] == nil { tombstones[id] = at }
        return held
    }

    public struct Expiry: Sendable, Equatable {
        /// Held past their time to live: dropped, and buried (another server's copy is not taken again).
        public var expired: [MailID] = []
        /// Waited too long for their object: the room they held is free again.
        public var abandoned: [MailID] = []
    }

    public mutating func expire(now: UInt64) -> Expiry {
        var out = Expiry()
        for (id, entry) in entries {
            switch entry.state {
            case .held where now >= entry.storedAt &+ limits.timeToLive:
                out.expired.append(id)
            case .pendingObject(let since) where now >= since &+ limits.objectWait &+ entry.bytes / 1_000:
                out.abandoned.append(id)
            default:
                break
            }
        }
        for id in out.expired + out.abandoned { remove(id) }
        for id in out.expired { tombstones[id] = now }
        return out
    }

    /// The items held for `user`, oldest first.
    public func held(for user: String) -> [MailID] {
        (heldByUser[user] ?? []).compactMap { id in entries[id].map { (id, $0.storedAt) } }
            .sorted { ($0.1, $0.0) < ($1.1, $1.0) }.map(\.0)
    }

    /// Every item held, and every tombstone (what another server compares with its own).
    public var heldIDs: [MailID] { heldByUser.values.flatMap { $0 }.sorted() }
    public var tombstoneIDs: [MailID] { tombstones.keys.sorted() }

    public func usage(of user: String) -> (items: Int, bytes: UInt64) { perUser[user] ?? (0, 0) }

    // MARK: Bookkeeping

    private mutating func add(_ id: MailID, _ entry: Entry) {
        entries[id] = entry
        perUser[entry.recipient, default: (0, 0)].items += 1
        perUser[entry.recipient, default: (0, 0)].bytes += entry.bytes
        totalBytes += entry.bytes
        count(id, entry, sign: 1)
    }

    private mutating func remove(_ id: MailID) {
        guard let entry = entries.removeValue(forKey: id) else { return }
        perUser[entry.recipient]?.items -= 1
        perUser[entry.recipient]?.bytes -= entry.bytes
        if perUser[entry.recipient]?.items == 0 { perUser[entry.recipient] = nil }
        totalBytes -= entry.bytes
        count(id, entry, sign: -1)
    }

    private mutating func setState(_ id: MailID, _ state: Entry.State) {
        guard let entry = entries[id] else { return }
        count(id, entry, sign: -1)
        entries[id]?.state = state
        count(id, entries[id]!, sign: 1)
    }

    /// The running counts an entry is part of: held items (per user, in all), room held for objects to come.
    private mutating func count(_ id: MailID, _ entry: Entry, sign: Int) {
        switch entry.state {
        case .held:
            if sign > 0 {
                heldByUser[entry.recipient, default: []].insert(id)
                heldCount += 1
                heldBytes += entry.bytes
            } else {
                heldByUser[entry.recipient]?.remove(id)
                if heldByUser[entry.recipient]?.isEmpty == true { heldByUser[entry.recipient] = nil }
                heldCount -= 1
                heldBytes -= entry.bytes
            }
        case .pendingObject:
            if sign > 0 {
                pendingBySender[entry.sender, default: (0, 0)].items += 1
                pendingBySender[entry.sender, default: (0, 0)].bytes += entry.bytes
            } else {
                pendingBySender[entry.sender]?.items -= 1
                pendingBySender[entry.sender]?.bytes -= entry.bytes
                if pendingBySender[entry.sender]?.items == 0 { pendingBySender[entry.sender] = nil }
            }
        case .committing:
            break
        }
    }
}
