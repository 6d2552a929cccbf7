import AsyncUDP
import Foundation
import PhotoCloudProtocol
import PhotoCloudStore

/// The peer-to-peer conversation: envelopes in (checked cheaply, then their
/// signature against the sender's pinned key), calls out (retried by the
/// `PeerLink` until answered), other users found through the servers.
extension PeerActor {
    /// How long a looked-up record is used before asking the servers again.
    static let contactLifetime = Duration.seconds(5)
    static let maxHandling = 64

    // MARK: In

    func drainPeerControl() -> UDPSocket.Drained {
        peerControl.receiveEach(into: &receiveBuffer) { bytes, address in
            receivedDatagram(bytes, from: address)
            return true
        }
    }

    private func receivedDatagram(_ bytes: ArraySlice<UInt8>, from address: SocketAddress) {
        guard limiter.allow(address.with(port: 0), cost: 1, now: clock.now()),
              let frame = try? Wire.decodeFrame(bytes, keys: keys), frame.type == .peerMessage, frame.auth == .open,
              let envelope = try? PeerEnvelope.decode(frame.payload),
              link.precheck(envelope, wallClock: ProtocolClock.wallMilliseconds()) == nil, handling < Self.maxHandling else { return }
        handling += 1
        Task(executorPreference: loop) { await self.verifyAndRelease(envelope, from: address) }
    }

    private func verifyAndRelease(_ envelope: PeerEnvelope, from address: SocketAddress) async {
        await verify(envelope, from: address)
        handling -= 1
    }

    private func verify(_ envelope: PeerEnvelope, from address: SocketAddress) async {
        // A reply comes from the user the call went to, whose keys are pinned already; a call may be from anyone known to the cloud.
        guard let keys = try? await keys(of: envelope.from), envelope.isSigned(by: keys.signingKey) else { return }
        switch link.accept(envelope, from: address, now: clock.now()) {
        case .call(let call):
            let reply = await handleCall(call, senderKeys: keys)
            let answer = PeerEnvelope(from: identity.user, to: call.from, sentAt: ProtocolClock.wallMilliseconds(), nonce: UInt64.random(in: 1...UInt64.max),
                                      replyTo: call.nonce, message: reply)
            guard let bytes = try? frame(answer) else { return }
            apply(link.reply(bytes, toCall: call, at: address))
        case .repeated(let directives), .reply(let directives):
            apply(directives)
        case .dropped:
            return
        }
    }

    // MARK: Out

    /// Calls `user` at `endpoints` and returns its reply (retried until answered; throws after the link's timeout).
    func call(_ message: PeerMessage, to user: String, at endpoints: PeerEndpoints) async throws -> PeerMessage {
        let nonce = UInt64.random(in: 1...UInt64.max)
        let envelope = PeerEnvelope(from: identity.user, to: user, sentAt: ProtocolClock.wallMilliseconds(), nonce: nonce, message: message)
        let bytes = try frame(envelope)
        let reply: PeerEnvelope = try await withCheckedThrowingContinuation { continuation in
            waiting[nonce] = continuation
            do {
                apply(try link.call(nonce: nonce, peer: user, bytes: bytes, to: endpoints.control, now: clock.now()))
            } catch {
                waiting[nonce] = nil
                continuation.resume(throwing: error)
            }
        }
        return reply.message
    }

    func frame(_ envelope: PeerEnvelope) throws -> [UInt8] {
        let signed = try envelope.signed(with: identity.signing)
        var bytes: [UInt8] = []
        try Wire.encode(into: &bytes, header: peerOrigin.next(.peerMessage), keys: keys, writePayload: { $0.append(contentsOf: signed.encoded()) })
        return bytes
    }

    func apply(_ directives: [PeerLink<SocketAddress>.Directive]) {
        for directive in directives {
            switch directive {
            case .send(let bytes, let address):
                _ = try? peerControl.trySend(bytes, to: address)
            case .answered(let nonce, let envelope):
                waiting.removeValue(forKey: nonce)?.resume(returning: envelope)
            case .failed(let nonce, let reason):
                waiting.removeValue(forKey: nonce)?.resume(throwing: NodeError(.noAnswer, "\(reason) (its daemon may have stopped); try again"))
            }
        }
    }

    func tick() {
        apply(link.tick(now: clock.now()))
        expireOffers()
    }

    // MARK: Other users

    /// `user`'s keys: the pinned ones, or (first contact) the ones its
    /// directory record carries, pinned now.
    func keys(of user: String) async throws -> (signingKey: [UInt8], agreementKey: [UInt8]) {
        if let pinned = try store.pinned(user) { return pinned }
        // A stranger's name costs a lookup at the servers: rate-limited, and a name none knows is not asked for again soon.
        if let missed = unknownUsers[user], ContinuousClock.now - missed < .seconds(10) { throw NodeError(.io, "unknown user \(user)") }
        guard firstContacts.allow(user, cost: 1, now: clock.now()) else { throw NodeError(.io, "too many lookups") }
        do {
            let found = try await lookUp(user)
            return (found.record.signingKey, found.record.agreementKey)
        } catch let error as NodeError where error.code == .unknownUser {
            // Only a name the servers said they do not know: a lookup that timed out (a busy
            // cloud) must not make a real user's calls go unanswered for the next 10 s.
            unknownUsers[user] = .now
            if unknownUsers.count > 4_096 { unknownUsers = unknownUsers.filter { ContinuousClock.now - $0.value < .seconds(10) } }
            throw error
        }
    }

    /// `user`'s record from the servers, its keys checked against (or pinned as) the ones first seen.
    func lookUp(_ user: String, fresh: Bool = false) async throws -> UserLookup.Found {
        if !fresh, let known = contacts[user], ContinuousClock.now - known.at < Self.contactLifetime { return known.found }
        guard Directory.Record.isValidName(user) else { throw NodeError(.io, "\"\(user.prefix(40))\" is not a valid user name") }
        lookups += 1
        guard let found = try await UserLookup.run(name: user, config: config, loop: loop) else {
            throw NodeError(.unknownUser, "unknown user \(user): no server of the cloud knows that name")
        }
        switch try store.pin(user: user, signingKey: found.record.signingKey, agreementKey: found.record.agreementKey) {
        case .pinned, .same:
            break
        case .changed:
            throw NodeError(.io, "the keys the cloud gives for \(user) are not the ones pinned when \(identity.user) first met \(user): "
                                 + "someone may be posing as \(user); if \(user) really made new keys, remove the pin (see docs/security.md)")
        }
        contacts[user] = (found, .now)
        if contacts.count > 1_024, let oldest = contacts.min(by: { $0.value.at < $1.value.at }) { contacts[oldest.key] = nil }
        return found
    }

    /// `user`'s record and endpoints if the user is online now (asked of
    /// the servers each time: a user who just left is offline at once).
    func reach(_ user: String) async throws -> (record: Directory.Record, endpoints: PeerEndpoints) {
        guard user != identity.user else { throw NodeError(.io, "that is you (\(user))") }
        let found = try await lookUp(user, fresh: true)
        guard found.online, let endpoints = found.endpoints else {
            contacts[user] = nil
            throw NodeError(.network, "\(user) is offline (no daemon running); try again when \(user) is online")
        }
        return (found.record, endpoints)
    }

    // MARK: Objects

    /// Announces transfer `id` (at most `maxBytes`) and waits for it, `within` at most.
    func expectObject(_ id: UInt64, maxBytes: Int, within: Duration) {
        expectedObjects.insert(id)
        transfers.expect(id, maxBytes: maxBytes, within: within)
    }

    /// The object announced with `expectObject`, once it is whole (it may have come already).
    func waitForObject(_ id: UInt64, within: Duration) async throws -> [UInt8] {
        let timer = Task(executorPreference: loop) { [weak self] in
            // Cancelled (the object came): nothing to time out.
            guard (try? await Task.sleep(for: within)) != nil else { return }
            await self?.objectTimedOut(id)
        }
        defer { timer.cancel() }
        return try await withCheckedThrowingContinuation { continuation in
            // Checked where the waiter is registered: an object that came in between is not left behind.
            if let early = earlyObjects.removeValue(forKey: id) {
                expectedObjects.remove(id)
                continuation.resume(returning: early)
            } else {
                objectWaiters[id] = continuation
            }
        }
    }

    /// Forgets an announced object (a call that failed).
    func forgetObject(_ id: UInt64) async {
        expectedObjects.remove(id)
        earlyObjects[id] = nil
        await transfers.abandon(id)
    }

    private func objectTimedOut(_ id: UInt64) async {
        objectWaiters.removeValue(forKey: id)?.resume(throwing: NodeError(.network, "the other peer did not send in time; try again"))
        await forgetObject(id)
    }

    func arrived(_ delivery: TransferEndpoint.Delivery) async {
        if let waiter = objectWaiters.removeValue(forKey: delivery.transferID) {
            expectedObjects.remove(delivery.transferID)
            waiter.resume(returning: delivery.bytes)
        } else if expectedObjects.contains(delivery.transferID) {
            earlyObjects[delivery.transferID] = delivery.bytes
        } else {
            await received(transfer: delivery.transferID, stego: delivery.bytes)
        }
    }
}
