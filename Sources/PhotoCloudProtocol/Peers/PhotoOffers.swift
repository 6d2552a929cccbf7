/// The receiver's side of a photo on its way, as a pure state machine (time
/// and transfer ids injected): an `offer` is checked (the grant is the
/// sender's own, for this receiver and this photo; the size within bounds)
/// and either answered at once (held already: the grant applies) or turned
/// into an announced transfer to pull; the stego PNG that arrives is opened
/// and stored by the shell, which reports back; `status` calls read the
/// state. At most `capacity` offers are open (waiting or opening), each for
/// `lifetime`; decided ones are kept to answer `status` until then, at most
/// `memory` of them (the oldest go first).
public struct PhotoOffers: Sendable {
    public enum State: Sendable, Equatable {
        case waiting, opening, stored
        case failed(String)
    }

    public struct Entry: Sendable, Equatable {
        public var offer: PeerMessage.Offer
        public var from: String
        public var agreementKey: [UInt8]
        public var transfer: UInt64
        public var state: State
        public var expires: Instant

        var isOpen: Bool { state == .waiting || state == .opening }
    }

    public enum Outcome: Sendable, Equatable {
        /// Not taken; the reply says why.
        case refused(String)
        /// The photo is held already: reply `ok`; apply `rights` if given (a newer grant).
        case held(rights: ViewRights?)
        /// Announce transfer `transfer` of at most `maxBytes` for `within`, and reply `pull`.
        case pull(transfer: UInt64, maxBytes: Int, within: Duration)
    }

    public let capacity: Int
    public let lifetime: Duration
    public let maxBytes: Int
    public let memory: Int
    public private(set) var entries: [UInt64: Entry] = [:]
    /// Offers open now (waiting or opening).
    public private(set) var openCount = 0

    public init(capacity: Int = 32, lifetime: Duration = .seconds(120), maxBytes: Int = 192 << 20, memory: Int = 1_024) {
        self.capacity = capacity
        self.lifetime = lifetime
        self.maxBytes = maxBytes
        self.memory = memory
    }

    /// `user` offers a photo to `me`; `keys` are `user`'s pinned keys;
    /// `held` is what `me` holds of that photo already (its owner and rights).
    public mutating func offered(_ offer: PeerMessage.Offer, by user: String, to me: String,
                                 keys: (signingKey: [UInt8], agreementKey: [UInt8]),
                                 held: (owner: String, rights: ViewRights)?, newTransfer: () -> UInt64, now: Instant) -> Outcome {
        let grant = offer.grant
        guard grant.owner == user, grant.receiver == me, grant.photo == offer.photo else { return .refused("the grant does not fit the offer") }
        guard offer.stegoBytes > 0, offer.stegoBytes <= UInt64(maxBytes) else { return .refused("a photo of \(offer.stegoBytes) bytes is too large") }
        if let held {
            guard held.owner == user else { return .refused("\(me) holds \(offer.photo) from another owner") }
            switch ViewRights.apply(grant, to: held.rights, photo: offer.photo, owner: user, receiver: me, ownerKey: keys.signingKey) {
            case .applied(let rights): return .held(rights: rights)
            case .stale: return .held(rights: nil)
            case .refused(let why): return .refused(why)
            }
        }
        guard grant.isSigned(by: keys.signingKey) else { return .refused("the grant is not signed by \(user)") }
        if let known = entries[offer.id] {
            guard known.from == user, known.offer == offer else { return .refused("offer \(offer.id) is another one") }
            return .pull(transfer: known.transfer, maxBytes: Int(offer.stegoBytes), within: known.expires.since(now))
        }
        guard openCount < capacity else { return .refused("\(me) is taking in too many photos now; try again") }
        if entries.count - openCount >= memory, let oldest = entries.filter({ !$0.value.isOpen }).min(by: { $0.value.expires < $1.value.expires }) {
            entries[oldest.key] = nil
        }
        openCount += 1
        let transfer = newTransfer()
        entries[offer.id] = Entry(offer: offer, from: user, agreementKey: keys.agreementKey, transfer: transfer, state: .waiting,
                                  expires: now + lifetime)
        return .pull(transfer: transfer, maxBytes: Int(offer.stegoBytes), within: lifetime)
    }

    /// The stego PNG of transfer `transfer` arrived: the entry to open (now `opening`), if one waits for it.
    public mutating func arrived(transfer: UInt64) -> (id: UInt64, entry: Entry)? {
        guard let (id, entry) = entries.first(where: { $0.value.transfer == transfer }), entry.state == .waiting else { return nil }
        entries[id]?.state = .opening
        return (id, entries[id]!)
    }

    /// What opening it came to: stored, or why not.
    public mutating func opened(_ id: UInt64, failure: String?) {
        guard entries[id]?.state == .opening else { return }
        entries[id]?.state = failure.map { .failed($0) } ?? .stored
        openCount -= 1
    }

    /// The reply to the sender's `status` call.
    public func status(_ id: UInt64, from user: String) -> PeerMessage {
        guard let entry = entries[id], entry.from == user else { return .refused("no offer \(id) from \(user) here") }
        switch entry.state {
        case .waiting, .opening: return .pending
        case .stored: return .ok
        case .failed(let reason): return .refused(reason)
        }
    }

    /// Offers past their lifetime are forgotten (a sender asking later hears "no offer").
    public mutating func expire(now: Instant) {
        for (id, entry) in entries where entry.expires <= now && entry.state != .opening {
            if entry.state == .waiting { openCount -= 1 }
            entries[id] = nil
        }
    }
}
