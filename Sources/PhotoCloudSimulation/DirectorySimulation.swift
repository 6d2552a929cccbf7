import AsyncUDP
import Crypto
import PhotoCloudProtocol

/// Who is online, from a seed: three servers' `Directory` machines; alice,
/// bob and carol register with every server every second (their heartbeat,
/// each record signed and numbered), go away and come back; mallory claims
/// alice's name with his own key and replays alice's older records; servers
/// pass their records to each other (`merge`), crash and restart with the
/// bindings they wrote (`restore`); the network loses, duplicates, reorders,
/// delays and flips bits.
///
/// The invariants, after every step: no server binds a name to a key other
/// than its owner's; a server's record of a user only moves to newer ones
/// (and after a restart, never behind what it wrote); every record a server
/// holds is signed by the key it binds. After the faults stop: every server
/// sees each user who is still registering as online.
public struct DirectorySimulation {
    public struct Outcome: Sendable {
        public var records = 0
        public var bound = 0
        public var refused = 0
        public var stale = 0
        public var crashes = 0
        public var steps = 0
        public var violations: [String] = []
        public var firstViolationStep: Int?
    }

    enum Message: Sendable {
        case register(Directory.Record)
        case merge(Directory.Record)
    }

    struct Server {
        var directory = Directory()
        var up = true
        /// What it wrote: the newest record it took for each name (bindings survive a crash).
        var disk: [String: Directory.Record] = [:]
    }

    struct User {
        let key: Curve25519.Signing.PrivateKey
        var sequence: UInt64
        var online = true
        var sent: [Directory.Record] = []
    }

    static let userNames = ["alice", "bob", "carol"]
    static let mallory = 9
    /// A known bug to plant: servers that let a validly self-signed record take a name held by another key.
    public var letNamesBeTaken = false
    /// The cloud's crashes and cuts, shared with the other worlds of one run,
    /// in place of this world's own (users still come and go by its seed).
    public var cloudFaults: CloudFaults?
    var nextCloudFault = 0
    var random: SeededRandom
    var network: SimulatedNetwork<Message>
    var now = Instant.zero
    var servers = [Server](repeating: Server(), count: 3)
    var users: [User] = []
    let malloryKey: Curve25519.Signing.PrivateKey
    let agreement = [UInt8](repeating: 7, count: 32)
    var outcome = Outcome()
    /// The records whose signatures `check` verified already (a signature check is the costly part of a step).
    var verified: Set<[UInt8]> = []

    public init(seed: UInt64) {
        random = SeededRandom(seed: seed)
        network = SimulatedNetwork(seed: seed, faults: FaultProfile(drop: 0.1, duplicate: 0.05, reorder: 0.1, corrupt: 0.02,
                                                                   delay: .milliseconds(2), jitter: .milliseconds(20)))
        network.corrupt = { message, planner in
            switch message {
            case .register(var record): record.signature = planner.corrupted(record.signature); return .register(record)
            case .merge(var record): record.signature = planner.corrupted(record.signature); return .merge(record)
            }
        }
        var keys = SeededRandom(seed: seed ^ 0x6469_7265)
        users = Self.userNames.map { _ in User(key: keys.signingKey(), sequence: 1_000) }
        malloryKey = keys.signingKey()
    }

    /// `seconds` of faults, then 10 s with every server up and every user online.
    public mutating func run(seconds: Int) -> Outcome {
        let faultsEnd = Instant.zero + .seconds(Int64(seconds)), end = faultsEnd + .seconds(10)
        var nextBeat = [Instant](repeating: now, count: users.count)
        var nextFault = now + .milliseconds(200), nextSync = now, nextAttack = now + .milliseconds(500)
        while now < end {
            for index in users.indices where now >= nextBeat[index] {
                if users[index].online { beat(index) }
                nextBeat[index] = now + .milliseconds(1_000)
            }
            if now >= nextAttack, now < faultsEnd {
                attack()
                nextAttack = now + .milliseconds(Int64(100 + random.next() % 400))
            }
            if let plan = cloudFaults {
                for entry in plan.due(by: now, next: &nextCloudFault) { apply(entry.event) }
            }
            if now >= nextFault {
                if now < faultsEnd { fault() } else { heal() }
                nextFault = now + .milliseconds(Int64(100 + random.next() % 700))
            }
            if now >= nextSync {
                sync()
                nextSync = now + .milliseconds(500)
            }
            while let at = network.nextDeliveryTime, at <= now, let delivery = network.nextDelivery() { deliver(delivery) }
            outcome.steps += 1
            check()
            now = now + .milliseconds(5)
        }
        // Settled: every server sees every registering user online.
        for (index, server) in servers.enumerated() {
            for (number, name) in Self.userNames.enumerated() where users[number].online && !server.directory.isOnline(name, now: now) {
                violation("after healing, server \(index + 1) does not see \(name) online")
            }
        }
        return outcome
    }

    mutating func beat(_ index: Int) {
        users[index].sequence += 1 + random.next() % 50
        let record = try! Directory.Record(name: Self.userNames[index], signingKey: Array(users[index].key.publicKey.rawRepresentation),
                                           agreementKey: agreement, endpoint: "10.0.0.\(index + 1):7000", sequence: users[index].sequence)
            .signed(with: users[index].key)
        users[index].sent.append(record)
        outcome.records += 1
        for server in servers.indices { network.send(.register(record), from: 10 + index, to: server, now: now) }
    }

    mutating func attack() {
        let victim = Int(random.next() % UInt64(users.count)), server = Int(random.next() % 3)
        // A name its owner already holds there (before that, taking it first is not theft: names are first come).
        guard servers[server].directory.entries[Self.userNames[victim]] != nil else { return }
        let record: Directory.Record
        if random.next() % 2 == 0 || users[victim].sent.isEmpty {
            // The name, with mallory's own key (validly signed by it) and a sequence far ahead.
            record = try! Directory.Record(name: Self.userNames[victim], signingKey: Array(malloryKey.publicKey.rawRepresentation),
                                           agreementKey: agreement, endpoint: "10.6.6.6:6666", sequence: users[victim].sequence + 1_000_000)
                .signed(with: malloryKey)
        } else {
            // A replay of one of the owner's older records.
            record = users[victim].sent[Int(random.next() % UInt64(users[victim].sent.count))]
        }
        network.send(random.next() % 2 == 0 ? .register(record) : .merge(record), from: Self.mallory, to: server, now: now)
    }

    mutating func fault() {
        let kind = random.next() % 6
        // The cloud's plan crashes and cuts; this world's own draws only move its users.
        if cloudFaults != nil, kind != 3 { return }
        switch kind {
        case 0:
            let index = Int(random.next() % 3)
            if servers[index].up, servers.filter(\.up).count > 1 {
                servers[index].up = false
                outcome.crashes += 1
            } else if !servers[index].up {
                restart(index)
            }
        case 1:
            let a = Int(random.next() % 3), b = [10, 11, 12, (a + 1) % 3][Int(random.next() % 4)]
            network.partition(a, b)
        case 2:
            for a in 0..<3 { for b in [0, 1, 2, 10, 11, 12] where b != a { network.partition(a, b, cut: false) } }
        case 3:
            let index = Int(random.next() % UInt64(users.count))
            users[index].online.toggle()
        default:
            break
        }
    }

    /// One of the cloud's faults: server n is `servers[n - 1]`; its clients are the users and mallory.
    mutating func apply(_ event: CloudFaults.Event) {
        switch event {
        case .crash(let server):
            servers[server - 1].up = false
            outcome.crashes += 1
        case .restart(let server):
            restart(server - 1)
        case .cut(let link), .heal(let link):
            let isCut = if case .cut = event { true } else { false }
            for (a, b) in CloudFaults.nodePairs(link, clients: [10, 11, 12, Self.mallory]) { network.partition(a, b, cut: isCut) }
        }
    }

    mutating func heal() {
        for index in servers.indices where !servers[index].up { restart(index) }
        for a in 0..<3 { for b in [0, 1, 2, 10, 11, 12] where b != a { network.partition(a, b, cut: false) } }
        for index in users.indices { users[index].online = true }
    }

    mutating func restart(_ index: Int) {
        var server = Server()
        server.disk = servers[index].disk
        for name in server.disk.keys.sorted() { server.directory.restore(server.disk[name]!) }
        servers[index] = server
    }

    mutating func sync() {
        for index in servers.indices where servers[index].up {
            for name in servers[index].directory.entries.keys.sorted() {
                let record = servers[index].directory.entries[name]!.record
                for other in servers.indices where other != index { network.send(.merge(record), from: index, to: other, now: now) }
            }
        }
    }

    mutating func deliver(_ delivery: SimulatedNetwork<Message>.Delivery) {
        let index = delivery.to
        guard (0..<3).contains(index), servers[index].up else { return }
        let record: Directory.Record, result: Directory.Outcome
        switch delivery.message {
        case .register(let sent):
            record = sent
            result = take(record, at: index, merging: false)
        case .merge(let sent):
            record = sent
            result = take(record, at: index, merging: true)
        }
        switch result {
        case .bound, .accepted, .updated:
            outcome.bound += 1
            // Written before it counts (as the server's store does).
            servers[index].disk[record.name] = servers[index].directory.entries[record.name]?.record
        case .stale: outcome.stale += 1
        default: outcome.refused += 1
        }
    }

    mutating func take(_ record: Directory.Record, at index: Int, merging: Bool) -> Directory.Outcome {
        let result = merging ? servers[index].directory.merge(record, age: .milliseconds(100), now: now)
            : servers[index].directory.register(record, now: now)
        // The planted bug: a name held by another key is given to this record's key, if it signed the record.
        if letNamesBeTaken, case .refused = result, let held = servers[index].directory.entries[record.name]?.record,
           held.signingKey != record.signingKey, record.hasValidSignature {
            servers[index].directory.unbind(record.name, key: held.signingKey)
            return servers[index].directory.register(record, now: now)
        }
        return result
    }

    mutating func check() {
        for (index, server) in servers.enumerated() where server.up {
            for (number, name) in Self.userNames.enumerated() {
                guard let held = server.directory.entries[name]?.record else { continue }
                let owner = Array(users[number].key.publicKey.rawRepresentation)
                if held.signingKey != owner {
                    violation("server \(index + 1) binds \(name) to a key that is not \(name)'s")
                } else if !verified.contains(held.signature) {
                    if held.hasValidSignature { verified.insert(held.signature) } else {
                        violation("server \(index + 1) holds a record of \(name) its key did not sign")
                    }
                } else if let written = server.disk[name], held.sequence < written.sequence {
                    violation("server \(index + 1) holds \(name)'s record \(held.sequence), behind the \(written.sequence) it wrote")
                }
            }
        }
    }

    mutating func violation(_ text: String) {
        outcome.violations.append("at \(now): \(text)")
        if outcome.firstViolationStep == nil { outcome.firstViolationStep = outcome.steps }
    }
}
