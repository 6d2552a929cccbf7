import AsyncUDP
import Crypto
import Foundation
import PhotoCloudNode
import PhotoCloudProtocol
import PhotoCloudTestKit
import Steganography
import Synchronization
import Testing

/// Three `ServerActor`s in this process (each on its own event loops) and
/// `EncryptionClient`s over real loopback sockets.
@Suite("Encryption service of a three-server cloud", .serialized)
struct CloudServiceTests {
    final class Cloud: Sendable {
        let config: ClusterConfig
        let servers: [ServerActor]
        let runs: [Task<Void, Never>]

        init(folder: String, base: UInt16) async throws {
            config = try ClusterConfig.local(servers: 3, basePort: base, secret: ClusterConfig.randomSecret(), source: "test")
            let covers = CoverSource.builtIn(count: 2)
            var servers: [ServerActor] = []
            for server in config.servers {
                servers.append(try ServerActor(id: server.id, config: config, dataDirectory: folder + "/s\(server.id)",
                                               loop: try EventLoop(name: "test-server-\(server.id)"),
                                               dataLoop: try EventLoop(name: "test-data-\(server.id)"), covers: covers))
            }
            self.servers = servers
            runs = servers.map { server in Task { try? await server.run() } }
            // Until the token goes round.
            let deadline = ContinuousClock.now + .seconds(10)
            while ContinuousClock.now < deadline {
                if await servers[0].status().seen.epoch != .none { break }
                try await Task.sleep(for: .milliseconds(20))
            }
        }

        func stop() async {
            for server in servers { await server.stop() }
        }

        /// A started client of this cloud that waits as long as a test may take: these tests check what comes back,
        /// not how fast. Under CI's parallel tests a debug build embedding a payload of a few hundred kB on two
        /// oversubscribed cores took longer than a user's 30 s (CI once gave up on a 300 kB request).
        func client() async throws -> EncryptionClient {
            let client = try EncryptionClient(config: config, attempt: .init(giveUpAfter: .seconds(300)))
            await client.start()
            return client
        }
    }

    /// Ports for a test's cloud (control base+1..3, data base+101..103) that no other test is given.
    static func base() -> UInt16 { UInt16(TestPorts.cluster()) }

    @Test func everyAnswerCarriesThePayloadAndARetryGetsTheSameBytes() async throws {
        try await withTemporaryFolder { folder in
            let cloud = try await Cloud(folder: folder, base: Self.base())
            defer { Task { await cloud.stop() } }
            let client = try await cloud.client()
            let key = Array("correct horse".utf8)
            var answers: [RequestID: [UInt8]] = [:]
            var servers: Set<UInt64> = []   // how the token spreads work is the simulation's and the bench's to check
            try await withThrowingTaskGroup(of: (RequestID, [UInt8], UInt64, [UInt8]).self) { group in
                for number in 0..<30 {
                    // Short messages, and one of 150 kB (a multi-chunk transfer each way: chunks are 60 kB).
                    let payload = number == 7 ? [UInt8](repeating: 0xA5, count: 150_000) : Array("message number \(number)".utf8)
                    let id = RequestID(client: 42, number: UInt64(number))
                    group.addTask {
                        let answer = try await client.encrypt(payload, key: key, id: id)
                        return (id, payload, answer.server, answer.png)
                    }
                }
                for try await (id, payload, server, png) in group {
                    #expect(try StegoPNG().extract(from: png, key: StegoKey(material: key)) == payload)
                    answers[id] = png
                    servers.insert(server)
                }
            }
            #expect(answers.count == 30)
            #expect(!servers.isEmpty)
            // The same request again, from another client: the same bytes (answered from
            // the cache, or embedded again with the same cover and nonce).
            let again = try await cloud.client()
            let repeated = try await again.encrypt(Array("message number 3".utf8), key: key, id: RequestID(client: 42, number: 3))
            #expect(repeated.png == answers[RequestID(client: 42, number: 3)])
            await client.close()
            await again.close()
        }
    }

    @Test func smallPayloadsGoInlineOnceAServerHasGivenTheClientACookie() async throws {
        try await withTemporaryFolder { folder in
            let cloud = try await Cloud(folder: folder, base: Self.base())
            defer { Task { await cloud.stop() } }
            let client = try await cloud.client()
            let key = Array("inline".utf8)
            var acceptors: Set<UInt64> = []
            // One after another: a request to a server that has not yet given this client a cookie needs a payload
            // transfer (the transfer's end shows the endpoint receives); every other one carries its payload.
            for number in 0..<12 {
                let payload = Array("short message \(number)".utf8)
                let answer = try await client.encrypt(payload, key: key, id: RequestID(client: 77, number: UInt64(number)))
                #expect(try StegoPNG().extract(from: answer.png, key: StegoKey(material: key)) == payload)
                acceptors.insert(answer.server)
            }
            var inline = 0
            for server in cloud.servers { inline += await server.servedInline }
            #expect(inline >= 12 - acceptors.count, "\(inline) of 12 served inline, by \(acceptors.count) servers")
            // A payload above the inline limit still travels as a transfer, and comes back out.
            let large = [UInt8](repeating: 0x5A, count: EncryptionMessage.maxInlinePayload + 1)
            let answer = try await client.encrypt(large, key: key, id: RequestID(client: 77, number: 99))
            #expect(try StegoPNG().extract(from: answer.png, key: StegoKey(material: key)) == large)
            var after = 0
            for server in cloud.servers { after += await server.servedInline }
            #expect(after == inline)
            await client.close()
        }
    }

    @Test func aClientSendsAtMost32PayloadsToOneServerAtOnceAndTheOthersInTurn() async throws {
        try await withTemporaryFolder { folder in
            let cloud = try await Cloud(folder: folder, base: Self.base())
            defer { Task { await cloud.stop() } }
            let client = try await cloud.client()
            let key = Array("in turn".utf8)
            // 240 requests at once whose payloads are too large to go inline: about 80 payload transfers to each server.
            try await withThrowingTaskGroup(of: Bool.self) { group in
                for number in 0..<240 {
                    let payload = [UInt8](repeating: UInt8(number % 251), count: EncryptionMessage.maxInlinePayload + 1 + number)
                    group.addTask {
                        let answer = try await client.encrypt(payload, key: key, id: RequestID(client: 66, number: UInt64(number)))
                        return try StegoPNG().extract(from: answer.png, key: StegoKey(material: key)) == payload
                    }
                }
                var intact = 0
                for try await ok in group where ok { intact += 1 }
                #expect(intact == 240)
            }
            let most = await client.mostPayloadsInFlight
            #expect(most.values.allSatisfy { $0 <= 32 }, "\(most)")
            // The bound was reached (others waited their turn, and were sent when a transfer ended).
            #expect(most.values.contains(EncryptionClient.maxPayloadsInFlight), "\(most)")
            await client.close()
        }
    }

    @Test func anAnswerThatFitsOneDatagramComesInOneAndIsResentUntilItsEndpointSaysItArrived() async throws {
        try await withTemporaryFolder { folder in
            let cloud = try await Cloud(folder: folder, base: Self.base())
            defer { Task { await cloud.stop() } }
            func counts() async -> (sent: Int, acknowledged: Int, resent: Int) {
                var total = (sent: 0, acknowledged: 0, resent: 0)
                for server in cloud.servers {
                    let one = await server.inlineAnswerCounts
                    total = (total.sent + one.sent, total.acknowledged + one.acknowledged, total.resent + one.resent)
                }
                return total
            }
            // A client: every short message's answer comes in one datagram, and the client says so.
            let client = try await cloud.client()
            let key = Array("one datagram".utf8)
            for number in 0..<6 {
                let payload = Array("short message \(number)".utf8)
                let answer = try await client.encrypt(payload, key: key, id: RequestID(client: 88, number: UInt64(number)))
                #expect(answer.png.count + EncryptionObject.resultOverhead(proof: 32) <= EncryptionMessage.maxInlineAnswer)
                #expect(try StegoPNG().extract(from: answer.png, key: StegoKey(material: key)) == payload)
            }
            let small = await counts()
            #expect(small.sent == 6, "\(small.sent) of 6 answers went in one datagram")
            #expect(small.acknowledged == 6, "\(small.acknowledged) of 6 said to have arrived")
            // An answer larger than a datagram goes as a transfer.
            let large = [UInt8](repeating: 0x5A, count: 100_000)
            let answer = try await client.encrypt(large, key: key, id: RequestID(client: 88, number: 99))
            #expect(answer.png.count > EncryptionMessage.maxInlineAnswer)
            #expect(try StegoPNG().extract(from: answer.png, key: StegoKey(material: key)) == large)
            #expect(await counts().sent == 6)
            await client.close()

            // By hand, a client that does not say it has the answer: it comes again, until the data endpoint it went to says so.
            let own = Curve25519.KeyAgreement.PrivateKey()
            let keys = cloud.config.wireKeys().with(session: try SessionKey.client(own, cluster: try #require(cloud.config.agreementPublicKey)))
            let arrived = Mutex<(cookies: [UInt64: [UInt8]], answers: [RequestID: Int])>(([:], [:]))
            let data = TransferEndpoint(socket: try UDPSocket(bind: .ipv4Loopback(port: 0)), addressChecks: { bytes, _ in
                guard let frame = try? Wire.decodeFrame(bytes[...], keys: keys), frame.auth == .session,
                      let check = try? AddressCheck.decode(frame.payload) else { return }
                arrived.withLock { $0.cookies[frame.sender] = check.cookie }
            }, answers: { bytes, _ in
                guard let frame = try? Wire.decodeFrame(bytes[...], keys: keys),
                      case .result(let id, _, _, _)? = try? EncryptionObject.decodeAnswer(frame.payload) else { return }
                arrived.withLock { $0.answers[id, default: 0] += 1 }
            })
            await data.start()
            defer { Task { await data.close() } }
            let control = try UDPSocket(bind: .ipv4Loopback(port: 0))
            defer { control.close() }
            var origin = WireOrigin(sender: 0xFEED)
            func send(_ message: EncryptionMessage, from socket: UDPSocket, to address: SocketAddress) throws {
                var bytes: [UInt8] = []
                try Wire.encode(into: &bytes, header: origin.next(message.type), keys: keys, writePayload: { $0.append(contentsOf: message.encoded()) })
                _ = try socket.trySend(bytes, to: address)
            }
            func request(_ number: UInt64, cookie: [UInt8] = []) -> EncryptionMessage.Request {
                let payload = Array("by hand \(number)".utf8)
                return EncryptionMessage.Request(id: RequestID(client: 0xFEED, number: number), payloadBytes: UInt32(payload.count),
                                                 payloadDigest: Array(SHA256.hash(data: payload)), key: key, dataPort: data.socket.localAddress.port,
                                                 clientKey: Array(own.publicKey.rawRepresentation), cookie: cookie, inline: cookie.isEmpty ? nil : payload)
            }
            /// Waits (10 s at most) until `condition` holds of what arrived.
            func waitFor(_ condition: @escaping @Sendable ((cookies: [UInt64: [UInt8]], answers: [RequestID: Int])) -> Bool) async throws -> Bool {
                for _ in 0..<500 {
                    if arrived.withLock({ condition($0) }) { return true }
                    try await Task.sleep(for: .milliseconds(20))
                }
                return false
            }
            // A first request earns the data endpoint a cookie of each server.
            for server in cloud.config.servers { try send(.request(request(1)), from: control, to: server.control) }
            #expect(try await waitFor { !$0.cookies.isEmpty }, "a small request's data endpoint gets a cookie")
            let (issuer, cookie) = try #require(arrived.withLock { $0.cookies.first })
            let server = try #require(cloud.config.server(id: Int(issuer)))
            let id = RequestID(client: 0xFEED, number: 2)
            try send(.request(request(2, cookie: cookie)), from: control, to: server.control)
            #expect(try await waitFor { $0.answers[id] != nil }, "the answer comes to the data endpoint in one datagram")
            // Said from another socket than the one the answer went to: not believed, and the answer comes again.
            try send(.answerReceived(.init(id: id, server: issuer)), from: control, to: server.control)
            #expect(try await waitFor { ($0.answers[id] ?? 0) >= 2 }, "an answer nobody said arrived is resent")
            // Said from the data endpoint: no more resends (the last would have come 1.4 s after the first).
            try send(.answerReceived(.init(id: id, server: issuer)), from: data.socket, to: server.control)
            try await Task.sleep(for: .milliseconds(300))
            let copies = arrived.withLock { $0.answers[id] ?? 0 }
            try await Task.sleep(for: .seconds(2))
            #expect(arrived.withLock { $0.answers[id] ?? 0 } == copies, "resent after its endpoint said it arrived")
            #expect(copies <= 3)
            #expect(await counts().acknowledged == 7)
        }
    }

    @Test func aServerThatStopsCostsOnlyTime() async throws {
        try await withTemporaryFolder { folder in
            let cloud = try await Cloud(folder: folder, base: Self.base())
            defer { Task { await cloud.stop() } }
            let client = try await cloud.client()
            let key = Array("key".utf8)
            let first = try await client.encrypt(Array("warm up".utf8), key: key, id: RequestID(client: 1, number: 0))
            // Stop the server that answered, as a crash would: its sockets close, it says nothing.
            let victim = cloud.servers[Int(first.server) - 1]
            await victim.stop()
            let answers = try await withThrowingTaskGroup(of: (EncryptionClient.Answer, [UInt8]).self) { group in
                for number in 1...20 {
                    let payload = Array("after the crash \(number)".utf8)
                    group.addTask { (try await client.encrypt(payload, key: key, id: RequestID(client: 1, number: UInt64(number))), payload) }
                }
                var all: [(EncryptionClient.Answer, [UInt8])] = []
                for try await answer in group { all.append(answer) }
                return all
            }
            #expect(answers.count == 20)
            for (answer, payload) in answers {
                #expect(answer.server != first.server)
                #expect(try StegoPNG().extract(from: answer.png, key: StegoKey(material: key)) == payload)
            }
            await client.close()
        }
    }

    @Test func anUnservableRequestIsRefusedNotRetriedForever() async throws {
        try await withTemporaryFolder { folder in
            let cloud = try await Cloud(folder: folder, base: Self.base())
            defer { Task { await cloud.stop() } }
            let client = try EncryptionClient(config: cloud.config, attempt: .init(giveUpAfter: .seconds(20)))
            await client.start()
            // More than the servers embed (32 MiB): refused at once by every server.
            let started = ContinuousClock.now
            await #expect(throws: NodeError.self) {
                _ = try await client.encrypt([UInt8](repeating: 1, count: (32 << 20) + 1), key: [1], id: RequestID(client: 9, number: 1))
            }
            #expect(ContinuousClock.now - started < .seconds(10))
            await client.close()
        }
    }
}
