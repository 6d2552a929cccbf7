import AsyncUDP
import Crypto
import Foundation
import PhotoCloudProtocol
import PhotoCloudStore

/// The mailbox, from a peer: what it sends a user who is offline goes to the
/// servers (stored once a majority holds it), and what is held for it is
/// picked up when it comes online (and every few seconds while it is),
/// applied, and acknowledged. Applying is idempotent: an item delivered twice
/// (by two servers, or again after a lost acknowledgement) changes nothing
/// the second time.
extension PeerActor {
    /// How often an online daemon looks for mail that came while it was away.
    public static let mailInterval = Duration.seconds(5)

    /// Stores `message` (signed, for `user`) with `object` in the cloud's mailbox.
    func postMail(_ message: PeerMessage, to user: String, object: [UInt8]? = nil) async throws {
        let envelope = try PeerEnvelope(from: identity.user, to: user, sentAt: ProtocolClock.wallMilliseconds(), nonce: UInt64.random(in: 1...UInt64.max),
                                        message: message).signed(with: identity.signing)
        let item = try MailItem(recipient: user, sender: identity.user, envelope: envelope.encoded(), objectBytes: UInt64(object?.count ?? 0),
                                objectDigest: object.map { Array(SHA256.hash(data: $0)) } ?? []).signed(with: identity.signing)
        _ = try await MailboxClient.post(item, object: object, config: config, transfers: transfers, loop: loop)
    }

    /// Picks up, applies and acknowledges what the servers hold for this user; returns how many items were applied.
    @discardableResult
    public func checkMailbox() async throws -> Int {
        let (items, holders, answered) = try await MailboxClient.fetch(user: identity.user, key: identity.signing, config: config, loop: loop)
        guard answered > 0 else { throw NodeError(.network, "no server answered for the mailbox") }
        guard !items.isEmpty else { return 0 }
        // Photos first: a grant that came with them finds its photo.
        let ordered = items.filter(\.hasObject) + items.filter { !$0.hasObject }
        // Of many grants for one photo only the newest can apply (a grant applies only if newer): the
        // others are done without a write each.
        var newest: [PhotoID: UInt64] = [:]
        for item in ordered {
            if case .grant(let grant)? = (try? PeerEnvelope.decode(item.envelope[...]))?.message, grant.owner == item.sender {
                newest[grant.photo] = max(newest[grant.photo] ?? 0, grant.version)
            }
        }
        var done: [MailID] = []
        var applied = 0
        for item in ordered {
            if case .grant(let grant)? = (try? PeerEnvelope.decode(item.envelope[...]))?.message, grant.owner == item.sender,
               let top = newest[grant.photo], grant.version < top {
                applied += 1
                done.append(item.id)
                continue
            }
            switch await apply(item, holders: holders[item.id] ?? []) {
            case .applied:
                applied += 1
                done.append(item.id)
            case .unusable(let why):
                logger.notice("\(identity.user): dropped a message from \(item.sender): \(why)")
                done.append(item.id)
            case .later(let why):
                logger.info("\(identity.user): a message from \(item.sender) waits: \(why)")
            }
        }
        if !done.isEmpty { try await MailboxClient.acknowledge(done, user: identity.user, key: identity.signing, config: config, loop: loop) }
        return applied
    }

    enum MailOutcome {
        case applied
        /// It can never apply (forged, not for this user, about a photo never received): acknowledged all the same.
        case unusable(String)
        /// Not now (the sender's keys or the photo could not be fetched): the next look tries again.
        case later(String)
    }

    private func apply(_ item: MailItem, holders: [Int]) async -> MailOutcome {
        guard item.recipient == identity.user, let envelope = try? PeerEnvelope.decode(item.envelope[...]),
              envelope.to == identity.user, envelope.from == item.sender else { return .unusable("not a message for \(identity.user)") }
        let found: UserLookup.Found
        do { found = try await lookUp(item.sender) } catch { return .later("\(error)") }
        guard envelope.isSigned(by: found.record.signingKey) else { return .unusable("not signed by \(item.sender)") }
        let keys = (signingKey: found.record.signingKey, agreementKey: found.record.agreementKey)
        do {
            switch envelope.message {
            case .grant(let grant):
                return try granted(grant, by: item.sender, ownerKey: keys.signingKey) == .ok ? .applied : .unusable("a grant for a photo not held")
            case .request(let id, let photo, let views):
                if try store.request(id, .incoming) != nil { return .applied }
                let reply = try requested(id: id, photo: photo, views: views, by: item.sender)
                return reply == .ok ? .applied : .unusable("\(reply)")
            case .deny(let id):
                guard let request = try store.request(id, .outgoing), request.peer == item.sender else { return .unusable("no request \(id)") }
                try store.set(id, .outgoing, state: .denied)
                return .applied
            case .offer(let offer):
                return try await takePhoto(offer, item: item, from: holders, keys: keys)
            default:
                return .unusable("not a message a mailbox carries")
            }
        } catch {
            return .later("\(error)")
        }
    }

    /// A photo sent while this user was away: its stego PNG from a server that holds it, opened, checked, stored.
    private func takePhoto(_ offer: PeerMessage.Offer, item: MailItem, from holders: [Int],
                           keys: (signingKey: [UInt8], agreementKey: [UInt8])) async throws -> MailOutcome {
        guard offer.grant.photo == offer.photo, offer.grant.owner == item.sender, offer.grant.receiver == identity.user,
              offer.grant.isSigned(by: keys.signingKey) else { return .unusable("the photo's grant is not \(item.sender)'s") }
        if let held = try store.inboxEntry(offer.photo) {
            // Delivered before (a second copy): only a newer grant changes anything.
            guard held.owner == item.sender else { return .unusable("a photo held from another owner") }
            if offer.grant.version > held.rights.version {
                try store.update(offer.photo, rights: ViewRights(viewsLeft: offer.grant.views, version: offer.grant.version))
            }
            return .applied
        }
        for holder in holders {
            guard let server = config.server(id: holder) else { continue }
            let transfer = UInt64.random(in: 1...UInt64.max)
            expectObject(transfer, maxBytes: Int(clamping: item.objectBytes), within: .seconds(60))
            // The server sends only to a data endpoint that has shown it receives: the first ask brings its
            // cookie to this daemon's data endpoint, the next carries it.
            var sending = false
            for _ in 0..<4 {
                let state = try? await MailboxClient.requestObject(item.id, transfer: transfer, from: server, user: identity.user,
                                                                   cookie: dataCookies[holder] ?? [], key: identity.signing, config: config, loop: loop)
                if state == .stored { sending = true; break }
                guard state == .pending else { break }
                try? await Task.sleep(for: .milliseconds(100))
            }
            guard sending else {
                await forgetObject(transfer)
                continue
            }
            guard let stego = try? await waitForObject(transfer, within: .seconds(30) + .milliseconds(Int(clamping: item.objectBytes / 1_000))),
                  Array(SHA256.hash(data: stego)) == item.objectDigest else { continue }
            let me = identity.user, agreement = identity.agreement, photo = offer.photo, owner = item.sender
            let contents: PhotoContents
            do {
                contents = try await Task.detached {
                    try Self.open(stego: stego, photo: photo, owner: owner, receiver: me, own: agreement, other: keys.agreementKey)
                }.value
            } catch {
                return .unusable("the photo does not open: \(error)")
            }
            try store.receive(photo: photo, owner: owner, title: contents.title, stego: stego,
                              rights: ViewRights(viewsLeft: offer.grant.views, version: offer.grant.version))
            if let request = offer.request { try store.set(request, .outgoing, state: .approved) }
            return .applied
        }
        return .later("no server sent the photo")
    }

    /// A server's cookie for this daemon's data endpoint (an `addressCheck` sent there, signed by the server).
    func dataAddressChecked(_ bytes: [UInt8], from address: SocketAddress) {
        guard let server = config.servers.first(where: { $0.control == address }),
              let frame = try? Wire.decodeFrame(bytes[...], keys: keys), frame.auth == .signed, frame.type == .addressCheck,
              frame.sender == UInt64(server.id), let check = try? AddressCheck.decode(frame.payload) else { return }
        dataCookies[server.id] = check.cookie
    }

    /// Looks for mail once the servers know where this daemon is, then every `mailInterval`.
    func watchMailbox() async {
        while !Task.isCancelled, !isRegistered {
            try? await Task.sleep(for: .milliseconds(50))
        }
        while !Task.isCancelled {
            do {
                let applied = try await checkMailbox()
                if applied > 0 { logger.info("\(identity.user): \(applied) messages from the mailbox applied") }
            } catch {
                logger.info("\(identity.user): the mailbox could not be read now: \(error)")
            }
            try? await Task.sleep(for: Self.mailInterval)
        }
    }
}
