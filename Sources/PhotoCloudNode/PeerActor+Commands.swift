import AsyncUDP
import Foundation
import PNGCodec
import PhotoCloudProtocol
import PhotoCloudStore
import Steganography

/// What the user's one-shot commands ask the daemon to do.
extension PeerActor {
    public struct Viewed: Sendable {
        public var photo: PhotoID
        public var owner: String
        public var title: String
        public var file: [UInt8]
        public var viewsLeft: UInt32
    }

    // MARK: Album

    /// Puts the photo `file` (PNG or JPEG) in the album with a preview; returns its id.
    public func share(file: [UInt8], title: String) async throws -> (photo: PhotoID, added: Bool) {
        guard file.count <= PeerLimits.photoBytes else { throw NodeError(.io, "a photo is at most \(PeerLimits.photoBytes >> 20) MB") }
        guard PhotoImages.isPhoto(file) else { throw NodeError(.io, "that is not a photo (PNG or JPEG)") }
        let photo = PhotoID.of(owner: identity.user, file: file)
        // Shared already (a photo sent again): no preview to make.
        if try store.albumEntry(photo) != nil { return (photo, false) }
        let preview: [UInt8] = try await Task.detached { try PhotoImages.previewPNG(of: file) }.value
        let added = try store.addToAlbum(photo: photo, title: String(title.utf8Prefix(PeerLimits.titleBytes)), file: file, preview: preview)
        return (photo, added)
    }

    public func album() throws -> [PeerStore.AlbumEntry] { try store.album() }

    /// The preview of one of the album's photos (a PNG, 256 pixels at most on its longest side); nil if not in the album.
    public func preview(of photo: PhotoID) throws -> [UInt8]? {
        guard let entry = try store.albumEntry(photo) else { return nil }
        return try store.objects.get(entry.preview)
    }

    /// Who was granted views of one of the album's photos, and how many (0: revoked).
    public func holders(of photo: PhotoID) throws -> [(receiver: String, views: UInt32)] {
        try store.grantsGiven(photo).map { ($0.receiver, $0.views) }
    }

    /// `owner`'s previews, fetched from its daemon, sealed for this user.
    public func browse(_ owner: String) async throws -> [PreviewBundle.Item] {
        let (record, endpoints) = try await reach(owner)
        let transfer = UInt64.random(in: 1...UInt64.max)
        expectObject(transfer, maxBytes: PreviewBundle.maxBytes + PeerSeal.overhead, within: .seconds(60))
        let reply: PeerMessage
        do { reply = try await call(.browse(transfer: transfer), to: owner, at: endpoints) } catch {
            await forgetObject(transfer)
            throw error
        }
        guard reply == .ok else {
            await forgetObject(transfer)
            throw NodeError(.network, Self.refusal(reply, by: owner))
        }
        let sealed = try await waitForObject(transfer, within: .seconds(60))
        let bundle = try PeerSeal.open(sealed, purpose: .previews, parties: .init(sender: owner, receiver: identity.user),
                                       context: transfer.bigEndianBytes, own: identity.agreement, other: record.agreementKey)
        return try PreviewBundle.decode(bundle).items
    }

    /// Another user browses: the album's previews, sealed for it, to the data endpoint its record publishes.
    func sendPreviews(to user: String, transfer: UInt64, agreementKey: [UInt8]) async throws -> PeerMessage {
        // Megabytes go out for a datagram in: a few listings per user, one at a time.
        guard !listing.contains(user), perUser.allow("browse " + user, cost: 5, now: clock.now()) else {
            return .refused("\(identity.user) sent \(user) a listing just now; try again in a while")
        }
        let found = try await lookUp(user)
        guard let endpoints = found.endpoints else { return .refused("\(user) publishes no endpoint") }
        var items: [PreviewBundle.Item] = []
        for entry in try store.album().reversed().prefix(PeerLimits.previewsPerAlbum) {
            items.append(.init(photo: entry.photo, title: entry.title, png: try store.objects.get(entry.preview)))
        }
        let sealed = try PeerSeal.seal(PreviewBundle(items: items).encoded(), purpose: .previews, parties: .init(sender: identity.user, receiver: user),
                                       context: transfer.bigEndianBytes, own: identity.agreement, other: agreementKey)
        listing.insert(user)
        Task(executorPreference: loop) { await self.sendListing(sealed, to: endpoints.data, transfer: transfer, user: user) }
        return .ok
    }

    private func sendListing(_ sealed: [UInt8], to address: SocketAddress, transfer: UInt64, user: String) async {
        do {
            _ = try await transfers.send(sealed, to: address, transferID: transfer)
        } catch {
            logger.warning("the preview listing for \(user) (\(sealed.count) bytes to \(address)) failed: \(error)")
        }
        listing.remove(user)
    }

    // MARK: Requests

    /// Asks `owner` for `views` views of `photo`; returns the request's id,
    /// and whether it waits in the mailbox (`owner` is offline).
    public func request(_ photo: PhotoID, from owner: String, views: UInt32) async throws -> (id: RequestKey, queued: Bool) {
        guard (1...PeerLimits.maxViews).contains(views) else { throw NodeError(.io, "ask for 1 to \(PeerLimits.maxViews) views") }
        let id = RequestKey.random()
        let queued = try await tell(owner, .request(id: id, photo: photo, views: views))
        try store.add(.init(id: id, peer: owner, photo: photo, views: views, state: .pending, at: Date()), .outgoing)
        return (id, queued)
    }

    /// Says `message` to `user`: directly if `user` is online, else through
    /// the mailbox (stored on a majority of the servers before this returns);
    /// true if it was queued. A refusal by `user` is an error.
    func tell(_ user: String, _ message: PeerMessage) async throws -> Bool {
        let (_, endpoints) = try await route(to: user)
        if let endpoints, let reply = try await callOrMissed(message, to: user, at: endpoints) {
            guard reply == .ok else { throw NodeError(.network, Self.refusal(reply, by: user)) }
            return false
        }
        try await postMail(message, to: user)
        return true
    }

    /// `user`'s record, and where it is if it is online now (asked of the
    /// servers each time); nil endpoints: offline, the mailbox carries it.
    func route(to user: String) async throws -> (record: Directory.Record, endpoints: PeerEndpoints?) {
        guard user != identity.user else { throw NodeError(.io, "that is you (\(user))") }
        let found = try await lookUp(user, fresh: true)
        guard found.online, let endpoints = found.endpoints else {
            contacts[user] = nil
            return (found.record, nil)
        }
        return (found.record, endpoints)
    }

    /// `call`, but nil when `user`'s daemon does not answer at all (it went
    /// away since the directory heard from it): the caller uses the mailbox.
    /// Applying is idempotent, so a call that did arrive and is sent again
    /// through the mailbox changes nothing twice.
    func callOrMissed(_ message: PeerMessage, to user: String, at endpoints: PeerEndpoints) async throws -> PeerMessage? {
        do {
            return try await call(message, to: user, at: endpoints)
        } catch let error as NodeError where error.code == .noAnswer {
            logger.info("\(identity.user): \(user) did not answer (\(error)); the mailbox takes it")
            return nil
        }
    }

    public func requests(_ direction: PeerStore.Direction, state: PeerStore.RequestState? = nil) throws -> [PeerStore.PhotoRequest] {
        try store.requests(direction, state: state)
    }

    /// Sends the requested photo with `views` (default: as many as asked); queued if the asker is offline.
    public func approve(_ id: RequestKey, views: UInt32?, progress: (@Sendable (Int, Int) -> Void)? = nil) async throws
        -> (request: PeerStore.PhotoRequest, queued: Bool) {
        let request = try pendingRequest(id)
        let queued = try await deliver(request.photo, to: request.peer, views: views ?? request.views, answering: id, progress: progress)
        try store.set(id, .incoming, state: .approved)
        return (request, queued)
    }

    public func deny(_ id: RequestKey) async throws -> (request: PeerStore.PhotoRequest, queued: Bool) {
        let request = try pendingRequest(id)
        let queued = try await tell(request.peer, .deny(id: id))
        try store.set(id, .incoming, state: .denied)
        return (request, queued)
    }

    private func pendingRequest(_ id: RequestKey) throws -> PeerStore.PhotoRequest {
        guard let request = try store.request(id, .incoming) else {
            if try store.request(id, .outgoing) != nil {
                throw NodeError(.io, "request \(id) is one \(identity.user) made, not one for \(identity.user)'s photos; only the owner approves it")
            }
            throw NodeError(.io, "no request \(id) for \(identity.user)'s photos (see `photocloud requests`)")
        }
        guard request.state == .pending else { throw NodeError(.io, "request \(id) was \(request.state.rawValue) already") }
        return request
    }

    // MARK: Sending

    /// Shares `file` and sends it to `receiver` with `views`; returns its id, and whether it waits in the mailbox.
    public func send(file: [UInt8], title: String, to receiver: String, views: UInt32,
                     progress: (@Sendable (Int, Int) -> Void)? = nil) async throws -> (photo: PhotoID, queued: Bool) {
        let (photo, _) = try await share(file: file, title: title)
        let queued = try await deliver(photo, to: receiver, views: views, answering: nil, progress: progress)
        return (photo, queued)
    }

    /// Seals a photo of the album for `receiver`, has the cloud hide it, and
    /// sends the stego PNG with a signed grant; returns once the receiver has
    /// stored it, or, if the receiver is offline, once a majority of the
    /// servers hold it for the receiver (true).
    func deliver(_ photo: PhotoID, to receiver: String, views: UInt32, answering request: RequestKey?,
                 progress: (@Sendable (Int, Int) -> Void)?) async throws -> Bool {
        guard views <= PeerLimits.maxViews else { throw NodeError(.io, "at most \(PeerLimits.maxViews) views") }
        guard let entry = try store.albumEntry(photo) else { throw NodeError(.io, "no photo \(photo) in \(identity.user)'s album") }
        let (record, endpoints) = try await route(to: receiver)
        let file = try store.objects.get(entry.file)
        let parties = PeerSeal.Parties(sender: identity.user, receiver: receiver)
        let own = identity.agreement, other = record.agreementKey, title = entry.title
        let (sealed, key) = try await Task.detached {
            let contents = PhotoContents(title: title, file: file).encoded()
            return (try PeerSeal.seal(contents, purpose: .photo, parties: parties, context: photo.bytes, own: own, other: other),
                    try PeerSeal.embeddingKey(parties: parties, photo: photo, own: own, other: other))
        }.value
        guard let bits = CoverLibrary.bitsPerChannel(forPayload: sealed.count) else {
            throw NodeError(.io, "a photo of \(file.count / 1_000_000) MB is larger than any cover the cloud makes can hold "
                                 + "(at most about \(CoverLibrary.largestPayload / 1_000_000) MB, at 3 bits per channel)")
        }
        let answer = try await cloud.encrypt(sealed, key: key, id: RequestID(client: UInt64.random(in: 1...UInt64.max), number: 1),
                                             bitsPerChannel: bits, progress: progress)
        let version = try store.recordGrant(photo: photo, receiver: receiver, views: views)
        let grant = try Grant(photo: photo, owner: identity.user, receiver: receiver, views: views, version: version).signed(with: identity.signing)
        let offer = PeerMessage.Offer(id: UInt64.random(in: 1...UInt64.max), photo: photo, stegoBytes: UInt64(answer.png.count), grant: grant,
                                      request: request)
        guard let endpoints, let reply = try await callOrMissed(.offer(offer), to: receiver, at: endpoints) else {
            // Offline: the stego PNG and its offer wait in the mailbox.
            try await postMail(.offer(offer), to: receiver, object: answer.png)
            return true
        }
        switch reply {
        case .ok:
            return false
        case .pull(let transfer):
            do {
                _ = try await transfers.send(answer.png, to: endpoints.data, transferID: transfer, progress: progress)
            } catch {
                throw NodeError(.network, "sending the photo to \(receiver) failed: \(error)")
            }
            try await awaitStored(offer.id, by: receiver, at: endpoints)
            return false
        case let reply:
            throw NodeError(.network, Self.refusal(reply, by: receiver))
        }
    }

    private func awaitStored(_ offer: UInt64, by receiver: String, at endpoints: PeerEndpoints) async throws {
        let deadline = ContinuousClock.now + .seconds(60)
        // Asked again at once, then less and less often: a receiver taking in many photos
        // (each sender asking about its own) is not flooded with questions.
        let start = ContinuousClock.now
        var pause = Duration.milliseconds(5)
        while ContinuousClock.now < deadline {
            switch try await call(.status(offer: offer), to: receiver, at: endpoints) {
            case .ok: return
            case .pending:
                try await Task.sleep(for: pause)
                // Every 40 ms in the first second (a photo is usually opened by then), then up to every 320 ms.
                pause = min(pause * 2, ContinuousClock.now - start < .seconds(1) ? .milliseconds(40) : .milliseconds(320))
            case let reply: throw NodeError(.network, Self.refusal(reply, by: receiver))
            }
        }
        throw NodeError(.network, "\(receiver) did not confirm the photo within a minute")
    }

    // MARK: Inbox

    public func inbox() throws -> [PeerStore.InboxEntry] { try store.inbox() }

    /// Opens a received photo and counts one view; at zero views nothing is opened.
    public func view(_ photo: PhotoID) async throws -> Viewed {
        guard let entry = try store.inboxEntry(photo) else {
            throw NodeError(.io, "no photo \(photo) in \(identity.user)'s inbox (never received; see `photocloud inbox`)")
        }
        guard entry.rights.viewsLeft > 0 else { throw NodeError(.io, "no views left for \(photo) (ask \(entry.owner) for more)") }
        guard let ownerKeys = try store.pinned(entry.owner) else { throw NodeError(.io, "the keys of \(entry.owner) are not known here") }
        let stego = try store.objects.get(entry.stego)
        let me = identity.user, agreement = identity.agreement
        let contents = try await Task.detached {
            try Self.open(stego: stego, photo: photo, owner: entry.owner, receiver: me, own: agreement, other: ownerKeys.agreementKey)
        }.value
        let rights = try store.consumeView(photo)
        return Viewed(photo: photo, owner: entry.owner, title: contents.title, file: contents.file, viewsLeft: rights.viewsLeft)
    }

    // MARK: Grants

    /// Sets `receiver`'s views of one of this user's photos (0 revokes);
    /// returns the grant's version, and whether it waits in the mailbox.
    public func grant(_ photo: PhotoID, to receiver: String, views: UInt32) async throws -> (version: UInt64, queued: Bool) {
        guard views <= PeerLimits.maxViews else { throw NodeError(.io, "at most \(PeerLimits.maxViews) views") }
        guard try store.albumEntry(photo) != nil else { throw NodeError(.io, "no photo \(photo) in \(identity.user)'s album") }
        _ = try await route(to: receiver)   // a user of this cloud (or the error says not)
        let version = try store.recordGrant(photo: photo, receiver: receiver, views: views)
        let grant = try Grant(photo: photo, owner: identity.user, receiver: receiver, views: views, version: version).signed(with: identity.signing)
        return (version, try await tell(receiver, .grant(grant)))
    }

    static func refusal(_ reply: PeerMessage, by user: String) -> String {
        if case .refused(let reason) = reply { return "\(user) refused: \(reason)" }
        return "\(user) answered out of turn"
    }
}
