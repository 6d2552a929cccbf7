import AsyncUDP
import Crypto
import Foundation
import PNGCodec
import PhotoCloudProtocol
import PhotoCloudStore
import Steganography

/// A photo offered to this peer: waiting for its stego PNG, opening it, or done.
struct IncomingOffer: Sendable {
    enum State: Sendable {
        case waiting, opening, stored
        case failed(String)
    }
    var offer: PeerMessage.Offer
    var from: String
    var agreementKey: [UInt8]
    var transfer: UInt64
    var state: State
    var expires: ContinuousClock.Instant
}

/// Photos: sharing into the album, sending sealed through the cloud, taking
/// them in, viewing them; the calls other peers make about them.
extension PeerActor {
    static let maxOffers = 32
    /// The largest stego PNG a peer takes: the largest cover a server makes
    /// (40 megapixels) as a PNG of noise, with room to spare.
    static let maxStegoBytes = 192 << 20
    /// Requests one user may have waiting for this user's decision.
    static let maxPendingPerUser = 20
    static let objectWait = Duration.seconds(120)

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
                guard let offer = offers[id], offer.from == envelope.from else { return .refused("no offer \(id) from \(envelope.from) here") }
                switch offer.state {
                case .waiting, .opening: return .pending
                case .stored: return .ok
                case .failed(let reason): return .refused(reason)
                }
            case .grant(let grant):
                return try granted(grant, by: envelope.from, ownerKey: senderKeys.signingKey)
            case .ok, .refused, .pull, .pending:
                return .refused("a reply is not a call")
            }
        } catch {
            return .refused("\(identity.user) could not do it: \(error)")
        }
    }

    private func requested(id: RequestKey, photo: PhotoID, views: UInt32, by user: String) throws -> PeerMessage {
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
        let grant = offer.grant
        guard grant.owner == user, grant.receiver == identity.user, grant.photo == offer.photo else { return .refused("the grant does not fit the offer") }
        guard grant.isSigned(by: keys.signingKey) else { return .refused("the grant is not signed by \(user)") }
        guard offer.stegoBytes > 0, offer.stegoBytes <= UInt64(Self.maxStegoBytes) else { return .refused("a photo of \(offer.stegoBytes) bytes is too large") }
        if let held = try store.inboxEntry(offer.photo) {
            guard held.owner == user else { return .refused("\(identity.user) holds \(offer.photo) from another owner") }
            if case .applied(let rights) = ViewRights.apply(grant, to: held.rights, photo: offer.photo, owner: user, receiver: identity.user,
                                                           ownerKey: keys.signingKey) {
                try store.update(offer.photo, rights: rights)
            }
            if let request = offer.request { try store.set(request, .outgoing, state: .approved) }
            return .ok
        }
        if let known = offers[offer.id] {
            guard known.from == user else { return .refused("offer \(offer.id) is another peer's") }
            return .pull(transfer: known.transfer)
        }
        guard offers.count < Self.maxOffers else { return .refused("\(identity.user) is taking in too many photos now; try again") }
        let transfer = UInt64.random(in: 1...UInt64.max)
        offers[offer.id] = IncomingOffer(offer: offer, from: user, agreementKey: keys.agreementKey, transfer: transfer, state: .waiting,
                                         expires: .now + Self.objectWait)
        transfers.expect(transfer, maxBytes: Int(offer.stegoBytes), within: Self.objectWait)
        return .pull(transfer: transfer)
    }

    /// The stego PNG of an offer came: extract, open, check, store, off the loop.
    func received(offer id: UInt64, stego: [UInt8]) async {
        guard var offer = offers[id], case .waiting = offer.state else { return }
        offer.state = .opening
        offers[id] = offer
        let me = identity.user, agreement = identity.agreement
        let photo = offer.offer.photo, owner = offer.from, other = offer.agreementKey
        do {
            let contents = try await Task.detached {
                try Self.open(stego: stego, photo: photo, owner: owner, receiver: me, own: agreement, other: other)
            }.value
            let rights = ViewRights(viewsLeft: offer.offer.grant.views, version: offer.offer.grant.version)
            try store.receive(photo: offer.offer.photo, owner: offer.from, title: contents.title, stego: stego, rights: rights)
            if let request = offer.offer.request { try store.set(request, .outgoing, state: .approved) }
            offers[id]?.state = .stored
        } catch {
            offers[id]?.state = .failed("\(me) could not take the photo: \(error)")
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

    private func granted(_ grant: Grant, by owner: String, ownerKey: [UInt8]) throws -> PeerMessage {
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

    func expireOffers() {
        let now = ContinuousClock.now
        for (id, offer) in offers where offer.expires < now { offers[id] = nil }
    }
}
