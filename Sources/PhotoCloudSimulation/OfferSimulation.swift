import AsyncUDP
import Crypto
import PhotoCloudProtocol

/// Photos sent from one peer to another, from a seed: alice offers photos to
/// bob through the real peer conversation (`PeerLink`: signed envelopes,
/// encoded and decoded, retried until answered, a repeated call answered
/// from the reply given), bob's `PhotoOffers` decides, alice sends the stego
/// bytes through a transfer (`TransferSender` and `TransferReceiver` under
/// the same faults, with bits flipped past the datagram check:
/// `TransferSimulation`), bob opens and stores them, and alice asks `status`
/// until bob says stored, as `PeerActor` does. The network loses,
/// duplicates, reorders, delays and flips bits; bob crashes and restarts
/// with what his store wrote (his conversation and offers are lost).
///
/// The invariants: a call is handled at most once by one run of bob's
/// process (a repeat is answered, not handled again); bob stores a photo
/// only with the bytes alice sent for it and the views of a grant alice
/// signed for it (checked at every write to his store, the only moments it
/// changes); alice is told "stored" only for a photo bob's store holds;
/// every send ends (stored, or failed with a reason).
public struct OfferSimulation {
    public struct Outcome: Sendable {
        public var sends = 0
        public var stored = 0
        public var failed = 0
        public var handled = 0
        public var repeats = 0
        public var transfers = 0
        /// Status calls bob held while opening the photo, and `pending` answers alice got (held past 800 ms).
        public var statusHeld = 0
        public var pendingAnswers = 0
        public var crashes = 0
        public var steps = 0
        public var violations: [String] = []
        public var firstViolationStep: Int?
    }

    enum Node { static let alice = 0, bob = 1 }

    /// One photo alice sends: where its send stands.
    struct Send {
        enum Stage: Equatable {
            case waiting(Instant)
            case offering(nonce: UInt64)
            /// The stego bytes on their way; `endTransfers` moves it on when the transfer ends.
            case transferring
            case pausing(until: Instant)
            case asking(nonce: UInt64)
            case stored
            case failed(String)
        }
        let photo: PhotoID
        let file: [UInt8]
        let offer: PeerMessage.Offer
        var stage: Stage
        /// Set when alice starts asking `status`: she gives up a minute later, as `PeerActor` does.
        var statusDeadline: Instant?
        /// The pause before asking again after `pending`: 5 ms, doubling up to 40 ms.
        var pause = Duration.milliseconds(5)
    }

    /// A known bug to plant: bob handles a repeated call again instead of answering it from the reply he gave.
    public var handleRepeats = false
    let seed: UInt64
    var random: SeededRandom
    var network: SimulatedNetwork<[UInt8]>
    let faults: FaultProfile
    var now = Instant.zero
    let aliceKey: Curve25519.Signing.PrivateKey
    let bobKey: Curve25519.Signing.PrivateKey
    var aliceLink = PeerLink<Int>(me: "alice")
    var bobLink = PeerLink<Int>(me: "bob")
    var bobOffers = PhotoOffers()
    var bobUp = true
    /// bob's store: written before it counts, kept through crashes.
    var bobStore: [PhotoID: (file: [UInt8], rights: ViewRights)] = [:]
    /// Each run of bob's process, and the calls it handled: (sender, nonce, run).
    var bobRun = 0
    var handled: Set<[UInt64]> = []
    var sends: [Send] = []
    var nextNonce: UInt64 = 1
    var nextTransfer: UInt64 = 1
    var outcome = Outcome()

    public init(seed: UInt64) {
        self.seed = seed
        random = SeededRandom(seed: seed)
        faults = FaultProfile(drop: 0.1, duplicate: 0.05, reorder: 0.1, corrupt: 0.02, delay: .milliseconds(2), jitter: .milliseconds(10))
        network = SimulatedNetwork(seed: seed, faults: faults)
        network.corrupt = { bytes, planner in planner.corrupted(bytes) }
        var keys = SeededRandom(seed: seed ^ 0x6F66_6665)
        aliceKey = keys.signingKey()
        bobKey = keys.signingKey()
    }

    static let step = Duration.milliseconds(2)
    var wallClock: UInt64 { 1_800_000_000_000 + UInt64(now.nanoseconds / 1_000_000) }

    /// `photos` sends over the first `seconds`, bob crashing now and then; then time for every send to end.
    public mutating func run(photos: Int, seconds: Int) -> Outcome {
        let faultsEnd = Instant.zero + .seconds(Int64(seconds))
        for index in 0..<photos {
            var bytes = SeededRandom(seed: seed &+ UInt64(index) &* 0x9E37)
            let file = bytes.bytes(200 + Int(bytes.next() % 3_000))
            let photo = PhotoID.of(owner: "alice", file: file)
            let views = UInt32(1 + random.next() % 5)
            let grant = try! Grant(photo: photo, owner: "alice", receiver: "bob", views: views, version: UInt64(index + 1)).signed(with: aliceKey)
            let stego = Self.stego(of: file)
            let offer = PeerMessage.Offer(id: UInt64(1_000 + index), photo: photo, stegoBytes: UInt64(stego.count), grant: grant)
            let start = Instant.zero + .milliseconds(Int64(random.next() % UInt64(seconds * 1_000)))
            sends.append(Send(photo: photo, file: file, offer: offer, stage: .waiting(start)))
        }
        outcome.sends = photos
        var nextFault = now + .milliseconds(Int64(200 + random.next() % 1_500))
        let end = faultsEnd + .seconds(100)   // a transfer ends within 30 s, then status is asked for a minute at most
        while now < end, sends.contains(where: { $0.stage != .stored && !Self.isFailed($0.stage) }) {
            if now >= nextFault, now < faultsEnd {
                crashOrRestartBob()
                nextFault = now + .milliseconds(Int64(200 + random.next() % 1_500))
            } else if now >= faultsEnd, !bobUp {
                restartBob()
            }
            while let at = network.nextDeliveryTime, at <= now, let delivery = network.nextDelivery() { deliver(delivery) }
            for directive in aliceLink.tick(now: now) { aliceDirective(directive) }
            if bobUp { for directive in bobLink.tick(now: now) { bobDirective(directive) } }
            for index in sends.indices { advance(index) }
            endTransfers()
            bobTick()
            outcome.steps += 1
            now = now + Self.step
        }
        for send in sends where send.stage != .stored && !Self.isFailed(send.stage) {
            violation("every send ends", "the send of \(send.photo) never ended (\(send.stage))")
        }
        return outcome
    }

    /// What alice sends: the photo sealed (here: the file and its digest, which bob checks as `PeerSeal.open` does).
    static func stego(of file: [UInt8]) -> [UInt8] { file + Array(SHA256.hash(data: file)) }

    static func isFailed(_ stage: Send.Stage) -> Bool { if case .failed = stage { true } else { false } }

    // MARK: alice

    mutating func advance(_ index: Int) {
        let send = sends[index]
        switch send.stage {
        case .waiting(let at) where now >= at:
            sends[index].stage = .offering(nonce: call(.offer(send.offer)))
        case .pausing(let until) where now >= until:
            sends[index].stage = .asking(nonce: call(.status(offer: send.offer.id)))
        default:
            break
        }
        if case .pausing = sends[index].stage, let deadline = send.statusDeadline, now >= deadline {
            sends[index].stage = .failed("bob did not confirm the photo within a minute")
            outcome.failed += 1
        }
    }

    /// A call from alice to bob: its nonce.
    mutating func call(_ message: PeerMessage) -> UInt64 {
        let nonce = nextNonce
        nextNonce += 1
        let envelope = try! PeerEnvelope(from: "alice", to: "bob", sentAt: wallClock, nonce: nonce, message: message).signed(with: aliceKey)
        let directives = try! aliceLink.call(nonce: nonce, peer: "bob", bytes: envelope.encoded(), to: Node.bob, now: now)
        for directive in directives { aliceDirective(directive) }
        return nonce
    }

    mutating func aliceDirective(_ directive: PeerLink<Int>.Directive) {
        switch directive {
        case .send(let bytes, let to):
            network.send(bytes, from: Node.alice, to: to, now: now)
        case .answered(let nonce, let reply):
            answered(nonce, reply.message)
        case .failed(let nonce, let why):
            guard let index = sends.firstIndex(where: { $0.stage == .offering(nonce: nonce) || $0.stage == .asking(nonce: nonce) }) else { return }
            sends[index].stage = .failed(why)
            outcome.failed += 1
        }
    }

    mutating func answered(_ nonce: UInt64, _ reply: PeerMessage) {
        guard let index = sends.firstIndex(where: { $0.stage == .offering(nonce: nonce) || $0.stage == .asking(nonce: nonce) }) else { return }
        let asking = sends[index].stage == .asking(nonce: nonce)
        switch reply {
        case .ok:
            sends[index].stage = .stored
            outcome.stored += 1
            if bobStore[sends[index].photo] == nil {
                violation("alice is told stored only for what bob holds", "bob said \(sends[index].photo) was stored, and his store does not hold it")
            }
        case .pull(let transfer) where !asking:
            self.transfer(index, id: transfer)
        case .pending where asking:
            outcome.pendingAnswers += 1
            sends[index].stage = .pausing(until: now + sends[index].pause)
            sends[index].pause = min(sends[index].pause * 2, .milliseconds(40))
        case .refused(let why):
            sends[index].stage = .failed(why)
            outcome.failed += 1
        default:
            sends[index].stage = .failed("an unexpected reply: \(reply)")
            outcome.failed += 1
        }
    }

    /// The stego bytes through a transfer under the same faults, run on the real machines to its end; bob takes what
    /// it delivered when it ends, if his process still runs then and has not restarted meanwhile.
    mutating func transfer(_ index: Int, id: UInt64) {
        outcome.transfers += 1
        let stego = Self.stego(of: sends[index].file)
        var simulation = TransferSimulation(seed: random.next(), faults: FaultProfile(drop: 0.05, duplicate: 0.02, reorder: 0.05, corrupt: 0.003,
                                                                                    delay: .milliseconds(1), jitter: .milliseconds(1)))
        let sender = try! TransferSender(transferID: id, data: stego, configuration: .init(chunkSize: 1_200, idleTimeout: .seconds(5)))
        simulation.add(sender)
        let ended = simulation.run(limit: .seconds(30))
        sends[index].stage = .transferring
        // Time passes for the rest of the world while the transfer runs: its end is applied when the clock gets there.
        pendingTransfers.append((now + ended.finishedAt.since(.zero), index, id, ended.completed[id] != nil ? ended.delivered[id] : nil, bobRun))
    }

    var pendingTransfers: [(at: Instant, send: Int, id: UInt64, delivered: [UInt8]?, bobRun: Int)] = []

    mutating func endTransfers() {
        while let next = pendingTransfers.indices.min(by: { pendingTransfers[$0].at < pendingTransfers[$1].at }), pendingTransfers[next].at <= now {
            let ended = pendingTransfers.remove(at: next)
            guard let bytes = ended.delivered, bobUp, bobRun == ended.bobRun else {
                sends[ended.send].stage = .failed("sending the photo to bob failed")
                outcome.failed += 1
                continue
            }
            bobReceived(transfer: ended.id, bytes)
            sends[ended.send].statusDeadline = now + .seconds(60)
            sends[ended.send].stage = .asking(nonce: call(.status(offer: sends[ended.send].offer.id)))
        }
    }

    // MARK: bob

    mutating func deliver(_ delivery: SimulatedNetwork<[UInt8]>.Delivery) {
        guard let envelope = try? PeerEnvelope.decode(delivery.message[...]) else { return }
        if delivery.to == Node.alice {
            guard aliceLink.precheck(envelope, wallClock: wallClock) == nil, envelope.isSigned(by: Array(bobKey.publicKey.rawRepresentation)),
                  case .reply(let directives) = aliceLink.accept(envelope, from: delivery.from, now: now) else { return }
            for directive in directives { aliceDirective(directive) }
            return
        }
        guard bobUp, bobLink.precheck(envelope, wallClock: wallClock) == nil,
              envelope.isSigned(by: Array(aliceKey.publicKey.rawRepresentation)) else { return }
        switch bobLink.accept(envelope, from: delivery.from, now: now) {
        case .call(let call):
            handle(call, from: delivery.from)
        case .repeated(let directives):
            outcome.repeats += 1
            if handleRepeats {
                handle(envelope, from: delivery.from)
            } else {
                for directive in directives { bobDirective(directive) }
            }
        case .reply, .dropped:
            break
        }
    }

    mutating func handle(_ call: PeerEnvelope, from address: Int) {
        outcome.handled += 1
        if !handled.insert([UInt64(address), call.nonce, UInt64(bobRun)]).inserted {
            violation("a call is handled once", "bob handled alice's call \(call.nonce) twice in one run of his process")
        }
        let reply: PeerMessage
        switch call.message {
        case .offer(let offer):
            let held = bobStore[offer.photo].map { (owner: "alice", rights: $0.rights) }
            let keys = (signingKey: Array(aliceKey.publicKey.rawRepresentation), agreementKey: [UInt8](repeating: 0, count: 32))
            nextTransfer += 1
            let transfer = nextTransfer   // used only if the offer is new
            switch bobOffers.offered(offer, by: "alice", to: "bob", keys: keys, held: held, newTransfer: { transfer }, now: now) {
            case .refused(let why): reply = .refused(why)
            case .held(let rights):
                if let rights {
                    bobStore[offer.photo]?.rights = rights
                    checkStored(offer.photo)
                }
                reply = .ok
            case .pull(let transfer, _, _): reply = .pull(transfer: transfer)
            }
        case .status(let id):
            // Held while the photo is being opened, for 800 ms at most: the sender hears at once, with one call.
            heldStatus.append((until: now + .milliseconds(800), call: call, address: address, offer: id))
            if bobOffers.status(id, from: "alice") == .pending { outcome.statusHeld += 1 }
            return
        default:
            reply = .refused("not a call this world makes")
        }
        replyTo(call, reply, at: address)
    }

    mutating func replyTo(_ call: PeerEnvelope, _ reply: PeerMessage, at address: Int) {
        let envelope = try! PeerEnvelope(from: "bob", to: "alice", sentAt: wallClock, nonce: newNonce(), replyTo: call.nonce, message: reply)
            .signed(with: bobKey)
        for directive in bobLink.reply(envelope.encoded(), toCall: call, at: address) { bobDirective(directive) }
    }

    mutating func newNonce() -> UInt64 {
        nextNonce += 1
        return nextNonce
    }

    mutating func bobDirective(_ directive: PeerLink<Int>.Directive) {
        if case .send(let bytes, let to) = directive { network.send(bytes, from: Node.bob, to: to, now: now) }
    }

    /// Status calls held while their photo is opened, and photos being opened (each ends at its time, if bob's
    /// process still runs).
    var heldStatus: [(until: Instant, call: PeerEnvelope, address: Int, offer: UInt64)] = []
    var opening: [(at: Instant, transfer: UInt64, bytes: [UInt8])] = []

    /// bob's work that ends with time: photos opened, held status calls answered.
    mutating func bobTick() {
        guard bobUp else { return }
        while let next = opening.indices.min(by: { opening[$0].at < opening[$1].at }), opening[next].at <= now {
            let done = opening.remove(at: next)
            bobOpened(transfer: done.transfer, done.bytes)
        }
        var index = 0
        while index < heldStatus.count {
            let held = heldStatus[index]
            let status = bobOffers.status(held.offer, from: "alice")
            if status != .pending || now >= held.until {
                heldStatus.remove(at: index)
                replyTo(held.call, status, at: held.address)
            } else {
                index += 1
            }
        }
    }

    /// The bytes of transfer `id` arrived: opened off the loop, which takes a while (1-300 ms).
    mutating func bobReceived(transfer id: UInt64, _ bytes: [UInt8]) {
        guard bobOffers.arrived(transfer: id) != nil else { return }
        opening.append((now + .milliseconds(Int64(1 + random.next() % 300)), id, bytes))
    }

    /// Opened: the digest checked, the photo's id checked, then stored.
    mutating func bobOpened(transfer id: UInt64, _ bytes: [UInt8]) {
        guard let (offerID, entry) = bobOffers.entries.first(where: { $0.value.transfer == id && $0.value.state == .opening }) else { return }
        let file = Array(bytes.dropLast(32))
        guard bytes.count >= 32, Array(SHA256.hash(data: file)) == Array(bytes.suffix(32)),
              PhotoID.of(owner: "alice", file: file) == entry.offer.photo else {
            bobOffers.opened(offerID, failure: "bob could not take the photo: its seal is broken")
            return
        }
        bobStore[entry.offer.photo] = (file, ViewRights(viewsLeft: entry.offer.grant.views, version: entry.offer.grant.version))
        checkStored(entry.offer.photo)
        bobOffers.opened(offerID, failure: nil)
    }

    mutating func crashOrRestartBob() {
        if bobUp {
            bobUp = false
            outcome.crashes += 1
        } else {
            restartBob()
        }
    }

    mutating func restartBob() {
        bobUp = true
        bobRun += 1
        bobLink = PeerLink(me: "bob")
        bobOffers = PhotoOffers()
        heldStatus = []
        opening = []
    }

    // MARK: Invariants

    /// After each write to bob's store (the only moments it changes).
    mutating func checkStored(_ photo: PhotoID) {
        guard let held = bobStore[photo] else { return }
        guard let send = sends.first(where: { $0.photo == photo }) else {
            violation("bob stores only what alice sent", "bob holds \(photo), which alice never sent")
            return
        }
        if held.file != send.file {
            violation("bob stores only what alice sent", "bob holds \(photo) with bytes other than alice sent")
        }
        if held.rights.version != send.offer.grant.version || held.rights.viewsLeft > send.offer.grant.views {
            violation("bob stores only what alice sent", "bob holds \(photo) with views alice did not grant")
        }
    }

    mutating func violation(_ invariant: String, _ text: String) {
        outcome.violations.append("\(invariant): at \(now): \(text)")
        if outcome.firstViolationStep == nil { outcome.firstViolationStep = outcome.steps }
    }
}
