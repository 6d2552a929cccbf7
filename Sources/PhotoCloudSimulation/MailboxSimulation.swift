import AsyncUDP
import PhotoCloudProtocol

/// The mailbox of three servers, a sender and a recipient, run from a seed
/// (as the ring's simulation is): the real `Mailbox` machine on each server,
/// a network that drops, duplicates, delays and partitions, servers that
/// crash (losing all but what they wrote) and restart, writes that take time.
/// The sender stores items as `MailboxClient` does (to every server, stored
/// once a majority says so); servers compare lists as `ServerActor+Mailbox`
/// does; the recipient picks up, applies idempotently and acknowledges.
///
/// The invariant: every item reported as stored is applied by the recipient,
/// once in effect, whatever happened; and once everything heals, no server
/// holds anything the recipient has acknowledged.
public struct MailboxSimulation {
    public enum Message: Sendable {
        case store(MailItem)
        case stored(MailID)
        case fetch
        case list([MailItem])
        case acknowledge([MailID])
        case syncList(held: [MailID], tombstones: [MailID])
        case syncFetch([MailID])
        case syncItems([MailItem])
    }

    /// A server: its machine (lost in a crash) and its disk (kept).
    struct Server {
        var box = Mailbox()
        var up = true
        var disk: [MailID: MailItem] = [:]
        var tombstones: Set<MailID> = []
        /// Writes under way: lost if the server crashes first. Each tells its asker, if one waits.
        var writes: [(at: Instant, item: MailItem?, buried: [MailID], notify: Int?)] = []
        var items: [MailID: MailItem] = [:]
    }

    static let sender = 10, recipient = 11
    let seed: UInt64
    var random: SeededRandom
    var network: SimulatedNetwork<Message>
    var now = Instant.zero
    var servers = [Server](repeating: Server(), count: 3)
    /// Items the sender still stores, and which servers said stored.
    var posting: [MailID: (item: MailItem, stored: Set<Int>, nextTry: Instant)] = [:]
    var reportedStored: Set<MailID> = []
    var sent: [MailItem] = []
    /// The recipient: what it applied (its effect), how often it was handed each, and whether it is online.
    var applied: Set<MailID> = []
    var handedOut: [MailID: Int] = [:]
    var recipientOnline = false
    var nextFetch = Instant.zero
    var nextSync = Instant.zero

    /// A known bug to plant: servers that say stored as soon as they start
    /// writing, before the write is on disk (a crash then loses what was
    /// reported stored).
    public var reportBeforeWrite = false
    /// The cloud's crashes and cuts, shared with the other worlds of one run,
    /// in place of this world's own: faults until its horizon, items sent in
    /// the first half; the recipient still comes and goes by this world's seed.
    public var cloudFaults: CloudFaults?
    var nextCloudFault = 0
    /// Steps run (10 ms each), and the step at which the first violation was seen (the end's checks count as the last).
    public private(set) var steps = 0
    public private(set) var firstViolationStep: Int?

    public init(seed: UInt64) {
        self.seed = seed
        random = SeededRandom(seed: seed)
        network = SimulatedNetwork(seed: seed, faults: .init(drop: 0.1, duplicate: 0.05, reorder: 0.1, delay: .milliseconds(2),
                                                            jitter: .milliseconds(5), seed: seed))
    }

    static func ms(_ value: Int) -> Duration { .milliseconds(value) }
    var wall: UInt64 { UInt64(now.nanoseconds / 1_000_000) }

    public mutating func run() -> (stored: Int, applied: Int, handedOutTwice: Int, violations: [String]) {
        var violations: [String] = []
        let end = Instant.zero + (cloudFaults?.horizon ?? .seconds(40))
        let itemsEnd = cloudFaults.map { Instant.zero + $0.horizon / 2 } ?? Instant.zero + .seconds(20)
        var nextFault = now + Self.ms(Int.random(in: 50...500, using: &random))
        var nextItem = now
        while now < end {
            // New items from the sender for the first half (20 s).
            if now >= nextItem, now < itemsEnd {
                let item = MailItem(recipient: "bob", sender: "alice", envelope: Array("grant \(sent.count) of run \(seed)".utf8))
                sent.append(item)
                posting[item.id] = (item, [], now)
                nextItem = now + Self.ms(Int.random(in: 20...300, using: &random))
            }
            if let plan = cloudFaults {
                for entry in plan.due(by: now, next: &nextCloudFault) { apply(entry.event) }
                if now >= nextFault {
                    if Int.random(in: 0..<7, using: &random) >= 5 { recipientOnline.toggle() }
                    nextFault = now + Self.ms(Int.random(in: 50...800, using: &random))
                }
            } else if now >= nextFault {
                fault()
                nextFault = now + Self.ms(Int.random(in: 50...800, using: &random))
            }
            tick()
            // Everything due now, then on to the next thing.
            while let at = network.nextDeliveryTime, at <= now, let delivery = network.nextDelivery() { deliver(delivery) }
            steps += 1
            if steps % 5 == 0 { violations += check() }
            if !violations.isEmpty, firstViolationStep == nil { firstViolationStep = steps }
            now = now + .milliseconds(10)
        }
        // Heal: everyone up, no partitions, the recipient online; let it settle.
        for index in servers.indices where !servers[index].up { restart(index) }
        for a in 0..<3 { for b in [a + 1, 2, Self.sender, Self.recipient] where b != a { network.partition(a, b, cut: false) } }
        network.partition(Self.sender, Self.recipient, cut: false)
        recipientOnline = true
        let settle = now + .seconds(20)
        while now < settle {
            tick()
            while let at = network.nextDeliveryTime, at <= now, let delivery = network.nextDelivery() { deliver(delivery) }
            steps += 1
            if steps % 5 == 0 { violations += check() }
            if !violations.isEmpty, firstViolationStep == nil { firstViolationStep = steps }
            now = now + .milliseconds(10)
        }
        for id in reportedStored.sorted() where !applied.contains(id) { violations.append("item \(id) was reported stored and never applied") }
        for (index, server) in servers.enumerated() {
            let left = server.box.heldIDs.filter { applied.contains($0) }
            if !left.isEmpty { violations.append("server \(index + 1) still holds \(left.count) acknowledged items after healing") }
        }
        for id in applied.sorted() where !sent.contains(where: { $0.id == id }) { violations.append("item \(id) applied but never sent") }
        if !violations.isEmpty, firstViolationStep == nil { firstViolationStep = steps }
        return (reportedStored.count, applied.count, handedOut.values.count { $0 > 1 }, violations)
    }

    // MARK: Faults

    mutating func fault() {
        switch Int.random(in: 0..<7, using: &random) {
        case 0, 1:
            // A crash (two servers may be down together, as after kill -9 of both), or a restart.
            let down = servers.indices.filter { !servers[$0].up }
            if down.count < 2, Bool.random(using: &random), let index = servers.indices.filter({ servers[$0].up }).randomElement(using: &random) {
                servers[index].up = false
                servers[index].writes = []   // unwritten work is lost
            } else if let index = down.randomElement(using: &random) {
                restart(index)
            }
        case 5:
            // Two servers killed together, writes under way on both lost.
            let up = servers.indices.filter { servers[$0].up }
            guard up.count == 3 else { return }
            for index in up.shuffled(using: &random).prefix(2) {
                servers[index].up = false
                servers[index].writes = []
            }
        case 2:
            let a = Int.random(in: 0..<3, using: &random), b = [Self.sender, Self.recipient, (a + 1) % 3].randomElement(using: &random)!
            network.partition(a, b, cut: true)
        case 3:
            for a in 0..<3 { for b in [0, 1, 2, Self.sender, Self.recipient] where b != a { network.partition(a, b, cut: false) } }
        default:
            recipientOnline.toggle()
        }
    }

    /// One of the cloud's faults: server n is `servers[n - 1]`.
    mutating func apply(_ event: CloudFaults.Event) {
        switch event {
        case .crash(let server):
            servers[server - 1].up = false
            servers[server - 1].writes = []   // unwritten work is lost
        case .restart(let server):
            restart(server - 1)
        case .cut(let link), .heal(let link):
            let isCut = if case .cut = event { true } else { false }
            for (a, b) in CloudFaults.nodePairs(link, clients: [Self.sender, Self.recipient]) { network.partition(a, b, cut: isCut) }
        }
    }

    mutating func restart(_ index: Int) {
        var server = Server()
        server.disk = servers[index].disk
        server.tombstones = servers[index].tombstones
        server.items = servers[index].disk
        server.box.load(server.disk.map { ($0.key, Mailbox.Entry(recipient: $0.value.recipient, bytes: $0.value.heldBytes, storedAt: 0, state: .held)) },
                        tombstones: server.tombstones.map { ($0, 0) })
        servers[index] = server
    }

    // MARK: Steps

    mutating func tick() {
        // Writes that finished: on disk now, and counted as stored (the asker told).
        for index in servers.indices where servers[index].up {
            let due = servers[index].writes.filter { $0.at <= now }
            servers[index].writes.removeAll { $0.at <= now }
            for write in due {
                if let item = write.item, !servers[index].tombstones.contains(item.id) {
                    servers[index].disk[item.id] = item
                    servers[index].box.committed(item.id)
                    if let asker = write.notify { network.send(.stored(item.id), from: index, to: asker, now: now) }
                }
                for id in write.buried {
                    servers[index].disk[id] = nil
                    servers[index].tombstones.insert(id)
                }
            }
        }
        // The sender stores (again) what is not stored yet, to every server.
        // In a fixed order (a dictionary's order changes from process to process, and with it the network's draws).
        for id in posting.keys.sorted() where posting[id]!.nextTry <= now {
            let entry = posting[id]!
            for server in 0..<3 where !entry.stored.contains(server) { network.send(.store(entry.item), from: Self.sender, to: server, now: now) }
            posting[id]?.nextTry = now + Self.ms(200)
        }
        if recipientOnline, now >= nextFetch {
            nextFetch = now + Self.ms(500)
            for server in 0..<3 { network.send(.fetch, from: Self.recipient, to: server, now: now) }
        }
        if now >= nextSync {
            nextSync = now + Self.ms(300)
            for index in servers.indices where servers[index].up {
                for other in 0..<3 where other != index {
                    network.send(.syncList(held: servers[index].box.heldIDs, tombstones: servers[index].box.tombstoneIDs), from: index, to: other, now: now)
                }
            }
        }
    }

    mutating func deliver(_ delivery: SimulatedNetwork<Message>.Delivery) {
        let to = delivery.to, from = delivery.from
        switch delivery.message {
        case .stored(let id):
            guard to == Self.sender, var entry = posting[id] else { return }
            entry.stored.insert(from)
            posting[id] = entry
            if entry.stored.count >= 2 {
                reportedStored.insert(id)
                posting[id] = nil
            }
        case .list(let items):
            guard to == Self.recipient, recipientOnline else { return }
            var done: [MailID] = []
            for item in items {
                handedOut[item.id, default: 0] += 1
                applied.insert(item.id)   // idempotent: a second copy changes nothing
                done.append(item.id)
            }
            if !done.isEmpty { for server in 0..<3 { network.send(.acknowledge(done), from: Self.recipient, to: server, now: now) } }
        default:
            guard (0..<3).contains(to), servers[to].up else { return }
            serve(delivery.message, at: to, from: from)
        }
    }

    mutating func serve(_ message: Message, at index: Int, from: Int) {
        switch message {
        case .store(let item):
            take(item, at: index, notify: from)
        case .fetch:
            let items = servers[index].box.held(for: "bob").compactMap { servers[index].items[$0] }
            network.send(.list(items), from: index, to: from, now: now)
        case .acknowledge(let ids):
            let removed = servers[index].box.acknowledged(ids, by: "bob", now: wall)
            servers[index].writes.append((now + Self.ms(Int.random(in: 1...20, using: &random)), nil, removed, nil))
        case .syncList(let held, let tombstones):
            let fresh = tombstones.filter { !servers[index].box.isTombstoned($0) }
            for id in fresh { _ = servers[index].box.buried(id, at: wall) }
            if !fresh.isEmpty { servers[index].writes.append((now + Self.ms(5), nil, fresh, nil)) }
            let missing = held.filter { servers[index].box.entries[$0] == nil && !servers[index].box.isTombstoned($0) }
            if !missing.isEmpty { network.send(.syncFetch(missing), from: index, to: from, now: now) }
        case .syncFetch(let ids):
            network.send(.syncItems(ids.compactMap { servers[index].box.entries[$0]?.state == .held ? servers[index].items[$0] : nil }),
                         from: index, to: from, now: now)
        case .syncItems(let items):
            for item in items { take(item, at: index, notify: nil) }
        case .stored, .list:
            return
        }
    }

    /// As a server does with an item: the machine decides; a write takes a while; the asker hears once it is done.
    mutating func take(_ item: MailItem, at index: Int, notify: Int?) {
        switch servers[index].box.store(item, now: wall) {
        case .stored:
            if let notify { network.send(.stored(item.id), from: index, to: notify, now: now) }
        case .commit:
            servers[index].items[item.id] = item
            if reportBeforeWrite, let notify {
                network.send(.stored(item.id), from: index, to: notify, now: now)
                servers[index].writes.append((now + Self.ms(Int.random(in: 1...150, using: &random)), item, [], nil))
                return
            }
            servers[index].writes.append((now + Self.ms(Int.random(in: 1...150, using: &random)), item, [], notify))
        default:
            return
        }
    }

    /// Each step: no server counts as held what is not on its disk, nor holds what it buried.
    func check() -> [String] {
        var out: [String] = []
        for (index, server) in servers.enumerated() where server.up {
            for id in server.box.heldIDs where server.disk[id] == nil {
                out.append("server \(index + 1) counts \(id) as held but never wrote it")
            }
            for id in server.tombstones where server.box.entries[id] != nil {
                out.append("server \(index + 1) holds \(id), which it buried")
            }
        }
        return out
    }
}
