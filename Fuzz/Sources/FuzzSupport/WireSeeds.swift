import Crypto
import FuzzChecks
import PhotoCloudProtocol

/// Seeds of the `wire` target: one valid message of every type, each as a
/// whole datagram (in the scheme a node sends it with) and in the "sealed"
/// form the target frames itself (`[type index, scheme, sender]` then the
/// body), and the two data objects of an encryption request.
public enum WireSeeds {
    public static func all() -> [(name: String, bytes: [UInt8])] {
        var seeds: [(name: String, bytes: [UInt8])] = []
        for (type, body) in messages() {
            let auth = scheme(of: type)
            let sender: UInt64 = auth == .open ? 0x0C11_E000 : 1
            let envelope = Envelope(type: type, sender: sender, boot: 1_700_000_000_000_000, counter: 42, echo: 3, auth: auth, payload: body)
            if let datagram = try? Wire.encode(envelope, keys: WireFuzzCheck.keys(signingAs: sender)) {
                seeds.append(("datagram-\(type)", datagram))
            }
            let index = UInt8(MessageType.allCases.firstIndex(of: type) ?? 0)
            let schemeIndex: UInt8 = switch auth { case .open: 0; case .cluster: 1; case .signed: 2; case .session: 3 }
            seeds.append(("sealed-\(type)", [index, schemeIndex, UInt8(sender % 4)] + body))
        }
        let id = RequestID(client: 0xC1, number: 7)
        seeds.append(("object-payload", EncryptionObject.payload(id, Array("sealed photo bytes".utf8)).encoded()))
        seeds.append(("object-result", EncryptionObject.result(id, server: 2, proof: .session([UInt8](repeating: 0x5E, count: 32)),
                                                               png: [0x89, 0x50, 0x4E, 0x47]).encoded()))
        seeds.append(("object-result-signed", EncryptionObject.result(id, server: 2, proof: .signature([UInt8](repeating: 0x51, count: 64)),
                                                                      png: [0x89, 0x50, 0x4E, 0x47]).encoded()))
        return seeds
    }

    /// The scheme each message travels under (docs/protocol.md).
    static func scheme(of type: MessageType) -> AuthScheme {
        switch type {
        case .ringHeartbeat, .ringToken, .ringTokenAck, .ringClaimed, .ringCompleted, .offlineToken, .offlineTokenAck,
             .directorySyncRequest, .directorySync, .mailSyncRequest, .mailSyncList, .mailSyncFetch, .mailSyncItems, .mailSyncObject:
            return .cluster
        case .encryptAccepted, .encryptRefused:
            return .session
        case .addressCheck, .statusReply, .directoryRegistered, .whoReply, .lookupReply, .mailStatus, .mailList, .mailAcknowledged:
            return .signed
        default:
            return .open
        }
    }

    /// One body of every message type.
    static func messages() -> [(MessageType, [UInt8])] {
        let position = TokenPosition(epoch: Epoch(counter: 3, generator: 1), hop: 17)
        let requests = [RequestID(client: 0xC1, number: 1), RequestID(client: 0xC2, number: 9)]
        let claim = RingMessage.Claim(server: 2, requests: requests)
        let record = signedRecord()
        var query: [UInt8] = []
        QueryHeader(nonce: 0xABCD, cookie: [UInt8](repeating: 0x3C, count: AddressCookies.size)).append(to: &query)
        let status = ClusterStatus(reporter: 1, seen: position, holder: 2, servers: [
            .init(id: 1, alive: true, accepted: 10, pending: 1), .init(id: 2, alive: true, accepted: 12, pending: 0),
            .init(id: 3, alive: false, accepted: 0, pending: 0),
        ])
        let object = [UInt8](repeating: 0x61, count: 2_500)
        let ring: [RingMessage] = [
            .heartbeat(.init(seen: position, holding: true, accepted: 5, pending: 2)),
            .token(.init(position: position, recentClaims: [claim, .init(server: 3, requests: [])])),
            .tokenAck(position), .claimed(claim), .completed(requests),
        ]
        let transfer: [TransferMessage] = [
            .chunk(.init(transferID: 0x77, sequence: 1, chunkCount: 3, totalBytes: 2_500, chunkSize: 1_000, flags: .ackNow,
                         payload: object[1_000..<2_000])),
            .ack(.init(transferID: 0x77, epoch: 7, cumulative: 1, largest: 5, ranges: [4..<6, 2..<3])),
            .end(.init(transferID: 0x77, totalBytes: 2_500, digest: Array(SHA256.hash(data: object)), epoch: 7)),
            .done(.init(transferID: 0x77, status: .delivered)),
        ]
        let encryption: [EncryptionMessage] = [
            .request(.init(id: requests[0], bitsPerChannel: 2, payloadBytes: 4_096, payloadDigest: [UInt8](repeating: 0xD1, count: 32),
                           key: Array("correct horse".utf8), dataPort: 7_001, clientKey: [UInt8](repeating: 0xC7, count: 32))),
            .accepted(.init(id: requests[0], server: 2, phase: .awaitingPayload)),
            .refused(.init(id: requests[1], request: [UInt8](repeating: 0xE7, count: 16), reason: "no cover can hold 90 MB")),
            .answerReceived(.init(id: requests[0], server: 2)),
        ]
        let directory: [DirectoryMessage] = [
            .register(record), .registered(name: "alice", sequence: 1_700, digest: record.digest,
                                          refusal: .init("belongs to another key", permanent: true)),
            .whoRequest(QueryHeader(nonce: 5), offset: 0),
            .whoReply(nonce: 5, total: 2, offset: 0, users: [.init(name: "alice", online: true), .init(name: "bob", online: false)]),
            .syncRequest, .sync([.init(record: record, ageMilliseconds: 1_200)]),
            .lookupRequest(QueryHeader(nonce: 6), name: "alice"), .lookupReply(nonce: 6, name: "alice", record: record, online: true),
        ]
        // A peer's call: an offer with its grant, signed by the sender.
        let signing = WireFuzzCheck.keys(signingAs: 3).signing ?? Curve25519.Signing.PrivateKey()
        let photo = PhotoID.of(owner: "alice", file: Array("photo".utf8))
        let grant = (try? Grant(photo: photo, owner: "alice", receiver: "bob", views: 2, version: 1_700).signed(with: signing))
            ?? Grant(photo: photo, owner: "alice", receiver: "bob", views: 2, version: 1_700)
        let call = PeerEnvelope(from: "alice", to: "bob", sentAt: 1_700_000_000_000, nonce: 9,
                                message: .offer(.init(id: 4, photo: photo, stegoBytes: 40_000, grant: grant, request: RequestKey(bytes: [1, 2, 3, 4, 5, 6, 7, 8]))))
        var bodies: [(MessageType, [UInt8])] = [(.ping, Array("ping".utf8)), (.pong, Array("ping".utf8))]
        bodies.append((.addressCheck, AddressCheck(nonce: 0xABCD, cookie: [UInt8](repeating: 0x3C, count: AddressCookies.size)).encoded()))
        bodies += ring.map { ($0.type, $0.encoded()) }
        bodies += [OfflineToken.Message.token(round: 4), .ack(round: 4)].map { ($0.type, $0.encoded()) }
        bodies += [(.statusRequest, query), (.statusReply, status.encoded(nonce: 0xABCD))]
        bodies += transfer.map { ($0.type, $0.encoded()) }
        bodies += encryption.map { ($0.type, $0.encoded()) }
        bodies.append((.encryptAnswer, EncryptionObject.result(requests[0], server: 2, proof: .session([UInt8](repeating: 0x5E, count: 32)),
                                                               png: [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]).encoded()))
        bodies += directory.map { ($0.type, $0.encoded()) }
        bodies.append((.peerMessage, ((try? call.signed(with: signing)) ?? call).encoded()))
        // The mailbox: an item (the call above, with its photo's digest), and every message about it.
        let envelope = ((try? call.signed(with: signing)) ?? call).encoded()
        let unsignedItem = MailItem(recipient: "bob", sender: "alice", envelope: envelope, objectBytes: 40_000, objectDigest: Array(SHA256.hash(data: object)))
        let item = (try? unsignedItem.signed(with: signing)) ?? unsignedItem
        let proof = MailProof(user: "bob", time: 1_700_000_000_000, signature: [UInt8](repeating: 0x5A, count: 64))
        let mailQuery = QueryHeader(nonce: 0xABCD, cookie: [UInt8](repeating: 0x3C, count: AddressCookies.size))
        let mail: [MailMessage] = [
            .store(mailQuery, item), .status(nonce: 0xABCD, id: item.id, state: .sendObject(transfer: 0x99)),
            .status(nonce: 0xABCD, id: item.id, state: .refused("bob's mailbox is full")),
            .fetch(mailQuery, proof, offset: 12), .list(nonce: 0xABCD, total: 30, offset: 12, items: [item]),
            .fetchObject(mailQuery, proof, id: item.id, transfer: 0x98, cookie: [UInt8](repeating: 0x3C, count: AddressCookies.size)),
            .acknowledge(mailQuery, proof, ids: [item.id]),
            .acknowledged(nonce: 0xABCD, count: 1), .syncRequest(offset: 0), .syncList(total: 2, offset: 0, held: [item.id], tombstones: [item.id]),
            .syncFetch(ids: [item.id]), .syncItems([item]), .syncObject(id: item.id, transfer: 0x97),
        ]
        bodies += mail.map { ($0.type, $0.encoded()) }
        return bodies
    }

    /// A record a peer would register, signed by a fixed key.
    static func signedRecord() -> Directory.Record {
        let signing = WireFuzzCheck.keys(signingAs: 3).signing ?? Curve25519.Signing.PrivateKey()
        let record = Directory.Record(name: "alice", signingKey: Array(signing.publicKey.rawRepresentation),
                                      agreementKey: [UInt8](repeating: 0x42, count: 32), endpoint: "127.0.0.1:7000/7001", sequence: 1_700)
        return (try? record.signed(with: signing)) ?? record
    }
}
