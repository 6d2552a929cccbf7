import AsyncUDP
import Crypto
import PhotoCloudProtocol

/// A photo's view rights under faults, from a seed: the owner (alice) sends
/// signed, versioned grants to the receiver (bob), over a network that loses,
/// duplicates, reorders, delays and flips bits, and resends them; a forger
/// (mallory) sends grants signed with his own key, replays of alice's older
/// grants, and alice's grants meant for carol. bob applies what arrives with
/// `ViewRights.apply` and views the photo now and then with
/// `ViewRights.viewed`; he crashes and restarts with what his store had
/// written (every change is written before it counts).
///
/// The invariant, after every step: bob's views change only by a view (one
/// fewer, the same version, never below zero) or by a newer grant alice
/// signed for him and this photo (exactly its views and version).
public struct GrantSimulation {
    public struct Outcome: Sendable {
        public var issued = 0
        public var applied = 0
        public var stale = 0
        public var refused = 0
        public var views = 0
        public var viewsRefused = 0
        public var crashes = 0
        public var steps = 0
        public var violations: [String] = []
        public var firstViolationStep: Int?
    }

    enum Node { static let alice = 0, bob = 1, mallory = 2 }

    /// A known bug to plant: a receiver that applies any grant alice signed, newer or not.
    public var applyOlderGrants = false
    let seed: UInt64
    var random: SeededRandom
    var network: SimulatedNetwork<Grant>
    var now = Instant.zero
    let photo: PhotoID
    let alice: Curve25519.Signing.PrivateKey
    let mallory: Curve25519.Signing.PrivateKey
    /// Every grant alice signed, for bob or for carol.
    var signed: [Grant] = []
    var bobRights: ViewRights?
    var bobUp = true
    var outcome = Outcome()

    public init(seed: UInt64) {
        self.seed = seed
        random = SeededRandom(seed: seed)
        network = SimulatedNetwork(seed: seed, faults: FaultProfile(drop: 0.1, duplicate: 0.05, reorder: 0.1, corrupt: 0.02,
                                                                   delay: .milliseconds(2), jitter: .milliseconds(20)))
        // Bits flipped anywhere in a grant make its signature fail; flipping the signature's stands for all of them.
        network.corrupt = { grant, planner in
            var copy = grant
            copy.signature = planner.corrupted(grant.signature)
            return copy
        }
        var keys = SeededRandom(seed: seed ^ 0x6B65_7973)
        alice = keys.signingKey()
        mallory = keys.signingKey()
        photo = PhotoID.of(owner: "alice", file: keys.bytes(64))
    }

    /// Runs `grants` of alice's grants to bob (and some to carol) with the faults, then lets the network drain.
    public mutating func run(grants: Int) -> Outcome {
        var version: [String: UInt64] = ["bob": 0, "carol": 0]
        var nextGrant = now, nextView = now, nextForgery = now, nextFault = now + .milliseconds(100)
        let end = Instant.zero + .milliseconds(Int64(grants) * 120) + .seconds(2)
        while now < end || network.inFlight > 0 {
            if now >= nextGrant, outcome.issued < grants {
                let receiver = random.next() % 5 == 0 ? "carol" : "bob"
                version[receiver]! += 1
                let grant = try! Grant(photo: photo, owner: "alice", receiver: receiver, views: UInt32(random.next() % 6),
                                       version: version[receiver]!).signed(with: alice)
                signed.append(grant)
                if receiver == "bob" { outcome.issued += 1 }
                network.send(grant, from: Node.alice, to: Node.bob, now: now)
                // alice resends one of her recent grants to bob now and then (a retry after a lost answer).
                if let old = signed.suffix(4).last(where: { $0.receiver == "bob" }), random.next() % 3 == 0 {
                    network.send(old, from: Node.alice, to: Node.bob, now: now)
                }
                nextGrant = now + .milliseconds(Int64(20 + random.next() % 180))
            }
            if now >= nextForgery, now < end {
                forge()
                nextForgery = now + .milliseconds(Int64(30 + random.next() % 200))
            }
            if now >= nextView, now < end {
                view()
                nextView = now + .milliseconds(Int64(10 + random.next() % 100))
            }
            if now >= nextFault, now < end {
                // bob's daemon crashes and comes back: his store keeps what it wrote; messages to a down daemon are lost.
                if bobUp, random.next() % 4 == 0 { bobUp = false; outcome.crashes += 1 } else { bobUp = true }
                nextFault = now + .milliseconds(Int64(50 + random.next() % 400))
            }
            while let at = network.nextDeliveryTime, at <= now, let delivery = network.nextDelivery() {
                guard bobUp, delivery.to == Node.bob else { continue }
                receive(delivery.message)
            }
            outcome.steps += 1
            now = now + .milliseconds(1)
            if outcome.steps > 10_000_000 { outcome.violations.append("no end after \(outcome.steps) steps"); break }
        }
        return outcome
    }

    mutating func forge() {
        switch random.next() % 3 {
        case 0:
            // Signed with mallory's own key, claiming alice's word.
            let forged = try! Grant(photo: photo, owner: "alice", receiver: "bob", views: 5, version: UInt64.max / 2).signed(with: mallory)
            network.send(forged, from: Node.mallory, to: Node.bob, now: now)
        case 1:
            // A replay of an older grant of alice's to bob.
            let mine = signed.filter { $0.receiver == "bob" }
            if !mine.isEmpty { network.send(mine[Int(random.next() % UInt64(mine.count))], from: Node.mallory, to: Node.bob, now: now) }
        default:
            // alice's grant to carol, sent to bob.
            if let theirs = signed.last(where: { $0.receiver == "carol" }) { network.send(theirs, from: Node.mallory, to: Node.bob, now: now) }
        }
    }

    mutating func receive(_ grant: Grant) {
        let before = bobRights
        let outcome = applyOlderGrants ? Self.applyAnySigned(grant, photo: photo, ownerKey: alicePublic)
            : ViewRights.apply(grant, to: bobRights, photo: photo, owner: "alice", receiver: "bob", ownerKey: alicePublic)
        switch outcome {
        case .applied(let rights):
            bobRights = rights
            self.outcome.applied += 1
        case .stale: self.outcome.stale += 1
        case .refused: self.outcome.refused += 1
        }
        check(before: before, after: bobRights, cause: .grant(grant))
    }

    mutating func view() {
        guard bobUp, let rights = bobRights else { return }
        let before = rights
        do {
            bobRights = try rights.viewed(photo: photo, owner: "alice")
            outcome.views += 1
        } catch {
            outcome.viewsRefused += 1
        }
        check(before: before, after: bobRights, cause: .view)
    }

    var alicePublic: [UInt8] { Array(alice.publicKey.rawRepresentation) }

    /// The planted bug: alice's signature and the addressing checked, the version not.
    static func applyAnySigned(_ grant: Grant, photo: PhotoID, ownerKey: [UInt8]) -> ViewRights.GrantOutcome {
        guard grant.photo == photo, grant.owner == "alice", grant.receiver == "bob", grant.isSigned(by: ownerKey) else { return .refused("") }
        return .applied(ViewRights(viewsLeft: grant.views, version: grant.version))
    }

    enum Cause { case view, grant(Grant) }

    mutating func check(before: ViewRights?, after: ViewRights?, cause: Cause) {
        guard before != after else { return }
        var problem: String?
        switch cause {
        case .view:
            if let before, let after, !(after.viewsLeft + 1 == before.viewsLeft && after.version == before.version) {
                problem = "a view took bob from \(before.viewsLeft) views (version \(before.version)) to \(after.viewsLeft) (version \(after.version))"
            }
        case .grant(let grant):
            let genuine = signed.contains { $0 == grant } && grant.receiver == "bob" && grant.photo == photo
            if !genuine {
                problem = "a grant alice did not sign for bob changed his views to \(after?.viewsLeft ?? 0)"
            } else if let before, grant.version <= before.version {
                problem = "grant version \(grant.version), not newer than the \(before.version) bob held, set his views from \(before.viewsLeft) to \(after?.viewsLeft ?? 0)"
            } else if after != ViewRights(viewsLeft: grant.views, version: grant.version) {
                problem = "grant version \(grant.version) of \(grant.views) views left bob with \(String(describing: after))"
            }
        }
        if let problem {
            outcome.violations.append("at \(now): \(problem)")
            if outcome.firstViolationStep == nil { outcome.firstViolationStep = outcome.steps }
        }
    }
}
