import AsyncUDP
import Crypto
import Foundation
import PhotoCloudProtocol
import PhotoCloudStore

/// The mailbox of a server: the thin shell around `Mailbox`. Items for users
/// who are offline are taken from their senders (each checked against the
/// sender's directory binding), written to the store before the sender hears
/// they are held, handed to their recipient on request (signed by the
/// recipient), and deleted on the recipient's acknowledgement, leaving a
/// tombstone. Servers compare what they hold every few seconds, and a server
/// that starts learns from the others before it hands anything out.
extension ServerActor {
    /// What a server keeps about its mailbox besides the machine.
    struct MailState {
        var box: Mailbox
        /// Items whose object is on its way, by the transfer that brings it.
        var awaiting: [UInt64: MailItem] = [:]
        /// False until this server has compared its mailbox with the others after starting (or 3 s passed).
        var ready = false
        var startedAt = Instant.zero
        /// Other servers whose whole list was merged since the start.
        var merged: Set<UInt64> = []
        var nextSync = Instant.zero
        var nextExpiry = Instant.zero
        /// Each server's list as it comes, page by page.
        var lists: [UInt64: (held: [MailID], tombstones: [MailID])] = [:]

        init(limits: Mailbox.Limits) { box = Mailbox(limits: limits) }
    }

    static func wallClock() -> UInt64 { UInt64(max(0, Date().timeIntervalSince1970 * 1_000)) }

    /// Reads the held items and tombstones back from the store.
    func restoreMailbox() {
        do {
            let (items, tombstones) = try store.mail()
            mail.box.load(items.map { ($0.item.id, Mailbox.Entry(recipient: $0.item.recipient, bytes: $0.item.heldBytes,
                                                                   storedAt: $0.storedAt, state: .held)) },
                          tombstones: tombstones)
            if !items.isEmpty { logger.info("server \(id): \(items.count) mail items held for offline users") }
        } catch {
            logger.error("server \(id): cannot read the mailbox: \(error); it starts empty (the others hold copies)")
        }
        mail.startedAt = now()
    }

    /// The mailbox's share of the timer: compare with the others, expire.
    func mailTimer(now at: Instant) {
        if !mail.ready, at.since(mail.startedAt) >= .seconds(3) || mail.merged.count >= otherServers.count {
            mail.ready = true
            logger.debug("server \(id): mailbox ready (\(mail.box.heldCount) items)")
        }
        if at >= mail.nextSync {
            mail.nextSync = at + (mail.ready ? .seconds(5) : .milliseconds(500))
            for server in otherServers.map(\.id) { sendToServer(server, .mailSyncRequest, MailMessage.syncRequest(offset: 0).encodedBody()) }
        }
        if at >= mail.nextExpiry {
            mail.nextExpiry = at + .seconds(10)
            let expiry = mail.box.expire(now: Self.wallClock())
            for (transfer, item) in mail.awaiting where expiry.abandoned.contains(item.id) { mail.awaiting[transfer] = nil }
            if !expiry.expired.isEmpty {
                logger.notice("server \(id): \(expiry.expired.count) mail items expired unread (time to live \(mail.box.limits.timeToLive / 86_400_000) days)")
                let store = self.store, expired = expiry.expired
                Task { try? await store.deleteMail(expired, tombstoneAt: nil) }
            }
        }
    }

    // MARK: From peers

    func handleMail(_ message: MailMessage, requestBytes: Int, from address: SocketAddress) {
        switch message {
        case .store(let query, let item):
            storeMail(item, query: query, requestBytes: requestBytes, from: address)
        case .fetch(let query, let proof, let offset):
            guard let user = proven(proof, for: message) else { return }
            guard mail.ready else { return }   // still learning from the others: the peer asks again
            let ids = mail.box.held(for: user)
            let start = min(Int(offset), ids.count)
            var items: [MailItem] = []
            var size = 0
            for item in (try? store.mailItems(Array(ids[start..<min(ids.count, start + MailMessage.itemsPerList)]))) ?? [] {
                size += item.envelope.count + 200
                if size > 48_000 { break }
                items.append(item)
            }
            let reply = MailMessage.list(nonce: query.nonce, total: UInt32(clamping: ids.count), offset: UInt32(start), items: items)
            answer(reply.type, reply.encodedBody(), query: query, requestBytes: requestBytes, to: address)
        case .fetchObject(let query, let proof, let mailID, let transfer):
            guard let user = proven(proof, for: message) else { return }
            let state = sendObject(mailID, as: transfer, to: user)
            answer(.mailStatus, MailMessage.status(nonce: query.nonce, id: mailID, state: state).encodedBody(), query: query,
                   requestBytes: requestBytes, to: address)
        case .acknowledge(let query, let proof, let ids):
            guard let user = proven(proof, for: message) else { return }
            let removed = mail.box.acknowledged(ids, by: user, now: Self.wallClock())
            let store = self.store, at = Self.wallClock()
            Task(executorPreference: loop) { [weak self] in
                // Told once the deletion (and its tombstones) is on disk.
                do { try await store.deleteMail(removed, tombstoneAt: at) } catch {
                    await self?.logger.error("cannot delete delivered mail: \(error)")
                    return
                }
                await self?.answer(.mailAcknowledged, MailMessage.acknowledged(nonce: query.nonce, count: UInt16(clamping: removed.count)).encodedBody(),
                                   query: query, requestBytes: requestBytes, to: address)
            }
        default:
            return   // replies, and the servers' own messages, are not taken from strangers
        }
    }

    /// The user whose proof this is, if the directory binds the name to the key that signed it.
    private func proven(_ proof: MailProof, for message: MailMessage) -> String? {
        guard let record = directory.entries[proof.user]?.record,
              proof.isValid(for: message, key: record.signingKey, now: Self.wallClock()) else {
            logger.debug("server \(id): a mail request with a bad proof for \(proof.user)")
            return nil
        }
        return proof.user
    }

    /// Why `item` cannot be held (nil: it can): its sender and recipient must
    /// be users of this cloud, its envelope signed by the sender, addressed to
    /// the recipient, and a call a mailbox carries.
    private func refusal(of item: MailItem) -> String? {
        guard item.isWellFormed else { return "a malformed mail item" }
        guard directory.entries[item.recipient] != nil else { return "unknown user \(item.recipient)" }
        guard let sender = directory.entries[item.sender]?.record else { return "unknown user \(item.sender)" }
        guard let envelope = try? PeerEnvelope.decode(item.envelope[...]), envelope.from == item.sender, envelope.to == item.recipient,
              envelope.replyTo == 0, envelope.isSigned(by: sender.signingKey) else {
            return "the message is not signed by \(item.sender) for \(item.recipient)"
        }
        switch envelope.message {
        case .grant, .request, .deny:
            return item.hasObject ? "a \(item.sender) message with an object it does not need" : nil
        case .offer(let offer):
            return offer.stegoBytes == item.objectBytes && item.hasObject ? nil : "a photo offer without its photo"
        default:
            return "not a message a mailbox carries"
        }
    }

    private func storeMail(_ item: MailItem, query: QueryHeader, requestBytes: Int, from address: SocketAddress) {
        func reply(_ state: MailMessage.State) {
            answer(.mailStatus, MailMessage.status(nonce: query.nonce, id: item.id, state: state).encodedBody(), query: query,
                   requestBytes: requestBytes, to: address)
        }
        if let why = refusal(of: item) { return reply(.refused(why)) }
        switch mail.box.store(item, now: Self.wallClock()) {
        case .stored: reply(.stored)
        case .committing: reply(.pending)
        case .refused(let why): reply(.refused(why))
        case .awaitObject(let bytes):
            let transfer = item.id.objectTransfer("store", server: id)
            mail.awaiting[transfer] = item
            data.expect(transfer, maxBytes: Int(clamping: bytes), within: .seconds(60) + .milliseconds(Int(clamping: bytes / 1_000)))
            reply(.sendObject(transfer: transfer))
        case .commit:
            commitMail(item, object: nil) { [weak self] stored in
                await self?.answer(.mailStatus, MailMessage.status(nonce: query.nonce, id: item.id, state: stored ? .stored : .refused("this server could not write it")).encodedBody(),
                                   query: query, requestBytes: requestBytes, to: address)
            }
        }
    }

    /// Writes `item` (and its object), then counts it as stored; `then` hears whether it was.
    private func commitMail(_ item: MailItem, object: [UInt8]?, then: (@Sendable (Bool) async -> Void)? = nil) {
        let store = self.store, at = mail.box.entries[item.id]?.storedAt ?? Self.wallClock()
        Task(executorPreference: loop) { [weak self] in
            do {
                try await store.saveMail(item, object: object, storedAt: at)
                await self?.mailCommitted(item.id, ok: true)
                await then?(true)
            } catch {
                await self?.logger.error("cannot store mail item \(item.id): \(error)")
                await self?.mailCommitted(item.id, ok: false)
                await then?(false)
            }
        }
    }

    private func mailCommitted(_ id: MailID, ok: Bool) {
        if ok { mail.box.committed(id) } else { mail.box.commitFailed(id) }
    }

    /// A data object on a transfer this server announced for a mail item: its object.
    func mailObjectArrived(_ delivery: TransferEndpoint.Delivery) -> Bool {
        guard let item = mail.awaiting.removeValue(forKey: delivery.transferID) else { return false }
        let object = delivery.bytes
        guard object.count == Int(item.objectBytes), Array(SHA256.hash(data: object)) == item.objectDigest else {
            logger.notice("server \(id): the object of mail item \(item.id) from \(delivery.from) does not match its digest")
            mail.box.commitFailed(item.id)
            return true
        }
        if mail.box.objectArrived(item.id) == .commit { commitMail(item, object: object) }
        return true
    }

    /// Sends a held item's object to `user`'s data endpoint (as its record publishes it).
    private func sendObject(_ mailID: MailID, as transfer: UInt64, to user: String) -> MailMessage.State {
        guard mail.box.entries[mailID]?.recipient == user, mail.box.entries[mailID]?.state == .held,
              let item = (try? store.mailItems([mailID]))?.first, item.hasObject else { return .refused("no such item for \(user)") }
        guard let record = directory.entries[user]?.record, !record.leaving, let endpoints = PeerEndpoints(parsing: record.endpoint) else {
            return .refused("\(user) publishes no endpoint")
        }
        guard let object = try? store.mailObject(of: item) else { return .refused("this server cannot read the photo") }
        let endpoint = data
        Task(executorPreference: data.loop) { _ = try? await endpoint.send(object, to: endpoints.data, transferID: transfer) }
        return .stored
    }

    // MARK: Between servers

    func handleMailSync(_ message: MailMessage, from server: UInt64) {
        switch message {
        case .syncRequest(let offset):
            let held = mail.box.heldIDs, dead = mail.box.tombstoneIDs
            let start = Int(offset), page = MailMessage.idsPerMessage
            let reply = MailMessage.syncList(total: UInt32(clamping: max(held.count, dead.count)), offset: offset,
                                             held: Array(held.dropFirst(start).prefix(page)), tombstones: Array(dead.dropFirst(start).prefix(page)))
            sendToServer(server, reply.type, reply.encodedBody())
        case .syncList(let total, let offset, let held, let tombstones):
            var list = offset == 0 ? ([], []) : (mail.lists[server] ?? ([], []))
            list.0 += held
            list.1 += tombstones
            let next = Int(offset) + MailMessage.idsPerMessage
            if next < Int(total) {
                mail.lists[server] = list
                sendToServer(server, .mailSyncRequest, MailMessage.syncRequest(offset: UInt32(next)).encodedBody())
                return
            }
            mail.lists[server] = nil
            merge(held: list.0, tombstones: list.1, from: server)
        case .syncFetch(let ids):
            let items = (try? store.mailItems(Array(ids.prefix(256)))) ?? []
            for start in stride(from: 0, to: items.count, by: MailMessage.itemsPerList) {
                let reply = MailMessage.syncItems(Array(items[start..<min(items.count, start + MailMessage.itemsPerList)]))
                sendToServer(server, reply.type, reply.encodedBody())
            }
        case .syncItems(let items):
            for item in items where refusal(of: item) == nil {
                switch mail.box.store(item, now: Self.wallClock()) {
                case .commit:
                    commitMail(item, object: nil)
                case .awaitObject(let bytes):
                    let transfer = item.id.objectTransfer("sync", server: id, nonce: UInt64.random(in: 1...UInt64.max))
                    mail.awaiting[transfer] = item
                    data.expect(transfer, maxBytes: Int(clamping: bytes), within: .seconds(60) + .milliseconds(Int(clamping: bytes / 1_000)))
                    sendToServer(server, .mailSyncObject, MailMessage.syncObject(id: item.id, transfer: transfer).encodedBody())
                default:
                    break
                }
            }
        case .syncObject(let mailID, let transfer):
            guard mail.box.entries[mailID]?.state == .held, let item = (try? store.mailItems([mailID]))?.first,
                  let object = try? store.mailObject(of: item), let address = config.server(id: Int(server))?.data else { return }
            let endpoint = data
            Task(executorPreference: data.loop) { _ = try? await endpoint.send(object, to: address, transferID: transfer) }
        default:
            return
        }
    }

    /// Another server's whole list: its tombstones bury items here, and what it holds that this one lacks is fetched.
    private func merge(held: [MailID], tombstones: [MailID], from server: UInt64) {
        // A tombstone new here buries the item (if held) and is kept, so that a late copy is not taken again.
        let at = Self.wallClock()
        let fresh = tombstones.filter { !mail.box.isTombstoned($0) }
        for id in fresh { _ = mail.box.buried(id, at: at) }
        if !fresh.isEmpty {
            let store = self.store
            Task { try? await store.deleteMail(fresh, tombstoneAt: at) }
        }
        let missing = held.filter { mail.box.entries[$0] == nil && !mail.box.isTombstoned($0) }
        for start in stride(from: 0, to: missing.count, by: 256) {
            sendToServer(server, .mailSyncFetch, MailMessage.syncFetch(ids: Array(missing[start..<min(missing.count, start + 256)])).encodedBody())
        }
        mail.merged.insert(server)
    }

    /// Items and bytes held, for `status`.
    public var mailHeld: (items: Int, bytes: UInt64) { (mail.box.heldCount, mail.box.heldBytes) }
}
