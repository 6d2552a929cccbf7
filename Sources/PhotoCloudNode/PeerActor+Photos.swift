import AsyncUDP
import Crypto
import Foundation
import PNGCodec
import PhotoCloudProtocol
import PhotoCloudStore
import Steganography

/// Photos: sharing into the album, sending sealed through the cloud, taking
/// them in, viewing them; the calls other peers make about them.
extension PeerActor {
    /// The largest stego PNG a peer takes: the largest cover a server makes
    /// (40 megapixels) as a PNG of noise, with room to spare.
    static let maxStegoBytes = 192 << 20
    /// Requests one user may have waiting for this user's decision.
    static let maxPendingPerUser = 20
    static let objectWait = Duration.seconds(120)
    /// Photos on their way in, at most 32 at once.
    static func makeOffers() -> PhotoOffers { PhotoOffers(capacity: 32, lifetime: objectWait, maxBytes: maxStegoBytes) }

    // MARK: Calls from other peers

    func handleCall(_ envelope: PeerEnvelope, senderKeys: (signingKey: [UInt8], agreementKey: [UInt8])) async -> PeerMessage {
        do {
            switch envelope.message {
            case .browse(let transfer):
                return try await sendPreviews(to: envelope.from, transfer: transfer, agreementKey: senderKeys.agreementKey)
            case .request(let id, let photo, let views):
                return try requested(id: id, photo: photo, views: views, by: envelope.from)
            case .deny(let id):
                guard let request = try store.request(id, .outgoing), request.peer == envelope.from else { return .refused("no request \(id) to \(envelope.from)") }
                try store.set(id, .outgoing, state: .denied)
                return .ok
            case .offer(let offer):
                return try offered(offer, by: envelope.from, keys: senderKeys)
            case .status(let id):
                // Held until the photo is decided (for a moment at most): the sender hears at once, with one call.
                let until = ContinuousClock.now + .milliseconds(800)
                while offers.status(id, from: envelope.from) == .pending, ContinuousClock.now < until {
                    try await Task.sleep(for: .milliseconds(2))
                }
                return offers.status(id, from: envelope.from)
            case .grant(let grant):
                return try granted(grant, by: envelope.from, ownerKey: senderKeys.signingKey)
            case .ok, .refused, .pull, .pending:
                return .refused("a reply is not a call")
            }
        } catch {
            return .refused("\(identity.user) could not do it: \(error)")
        }
    }

    func requested(id: RequestKey, photo: PhotoID, views: UInt32, by user: String) throws -> PeerMessage {
        guard (1...PeerLimits.maxViews).contains(views) else { return .refused("ask for 1 to \(PeerLimits.maxViews) views") }
        guard try store.albumEntry(photo) != nil else { return .refused("\(identity.user) has no photo \(photo)") }
        let pending = try store.requests(.incoming, state: .pending)
        guard pending.count < 1_000, pending.filter({ $0.peer == user }).count < Self.maxPendingPerUser else {
            return .refused("\(identity.user) has too many requests waiting")
        }
        try store.add(.init(id: id, peer: user, photo: photo, views: views, state: .pending, at: Date()), .incoming)
        return .ok
    }

    private func offered(_ offer: PeerMessage.Offer, by user: String, keys: (signingKey: [UInt8], agreementKey: [UInt8])) throws -> PeerMessage {
        let held = try store.inboxEntry(offer.photo).map { (owner: $0.owner, rights: $0.rights) }
        switch offers.offered(offer, by: user, to: identity.user, keys: keys, held: held, newTransfer: { UInt64.random(in: 1...UInt64.max) },
                              now: clock.now()) {
        case .refused(let why):
            return .refused(why)
        case .held(let rights):
            if let rights { try store.update(offer.photo, rights: rights) }
            if let request = offer.request { try store.set(request, .outgoing, state: .approved) }
            return .ok
        case .pull(let transfer, let maxBytes, let within):
            transfers.expect(transfer, maxBytes: maxBytes, within: within)
            return .pull(transfer: transfer)
        }
    }

    /// The stego PNG of an offer came: extract, open, check, store, off the loop.
    func received(transfer: UInt64, stego: [UInt8]) async {
        guard let (id, entry) = offers.arrived(transfer: transfer) else { return }
        let me = identity.user, agreement = identity.agreement
        let photo = entry.offer.photo, owner = entry.from, other = entry.agreementKey
        do {
            let contents = try await Task.detached {
                try Self.open(stego: stego, photo: photo, owner: owner, receiver: me, own: agreement, other: other)
            }.value
            let rights = ViewRights(viewsLeft: entry.offer.grant.views, version: entry.offer.grant.version)
            try store.receive(photo: photo, owner: owner, title: contents.title, stego: stego, rights: rights)
            if let request = entry.offer.request { try store.set(request, .outgoing, state: .approved) }
            offers.opened(id, failure: nil)
        } catch {
            offers.opened(id, failure: "\(me) could not take the photo: \(error)")
        }
    }

    /// The photo in a stego PNG made for `receiver` by `owner`: extracted, opened, and checked against its id.
    static func open(stego: [UInt8], photo: PhotoID, owner: String, receiver: String, own: Curve25519.KeyAgreement.PrivateKey,
                     other: [UInt8]) throws -> PhotoContents {
        let parties = PeerSeal.Parties(sender: owner, receiver: receiver)
        let key = try PeerSeal.embeddingKey(parties: parties, photo: photo, own: own, other: other)
        let sealed = try StegoPNG(codec: PNGCodec(encoder: PNGEncoder(threads: 1))).extract(from: stego, key: StegoKey(material: key))
        let contents = try PhotoContents.decode(try PeerSeal.open(sealed, purpose: .photo, parties: parties, context: photo.bytes, own: own, other: other))
        guard PhotoID.of(owner: owner, file: contents.file) == photo else {
            throw PeerError(.sealBroken, "the photo inside is not \(photo)")
        }
        return contents
    }

    func granted(_ grant: Grant, by owner: String, ownerKey: [UInt8]) throws -> PeerMessage {
        guard let held = try store.inboxEntry(grant.photo), held.owner == owner else {
            return .refused("\(identity.user) has no photo \(grant.photo) from \(owner)")
        }
        switch ViewRights.apply(grant, to: held.rights, photo: grant.photo, owner: owner, receiver: identity.user, ownerKey: ownerKey) {
        case .applied(let rights):
            try store.update(grant.photo, rights: rights)
            return .ok
        case .stale:
            return .ok
        case .refused(let why):
            return .refused(why)
        }
    }

    func expireOffers() { offers.expire(now: clock.now()) }
}
