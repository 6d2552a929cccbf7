import AsyncUDP
import Crypto
import Foundation
import Logging
import PhotoCloudProtocol
import PhotoCloudStore

/// The mailbox of a server: the thin shell around `Mailbox`. Items for users
/// who are offline are taken from their senders (each checked against the
/// sender's directory binding), written to the store before the sender hears
/// they are held, handed to their recipient on request (signed by the
/// recipient), and deleted on the recipient's acknowledgement, leaving a
/// tombstone. Servers compare what they hold every few seconds, and a server
/// that starts learns from the others before it hands anything out.
///
/// It runs on the server's event loop, as `ServerActor` and `DirectoryActor`
/// do; the server calls it synchronously (`assumeIsolated`), and it answers
/// through the server's control endpoint and data endpoint.
actor MailboxActor {
    nonisolated let loop: EventLoop
    nonisolated var unownedExecutor: UnownedSerialExecutor { loop.asUnownedSerialExecutor() }
    let id: UInt64
    let config: ClusterConfig
    let store: ServerStore
    let data: TransferEndpoint
    let cookies: AddressCookies
    let directories: DirectoryActor
    let clock: ProtocolClock
    let logger: Logger
    var mail: MailState
    /// The server whose control endpoint carries the answers (set when it runs).
    weak var server: ServerActor?

    init(id: UInt64, config: ClusterConfig, store: ServerStore, data: TransferEndpoint, cookies: AddressCookies,
         directories: DirectoryActor, clock: ProtocolClock, loop: EventLoop, logger: Logger) {
        self.id = id
        self.config = config
        self.store = store
        self.data = data
        self.cookies = cookies
        self.directories = directories
        self.clock = clock
        self.loop = loop
        self.logger = logger
        mail = MailState(limits: config.mailbox)
    }

    func attach(_ server: ServerActor) { self.server = server }

    // What the server does for it: sending, through its endpoints.
    private func now() -> Instant { clock.now() }
    private var otherServers: [UInt64] { config.servers.map { UInt64($0.id) }.filter { $0 != id } }
    private func sendToServer(_ to: UInt64, _ type: MessageType, _ body: [UInt8]) {
        server?.assumeIsolated { $0.sendToServer(to, type, body) }
    }
    private func answer(_ type: MessageType, _ body: [UInt8], query: QueryHeader, requestBytes: Int, to address: SocketAddress) {
        server?.assumeIsolated { $0.answer(type, body, query: query, requestBytes: requestBytes, to: address) }
    }
    private func sendSigned(_ type: MessageType, _ body: [UInt8], to address: SocketAddress, requestBytes: Int?) {
        server?.assumeIsolated { $0.sendSigned(type, body, to: address, requestBytes: requestBytes) }
    }
    private func directory<T: Sendable>(_ work: @Sendable (isolated DirectoryActor) -> T) -> T { directories.assumeIsolated(work) }

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
        /// Each server's list as it comes, page by page, and when this server asked for it (one list in flight per server).
        var lists: [UInt64: (held: [MailID], tombstones: [MailID])] = [:]
        var asked: [UInt64: Instant] = [:]
        /// The sorted lists this server is paging out to each other server (made once per request, not per page).
        var snapshots: [UInt64: (held: [MailID], tombstones: [MailID])] = [:]
        /// Items another server offered that this one refused (users it does not know yet): not fetched again for a while.
        var refused = BoundedMap<MailID, Instant>(capacity: 4_096)
        /// Proofs seen lately: a replayed fetch, object request or acknowledgement does nothing.
        var proofs = BoundedMap<[UInt8], UInt64>(capacity: 65_536)
        /// Objects being sent to each user now.
        var sending: [String: Int] = [:]
        /// Why an item could not be written (a full disk), told to its sender when it asks again.
        var writeFailures = BoundedMap<MailID, String>(capacity: 1_024)

        init(limits: Mailbox.Limits) { box = Mailbox(limits: limits) }
    }


    /// Reads the held items and tombstones back from the store.
    func restoreMailbox() {
        do {
            let (items, tombstones) = try store.mail()
            mail.box.load(items.map { ($0.item.id, Mailbox.Entry(recipient: $0.item.recipient, sender: $0.item.sender, bytes: $0.item.heldBytes,
                                                                   storedAt: $0.storedAt, state: .held)) },
                          tombstones: tombstones)
            // Rows written as their item was buried (a commit that finished after the deletion) go now.
            let buried = mail.box.buriedAmong(items.map(\.item.id))
            if !buried.isEmpty {
                let store = self.store
                Task { try? await store.deleteMail(buried, tombstoneAt: nil) }
            }
            if !items.isEmpty { logger.info("server \(id): \(items.count - buried.count) mail items held for offline users") }
        } catch {
            logger.error("server \(id): cannot read the mailbox: \(error); it starts empty (the others hold copies)")
        }
        mail.startedAt = now()
    }

    /// The mailbox's share of the timer: compare with the others, expire.
    /// When `mailTimer` has something to do next.
    var nextMailDeadline: Instant { min(mail.nextSync, mail.nextExpiry) }

    /// Ready once it has compared its mailbox with enough others to make a majority with itself: what
    /// was stored (on a majority) or delivered (tombstones) while it was away is known to one of them.
    private func checkReady() {
        let needed = config.servers.count / 2
        if !mail.ready, mail.merged.count >= needed {
            mail.ready = true
            logger.info("server \(id): mailbox ready (\(mail.box.heldCount) items, compared with \(mail.merged.count) other servers)")
        }
    }

    func mailTimer(now at: Instant) {
        checkReady()
        if at >= mail.nextSync {
            mail.nextSync = at + (mail.ready ? .seconds(5) : .milliseconds(500))
            for server in otherServers where mail.asked[server].map({ at.since($0) >= .seconds(2) }) ?? true {
                mail.asked[server] = at
                mail.lists[server] = nil
                sendToServer(server, .mailSyncRequest, MailMessage.syncRequest(offset: 0).encodedBody())
            }
        }
        if at >= mail.nextExpiry {
            mail.nextExpiry = at + .seconds(10)
            let now = ProtocolClock.wallMilliseconds()
            let expiry = mail.box.expire(now: now)
            for (transfer, item) in mail.awaiting where expiry.abandoned.contains(item.id) { mail.awaiting[transfer] = nil }
            let store = self.store, keep = mail.box.limits.tombstones
            if !expiry.expired.isEmpty {
                logger.notice("server \(id): \(expiry.expired.count) mail items expired unread (time to live \(mail.box.limits.timeToLive / 86_400_000) days)")
                // Buried, so that another server's copy is not taken again (it expires there too).
                let expired = expiry.expired
                Task { try? await store.deleteMail(expired, tombstoneAt: now) }
            }
            Task { try? await store.pruneTombstones(keeping: keep) }
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
        case .fetchObject(let query, let proof, let mailID, let transfer, let cookie):
            guard let user = proven(proof, for: message) else { return }
            let state = sendObject(mailID, as: transfer, to: user, cookie: cookie, nonce: query.nonce)
            answer(.mailStatus, MailMessage.status(nonce: query.nonce, id: mailID, state: state).encodedBody(), query: query,
                   requestBytes: requestBytes, to: address)
        case .acknowledge(let query, let proof, let ids):
            guard let user = proven(proof, for: message) else { return }
            let removed = mail.box.acknowledged(ids, by: user, now: ProtocolClock.wallMilliseconds())
            let store = self.store, at = ProtocolClock.wallMilliseconds()
            Task(executorPreference: loop) { [weak self] in
                // Told once the deletion (and its tombstones) is on disk.
                do { try await store.deleteMail(removed, tombstoneAt: at) } catch {
                    self?.logger.error("cannot delete delivered mail: \(error)")
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
        guard mail.proofs[proof.signature] == nil else { return nil }   // a replay: its first copy was answered
        let user = proof.user
        guard let record = directory({ $0.record(of: user) }),
              proof.isValid(for: message, key: record.signingKey, now: ProtocolClock.wallMilliseconds()) else {
            logger.debug("server \(id): a mail request with a bad proof for \(proof.user)")
            return nil
        }
        mail.proofs[proof.signature] = proof.time
        return proof.user
    }

    /// Why `item` cannot be held (nil: it can): its sender and recipient must
    /// be users of this cloud, its envelope signed by the sender, addressed to
    /// the recipient, and a call a mailbox carries.
    private func refusal(of item: MailItem) -> String? {
        guard item.isWellFormed else { return "a malformed mail item" }
        let recipient = item.recipient, senderName = item.sender
        guard directory({ $0.record(of: recipient) }) != nil else { return "unknown user \(item.recipient)" }
        guard let sender = directory({ $0.record(of: senderName) }) else { return "unknown user \(item.sender)" }
        guard let envelope = try? PeerEnvelope.decode(item.envelope[...]), envelope.from == item.sender, envelope.to == item.recipient,
              envelope.replyTo == 0, item.isSigned(by: sender.signingKey), envelope.isSigned(by: sender.signingKey) else {
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
        if let why = mail.writeFailures[item.id] {
            mail.writeFailures[item.id] = nil
            return reply(.refused(why))
        }
        switch mail.box.store(item, now: ProtocolClock.wallMilliseconds()) {
        case .stored: reply(.stored)
        case .committing: reply(.pending)
        case .refused(let why): reply(.refused(why))
        case .awaitObject(let bytes):
            let transfer = item.id.objectTransfer("store", server: id)
            mail.awaiting[transfer] = item
            data.expect(transfer, maxBytes: Int(clamping: bytes), within: .seconds(60) + .milliseconds(Int(clamping: bytes / 1_000)))
            reply(.sendObject(transfer: transfer))
        case .commit:
            commitMail(item, object: nil) { [weak self] failure in
                await self?.answer(.mailStatus, MailMessage.status(nonce: query.nonce, id: item.id, state: failure.map { .refused($0) } ?? .stored).encodedBody(),
                                   query: query, requestBytes: requestBytes, to: address)
            }
        }
    }

    /// Writes `item` (and its object), then counts it as stored; `then`
    /// hears why it was not (nil: it was). Nothing already stored is touched
    /// by a failed write (the object goes to a temporary file first, the row
    /// in one transaction).
    private func commitMail(_ item: MailItem, object: [UInt8]?, then: (@Sendable (String?) async -> Void)? = nil) {
        let store = self.store, at = mail.box.entries[item.id]?.storedAt ?? ProtocolClock.wallMilliseconds()
        Task(executorPreference: loop) { [weak self] in
            do {
                try await store.saveMail(item, object: object, storedAt: at)
                await self?.mailCommitted(item.id, failure: nil)
                await then?(nil)
            } catch {
                self?.logger.error("cannot store mail item \(item.id): \(error)")
                let why = "server could not write it: \(error)"
                await self?.mailCommitted(item.id, failure: why)
                await then?(why)
            }
        }
    }

    private func mailCommitted(_ id: MailID, failure: String?) {
        if let failure {
            mail.writeFailures[id] = failure
            return mail.box.commitFailed(id)
        }
        if !mail.box.committed(id) {
            // Acknowledged or buried while it was being written: the row just written goes again.
            let store = self.store
            Task { try? await store.deleteMail([id], tombstoneAt: ProtocolClock.wallMilliseconds()) }
        }
    }

    /// A data object on a transfer this server announced for a mail item: its object.
    func mailObjectArrived(_ delivery: TransferEndpoint.Delivery) -> Bool {
        guard let item = mail.awaiting.removeValue(forKey: delivery.transferID) else { return false }
        // The same item may have been asked for twice (two servers offered it): its other transfers are not waited for.
        for (transfer, other) in mail.awaiting where other.id == item.id { mail.awaiting[transfer] = nil }
        let object = delivery.bytes
        guard object.count == Int(item.objectBytes), Array(SHA256.hash(data: object)) == item.objectDigest else {
            logger.notice("server \(id): the object of mail item \(item.id) from \(delivery.from) does not match its digest")
            mail.box.commitFailed(item.id)
            return true
        }
        if mail.box.objectArrived(item.id) == .commit { commitMail(item, object: object) }
        return true
    }

    /// Sends a held item's object to `user`'s data endpoint (as its record
    /// publishes it), once that endpoint has shown it receives: a request
    /// without this server's cookie for it makes the server send one there
    /// (an `addressCheck`, smaller than the request) and answer "pending".
    /// A record names any address its user likes; only one that answers gets
    /// photos. Two objects at a time per user.
    private func sendObject(_ mailID: MailID, as transfer: UInt64, to user: String, cookie: [UInt8], nonce: UInt64) -> MailMessage.State {
        guard mail.box.entries[mailID]?.recipient == user, mail.box.entries[mailID]?.state == .held,
              let item = (try? store.mailItems([mailID]))?.first, item.hasObject else { return .refused("no such item for \(user)") }
        guard let record = directory({ $0.record(of: user) }), !record.leaving, let endpoints = PeerEndpoints(parsing: record.endpoint) else {
            return .refused("\(user) publishes no endpoint")
        }
        guard cookies.isValid(cookie, for: endpoints.data.identityBytes, now: now()) else {
            let check = AddressCheck(nonce: nonce, cookie: cookies.make(for: endpoints.data.identityBytes, now: now()))
            sendSigned(.addressCheck, check.encoded(), to: endpoints.data, requestBytes: Wire.headerSize + 100)
            return .pending
        }
        guard mail.sending[user, default: 0] < 2 else { return .pending }
        guard let object = try? store.mailObject(of: item) else { return .refused("this server cannot read the photo") }
        mail.sending[user, default: 0] += 1
        let endpoint = data
        Task(executorPreference: loop) { [weak self] in
            _ = try? await endpoint.send(object, to: endpoints.data, transferID: transfer)
            await self?.objectSent(to: user)
        }
        return .stored
    }

    private func objectSent(to user: String) {
        mail.sending[user, default: 1] -= 1
        if mail.sending[user] == 0 { mail.sending[user] = nil }
    }

    // MARK: Between servers

    func handleMailSync(_ message: MailMessage, from server: UInt64) {
        switch message {
        case .syncRequest(let offset):
            // Sorted once per request (the first page), then paged out of that copy.
            if offset == 0 || mail.snapshots[server] == nil { mail.snapshots[server] = (mail.box.heldIDs, mail.box.tombstoneIDs) }
            let (held, dead) = mail.snapshots[server]!
            let start = Int(offset), page = MailMessage.idsPerMessage
            if start + page >= max(held.count, dead.count) { mail.snapshots[server] = nil }
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
            mail.asked[server] = nil
            merge(held: list.0, tombstones: list.1, from: server)
        case .syncFetch(let ids):
            let items = (try? store.mailItems(Array(ids.prefix(256)))) ?? []
            for start in stride(from: 0, to: items.count, by: MailMessage.itemsPerList) {
                let reply = MailMessage.syncItems(Array(items[start..<min(items.count, start + MailMessage.itemsPerList)]))
                sendToServer(server, reply.type, reply.encodedBody())
            }
        case .syncItems(let items):
            for item in items {
                if let why = refusal(of: item) {
                    mail.refused[item.id] = now()
                    logger.debug("server \(id): refused mail item \(item.id) from server \(server): \(why)")
                    continue
                }
                switch mail.box.store(item, now: ProtocolClock.wallMilliseconds()) {
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
        let at = ProtocolClock.wallMilliseconds()
        let fresh = tombstones.filter { !mail.box.isTombstoned($0) }
        for id in fresh { _ = mail.box.buried(id, at: at) }
        if !fresh.isEmpty {
            let store = self.store
            Task { try? await store.deleteMail(fresh, tombstoneAt: at) }
        }
        let at2 = now()
        let missing = held.filter { id in
            mail.box.entries[id] == nil && !mail.box.isTombstoned(id) && (mail.refused[id].map { at2.since($0) >= .seconds(60) } ?? true)
        }
        for start in stride(from: 0, to: missing.count, by: 256) {
            sendToServer(server, .mailSyncFetch, MailMessage.syncFetch(ids: Array(missing[start..<min(missing.count, start + 256)])).encodedBody())
        }
        mail.merged.insert(server)
        checkReady()
    }

    /// Items and bytes held, for `status`.
    public var mailHeld: (items: Int, bytes: UInt64) { (mail.box.heldCount, mail.box.heldBytes) }
}
