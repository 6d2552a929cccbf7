import AsyncUDP
import Crypto
import PhotoCloudProtocol

/// A peer's side of the mailbox (docs/protocol.md, "Mailbox"): storing an
/// item for a user who is offline on a majority of the servers, and picking
/// up what is held for this user. Every exchange is a `ClusterPoll`: signed
/// answers from the cluster file's servers, repeating the poll's nonce.
public enum MailboxClient {
    /// Stores `item` (with its object) on the servers; returns once a
    /// majority of the cluster file's servers have written it. Throws (and
    /// nothing counts as stored) when a majority refuses, or cannot be
    /// reached within `deadline`.
    public static func post(_ item: MailItem, object: [UInt8]?, config: ClusterConfig, transfers: TransferEndpoint, loop: EventLoop,
                            deadline: Duration = .seconds(10)) async throws -> Int {
        let majority = config.servers.count / 2 + 1
        var stored: Set<Int> = []
        var refusals: [Int: String] = [:]
        var delivered: Set<Int> = []
        let end = ContinuousClock.now + deadline
        while ContinuousClock.now < end {
            var wanted: [Int: UInt64] = [:]
            try await ClusterPoll.run(
                config: config, timeout: .milliseconds(700), loop: loop,
                isDone: { server in
                    stored.count >= majority || stored.contains(server.id) || refusals[server.id] != nil
                        || (wanted[server.id] != nil && !delivered.contains(server.id))
                },
                ask: { _, query, send in send(.mailStore, MailMessage.store(query, item).encodedBody()) },
                onReply: { server, frame, nonce, _ in
                    guard case .status(nonce, item.id, let state)? = try? MailMessage.decode(type: frame.type, body: frame.payload) else { return }
                    switch state {
                    case .stored: stored.insert(server.id)
                    case .refused(let why): refusals[server.id] = why
                    case .sendObject(let transfer): wanted[server.id] = transfer
                    case .pending: break
                    }
                })
            if stored.count >= majority { return stored.count }
            if refusals.count > config.servers.count - majority, let why = refusals.values.sorted().first {
                throw NodeError(.network, "the cloud did not store the message: \(why)")
            }
            // The photo itself to the servers that asked for it, at once; they write it, then say so.
            if let object {
                let targets = wanted.filter { !delivered.contains($0.key) }.compactMap { id, transfer in config.server(id: id).map { ($0, transfer) } }
                let sent = await withTaskGroup(of: Int?.self) { group in
                    for (server, transfer) in targets {
                        group.addTask { (try? await transfers.send(object, to: server.data, transferID: transfer)) != nil ? server.id : nil }
                    }
                    var done: [Int] = []
                    for await id in group { if let id { done.append(id) } }
                    return done
                }
                delivered.formUnion(sent)
            }
            if stored.count + refusals.count < config.servers.count { try await Task.sleep(for: .milliseconds(20)) }
        }
        throw NodeError(.network, "only \(stored.count) of \(config.servers.count) servers stored the message within \(deadline) "
                                  + "(\(majority) are needed); nothing is claimed as stored")
    }

    /// What the servers hold for `user`: every item of every server that
    /// answered (one copy of each), and which servers hold each.
    public static func fetch(user: String, key: Curve25519.Signing.PrivateKey, config: ClusterConfig, loop: EventLoop,
                             timeout: Duration = .seconds(3)) async throws -> (items: [MailItem], holders: [MailID: [Int]], answered: Int) {
        var items: [MailID: MailItem] = [:]
        var order: [MailID] = []
        var holders: [MailID: [Int]] = [:]
        var complete: Set<Int> = []
        var next: [Int: UInt32] = [:]
        var answered: Set<Int> = []
        func request(_ nonce: UInt64, offset: UInt32) -> [UInt8]? {
            let unsigned = MailMessage.fetch(QueryHeader(nonce: nonce), MailProof(user: user, time: 0), offset: offset)
            return (try? MailProof.sign(unsigned, user: user, time: ProtocolClock.wallMilliseconds(), key: key))?.encodedBody()
        }
        try await ClusterPoll.run(
            config: config, timeout: timeout, loop: loop,
            isDone: { complete.contains($0.id) },
            ask: { server, query, send in
                if let body = request(query.nonce, offset: next[server.id] ?? 0) { send(.mailFetch, body) }
            },
            onReply: { server, frame, nonce, send in
                guard case .list(nonce, let total, let offset, let page)? = try? MailMessage.decode(type: frame.type, body: frame.payload),
                      offset == next[server.id] ?? 0 else { return }
                answered.insert(server.id)
                for item in page where item.recipient == user && item.isWellFormed {
                    if items[item.id] == nil {
                        items[item.id] = item
                        order.append(item.id)
                    }
                    if !(holders[item.id] ?? []).contains(server.id) { holders[item.id, default: []].append(server.id) }
                }
                let after = offset + UInt32(page.count)
                guard after < total, !page.isEmpty else {
                    complete.insert(server.id)
                    return
                }
                next[server.id] = after
                if let body = request(nonce, offset: after) { send(.mailFetch, body) }
            })
        return (order.compactMap { items[$0] }, holders, answered.count)
    }

    /// How many items `server` holds for `user` (nil if it does not answer a fetch within `timeout`).
    public static func held(by server: ClusterConfig.Server, user: String, key: Curve25519.Signing.PrivateKey, config: ClusterConfig,
                            loop: EventLoop, timeout: Duration = .milliseconds(500)) async throws -> Int? {
        var total: Int?
        try await ClusterPoll.run(
            config: config.only(server), timeout: timeout, loop: loop,
            isDone: { _ in total != nil },
            ask: { _, query, send in
                let unsigned = MailMessage.fetch(query, MailProof(user: user, time: 0), offset: UInt32.max)
                if let signed = try? MailProof.sign(unsigned, user: user, time: ProtocolClock.wallMilliseconds(), key: key) { send(.mailFetch, signed.encodedBody()) }
            },
            onReply: { _, frame, nonce, _ in
                guard case .list(nonce, let count, _, _)? = try? MailMessage.decode(type: frame.type, body: frame.payload) else { return }
                total = Int(count)
            })
        return total
    }

    /// Asks `server` to send item `id`'s object as transfer `transfer` to the
    /// data endpoint `user`'s record publishes, showing with `cookie` (the
    /// server's, sent there) that the endpoint receives. `.stored`: on its
    /// way; `.pending`: the server sent a cookie there, or is busy: ask again.
    public static func requestObject(_ id: MailID, transfer: UInt64, from server: ClusterConfig.Server, user: String, cookie: [UInt8],
                                     key: Curve25519.Signing.PrivateKey, config: ClusterConfig, loop: EventLoop) async throws -> MailMessage.State? {
        var state: MailMessage.State?
        try await ClusterPoll.run(
            config: config.only(server), timeout: .seconds(2), loop: loop,
            isDone: { _ in state != nil },
            ask: { _, query, send in
                let unsigned = MailMessage.fetchObject(query, MailProof(user: user, time: 0), id: id, transfer: transfer, cookie: cookie)
                if let signed = try? MailProof.sign(unsigned, user: user, time: ProtocolClock.wallMilliseconds(), key: key) { send(.mailFetchObject, signed.encodedBody()) }
            },
            onReply: { _, frame, nonce, _ in
                guard case .status(nonce, id, let reply)? = try? MailMessage.decode(type: frame.type, body: frame.payload) else { return }
                state = reply
            })
        return state
    }

    /// Tells every server that `ids` are applied (they delete them); returns how many servers confirmed.
    @discardableResult
    public static func acknowledge(_ ids: [MailID], user: String, key: Curve25519.Signing.PrivateKey, config: ClusterConfig,
                                   loop: EventLoop) async throws -> Int {
        var confirmed = 0
        for start in stride(from: 0, to: ids.count, by: MailMessage.idsPerMessage) {
            let batch = Array(ids[start..<min(ids.count, start + MailMessage.idsPerMessage)])
            var done: Set<Int> = []
            try await ClusterPoll.run(
                config: config, timeout: .seconds(2), loop: loop,
                isDone: { done.contains($0.id) },
                ask: { _, query, send in
                    let unsigned = MailMessage.acknowledge(query, MailProof(user: user, time: 0), ids: batch)
                    if let signed = try? MailProof.sign(unsigned, user: user, time: ProtocolClock.wallMilliseconds(), key: key) {
                        send(.mailAcknowledge, signed.encodedBody())
                    }
                },
                onReply: { server, frame, nonce, _ in
                    guard case .acknowledged(nonce, _)? = try? MailMessage.decode(type: frame.type, body: frame.payload) else { return }
                    done.insert(server.id)
                })
            confirmed = done.count
        }
        return confirmed
    }
}
