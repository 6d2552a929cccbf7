import AsyncUDP
import Crypto
import Foundation
import PhotoCloudNode
import PhotoCloudProtocol
import PhotoCloudTestKit
import Synchronization
import Testing

extension ServerProcesses {
    /// The attacks of the "Hostile network" issue, tried against real server
    /// processes from a stranger's socket: every process stays up with bounded
    /// memory, nothing larger than three times a datagram goes to an address
    /// that did not show it receives, and replays change nothing.
    @Suite("A hostile network against real servers")
    struct HostileNetworkTests {
        static let binary = BinaryRunner.locate()
        static func base() -> Int { TestPorts.cluster() }

        @Test func strangersDatagramsLeaveEveryServerUpWithBoundedMemory() async throws {
            let binary = try #require(Self.binary, "build the photocloud binary first (make test does)")
            try await withTemporaryFolder { folder in
                let cloud = try await AttackedCloud(binary: binary, folder: folder, count: 3, base: Self.base(), running: [1, 2, 3])
                defer { cloud.stopAll() }
                #expect(try await cloud.waitUntilAlive([1, 2, 3]))
                let before = (1...3).compactMap { cloud.residentBytes($0) }
                let stranger = try Stranger()
                var random = SeededRandom(seed: 12)

                // 1. The two datagrams that killed every server: a real transfer's first chunk,
                // then a chunk and an end of it claiming 2^63 bytes and more. Made against a
                // payload the cloud announced, so they reach the receiver.
                let payload = random.bytes(100)
                let id = RequestID(client: 0xA77AC, number: 1)
                for server in cloud.config.servers {
                    stranger.send(.encryptRequest, Craft.request(id, payload: payload, dataPort: stranger.address.port, clientKey: stranger.clientKey), to: server.control)
                }
                try await stranger.collect(for: .milliseconds(500))
                let acceptor = stranger.signedFrames(cloud.config).compactMap { frame -> UInt64? in
                    guard case .accepted(let accepted)? = try? EncryptionMessage.decode(type: frame.type, body: frame.payload),
                          accepted.phase == .awaitingPayload else { return nil }
                    return accepted.server
                }.first
                let target = try #require(acceptor.flatMap { cloud.config.server(id: Int($0)) }, "a server accepts the request")
                let object = EncryptionObject.payload(id, payload).encoded()
                stranger.send(.transferChunk, Craft.chunk(id.payloadTransfer(to: UInt64(target.id)), count: 1, total: UInt64(object.count), size: 1_000, payload: object),
                              to: target.data)
                for total in [UInt64(1) << 63, .max] {
                    stranger.send(.transferChunk, Craft.chunk(id.payloadTransfer(to: UInt64(target.id)), count: 1, total: total, size: 1_000, payload: object), to: target.data)
                    stranger.send(.transferEnd, TransferMessage.end(.init(transferID: id.payloadTransfer(to: UInt64(target.id)), totalBytes: total,
                                                                          digest: Array(SHA256.hash(data: object)), epoch: 1)).encoded(), to: target.data)
                }

                // 2. Memory: first chunks claiming 32 MiB in 1-byte chunks, and requests announcing
                // 32 MiB payloads followed by one real chunk each.
                for server in cloud.config.servers {
                    for _ in 0..<100 {
                        stranger.send(.transferChunk, Craft.chunk(random.next(), count: 32 << 20, total: 32 << 20, size: 1, payload: [1]), to: server.data)
                    }
                }
                let big = [UInt8](repeating: 7, count: 32 << 20)
                let bigDigest = Array(SHA256.hash(data: big))
                for number in 0..<60 {
                    let request = EncryptionMessage.request(.init(id: RequestID(client: 0xB16, number: UInt64(number)), payloadBytes: UInt32(big.count),
                                                                  payloadDigest: bigDigest, key: [1], dataPort: stranger.address.port,
                                                                  clientKey: stranger.clientKey))
                    for server in cloud.config.servers { stranger.send(.encryptRequest, request.encoded(), to: server.control) }
                }
                stranger.clear()
                try await stranger.collect(for: .milliseconds(500))
                var started = Set<RequestID>()
                for frame in stranger.signedFrames(cloud.config) {
                    guard case .accepted(let accepted)? = try? EncryptionMessage.decode(type: frame.type, body: frame.payload),
                          accepted.phase == .awaitingPayload, let server = cloud.config.server(id: Int(accepted.server)),
                          started.insert(accepted.id).inserted else { continue }
                    stranger.send(.transferChunk, Craft.chunk(accepted.id.payloadTransfer(to: accepted.server), count: UInt32((big.count + 20 + 59_999) / 60_000),
                                                              total: UInt64(big.count + 20), size: 60_000, payload: Array(big.prefix(60_000))),
                                  to: server.data)
                }

                #expect(started.count == 60, "every 32 MiB payload was announced, and its transfer begun")

                // 3. Unbounded state and cheap CPU: forged requests under fresh ids, who and status
                // floods, garbage; from one socket, as fast as it can.
                for index in 0..<20_000 {
                    let server = cloud.config.servers[index % 3]
                    switch index % 4 {
                    case 0: stranger.send(.encryptRequest, Craft.request(RequestID(client: random.next(), number: 1), payload: [UInt8(index & 0xFF)],
                                                                          dataPort: 9, clientKey: index % 8 == 0 ? random.bytes(32) : stranger.clientKey),
                                          to: server.control)
                    case 1: stranger.send(.whoRequest, DirectoryMessage.whoRequest(QueryHeader(nonce: 1), offset: .max).encoded(), to: server.control)
                    case 2: stranger.send(random.bytes(Int(random.next() % 200)), to: index % 8 == 2 ? server.data : server.control)
                    default: stranger.send(.statusRequest, [0, 0, 0, 0, 0, 0, 0, 1, 0], to: server.control)
                    }
                }
                try await stranger.collect(for: .seconds(1))

                // Every server is up, sees the others alive, and still serves a real request.
                #expect(cloud.allRunning())
                #expect(try await cloud.waitUntilAlive([1, 2, 3], within: .seconds(10)))
                try Data("still here".utf8).write(to: URL(fileURLWithPath: folder + "/m.txt"))
                let encrypt = try await binary.run(["encrypt", folder + "/m.txt", "--key", "k", "--out", folder + "/m.png", "--cluster", cloud.clusterFile],
                                                   timeout: .seconds(60))
                #expect(encrypt.status == 0, "\(encrypt.stderr)")
                // Memory grew by what was actually sent, not by what was claimed (60 x 32 MiB announced, 100 x 32 MiB claimed per server).
                for (index, id) in (1...3).enumerated() {
                    guard let now = cloud.residentBytes(id), index < before.count else { continue }
                    #expect(now - before[index] < 160 << 20, "server \(id) grew from \(before[index] >> 20) MiB to \(now >> 20) MiB")
                }
            }
        }

        @Test func nothingMoreThanThreeTimesGoesToAnAddressThatDidNotShowItReceives() async throws {
            let binary = try #require(Self.binary)
            try await withTemporaryFolder { folder in
                let cloud = try await AttackedCloud(binary: binary, folder: folder, count: 3, base: Self.base(), running: [1, 2, 3])
                defer { cloud.stopAll() }
                #expect(try await cloud.waitUntilAlive([1, 2, 3]))
                // Users in the directory, so that `who` has something large to say.
                var peers: [Process] = []
                defer { for peer in peers where peer.isRunning { kill(peer.processIdentifier, SIGKILL) } }
                for index in 0..<12 {
                    peers.append(try binary.start(["peer", "--user", "user\(index)", "--home", folder + "/home", "--cluster", cloud.clusterFile],
                                                  log: folder + "/peer\(index).log"))
                }
                try await Task.sleep(for: .seconds(2))

                // A victim that never asked for anything, and an asker that names the victim's port as its data endpoint.
                let victim = try Stranger(), asker = try Stranger()
                var namingVictim = 0   // bytes of the requests that named the victim's port
                let payload = Array("a sealed photo, or so it says".utf8)
                let id = RequestID(client: 0xF00D, number: 7)
                for server in cloud.config.servers {
                    namingVictim += asker.send(.encryptRequest, Craft.request(id, payload: payload, dataPort: victim.address.port, clientKey: asker.clientKey),
                                               to: server.control).count
                }
                try await asker.collect(for: .milliseconds(400))
                // A real client completes the same request (from its own endpoints): the answer is kept.
                let client = try EncryptionClient(config: cloud.config)
                await client.start()
                let answer = try await client.encrypt(payload, key: Array("k".utf8), id: id)
                #expect(!answer.png.isEmpty)
                await client.close()
                // The request replayed, from anywhere, naming the victim's data port again and again.
                for _ in 0..<20 {
                    for server in cloud.config.servers {
                        namingVictim += asker.send(.encryptRequest, Craft.request(id, payload: payload, dataPort: victim.address.port, clientKey: asker.clientKey),
                                                   to: server.control).count
                    }
                    try await asker.collect(for: .milliseconds(50))
                }
                // Payloads inline, naming the victim's port: with a made-up cookie, and with a real one. The asker earns
                // the real one as a client does: a small request naming a data socket of its own makes each server send
                // that socket a cookie for it (and only there).
                let checks = Mutex<[[UInt8]]>([])
                let (inlineAnswers, inlineArrived) = AsyncStream.makeStream(of: [UInt8].self)
                let askerData = TransferEndpoint(socket: try UDPSocket(bind: .ipv4Loopback(port: 0)),
                                                 addressChecks: { bytes, _ in checks.withLock { $0.append(Array(bytes)) } },
                                                 answers: { bytes, _ in inlineArrived.yield(Array(bytes)) })
                await askerData.start()
                defer { Task { await askerData.close() } }
                /// The next answer to `id` that reaches the asker's data socket (as a transfer, or in one datagram), within 8 s.
                func answerArriving(for id: RequestID) async -> Bool {
                    await withTaskGroup(of: Bool.self) { group in
                        group.addTask {
                            for await delivery in askerData.deliveries {
                                if case .result(id, _, _, _)? = try? EncryptionObject.decode(delivery.bytes) { return true }
                            }
                            return false
                        }
                        group.addTask {
                            for await bytes in inlineAnswers {
                                if let frame = try? Wire.decodeFrame(bytes[...], keys: WireKeys()),
                                   case .result(id, _, _, _)? = try? EncryptionObject.decodeAnswer(frame.payload) { return true }
                            }
                            return false
                        }
                        group.addTask { try? await Task.sleep(for: .seconds(8)); return false }
                        let first = await group.next() ?? false
                        group.cancelAll()
                        return first
                    }
                }
                let own = RequestID(client: 0xF00D, number: 8)
                asker.clear()
                for server in cloud.config.servers {
                    asker.send(.encryptRequest, Craft.request(own, payload: payload, dataPort: askerData.socket.localAddress.port, clientKey: asker.clientKey),
                               to: server.control)
                }
                try await asker.collect(for: .milliseconds(400))
                #expect(!asker.signedFrames(cloud.config).contains { $0.type == .addressCheck }, "no cookie for the data socket goes elsewhere")
                let earned = checks.withLock { $0 }.compactMap { bytes -> (server: UInt64, cookie: [UInt8])? in
                    guard let frame = asker.authenticated(bytes, cloud.config), frame.type == .addressCheck,
                          let check = try? AddressCheck.decode(frame.payload) else { return nil }
                    return (frame.sender, check.cookie)
                }
                let cookie = try #require(earned.first, "a small request's data endpoint is sent a cookie")
                let issuer = try #require(cloud.config.servers.first { UInt64($0.id) == cookie.server })
                for (number, attempt) in zip(UInt64(9)..., [[UInt8](repeating: 0x42, count: AddressCookies.size), cookie.cookie]) {
                    for server in cloud.config.servers {
                        namingVictim += asker.send(.encryptRequest, Craft.request(RequestID(client: 0xF00D, number: number), payload: payload,
                                                                                  dataPort: victim.address.port, clientKey: asker.clientKey,
                                                                                  cookie: attempt, inline: true), to: server.control).count
                    }
                }
                // The same cookie naming the data socket it was earned for does work: the answer comes there, with no transfer of the payload.
                let check = RequestID(client: 0xF00D, number: 20)
                askerData.expect(cloud.config.servers.map { check.answerTransfer(from: UInt64($0.id)) }, maxBytes: 1 << 20, within: .seconds(10))
                asker.send(.encryptRequest, Craft.request(check, payload: payload, dataPort: askerData.socket.localAddress.port, clientKey: asker.clientKey,
                                                          cookie: cookie.cookie, inline: true), to: issuer.control)
                let answered = await answerArriving(for: check)
                #expect(answered, "a request carrying its payload and a cookie for its own data endpoint is answered there")
                try await asker.collect(for: .milliseconds(400))
                try await victim.collect(for: .seconds(1))
                // The victim gets at most the servers' small cookies for its port (a data endpoint named by a small
                // request is sent one, smaller than the request): never an answer, never more than was sent naming it.
                let unasked = victim.received.filter { Wire.type(of: $0.bytes[...]) != .addressCheck }
                #expect(unasked.isEmpty, "the victim got \(unasked.count) datagrams besides cookies")
                #expect(victim.receivedBytes <= namingVictim, "the victim got \(victim.receivedBytes) bytes for \(namingVictim) sent naming it")
                #expect(asker.receivedBytes <= 3 * asker.sentBytes, "\(asker.receivedBytes) bytes back for \(asker.sentBytes)")

                // Every kind of query, without a cookie: never more than three times back.
                let queries: [(MessageType, [UInt8])] = [
                    (.whoRequest, DirectoryMessage.whoRequest(QueryHeader(nonce: 3), offset: 0).encoded()),
                    (.statusRequest, { var bytes: [UInt8] = []; QueryHeader(nonce: 4).append(to: &bytes); return bytes }()),
                    (.ping, []),
                ]
                for (type, body) in queries {
                    let alone = try Stranger()
                    for server in cloud.config.servers { alone.send(type, body, to: server.control) }
                    try await alone.collect(for: .milliseconds(400))
                    #expect(alone.received.count > 0, "\(type) is answered")
                    for reply in alone.received {
                        #expect(reply.bytes.count <= 3 * (Wire.headerSize + body.count), "\(type): \(reply.bytes.count) bytes back")
                    }
                }
                // With the cookie that came back, the whole answer: `who` sees everyone.
                let answerWho = try await binary.run(["who", "--cluster", cloud.clusterFile, "--json"], timeout: .seconds(20))
                #expect(answerWho.status == 0 && (0..<12).allSatisfy { answerWho.stdout.contains("user\($0)") }, "\(answerWho.stdout)")
            }
        }

        @Test func replayedClusterDatagramsChangeNothing() async throws {
            let binary = try #require(Self.binary)
            try await withTemporaryFolder { folder in
                // Servers 1 and 2 run; the test speaks as server 3 from server 3's own address,
                // with the cluster's secret: what a capture of server 3's traffic would hold.
                var cloud = try await AttackedCloud(binary: binary, folder: folder, count: 3, base: Self.base(), running: [1, 2])
                defer { cloud.stopAll() }
                #expect(try await cloud.waitUntilAlive([1, 2]))
                let three = try #require(cloud.config.server(id: 3))
                let keys = cloud.config.wireKeys(asServer: 3)
                let speaker = try Stranger(bind: three.control)
                var origin = WireOrigin(sender: 3, boot: 1_000)
                func heartbeat(to id: Int) throws -> [UInt8] {
                    let beat = RingMessage.heartbeat(.init(seen: .none, holding: false, accepted: 0, pending: 0))
                    var bytes: [UInt8] = []
                    try Wire.encode(into: &bytes, header: origin.next(beat.type, echo: try cloud.boot(of: id)), auth: .cluster, keys: keys,
                                    writePayload: { $0.append(contentsOf: beat.encoded()) })
                    return bytes
                }
                func threeIsAlive() async throws -> Bool { try await cloud.view().servers.first { $0.id == 3 }?.alive ?? false }

                // Authentic, fresh heartbeats: server 3 counts as alive (the control: the test can see it).
                var captured: [(bytes: [UInt8], to: SocketAddress)] = []
                for _ in 0..<20 {
                    for id in [1, 2] {
                        let bytes = try heartbeat(to: id)
                        captured.append((bytes, cloud.config.server(id: id)!.control))
                        speaker.send(bytes, to: cloud.config.server(id: id)!.control)
                    }
                    try await Task.sleep(for: .milliseconds(25))
                }
                #expect(try await threeIsAlive())
                // Server 3 "dies"; its captured heartbeats are replayed, from its own address: it stays dead.
                try await Task.sleep(for: .milliseconds(300))
                for _ in 0..<5 {
                    for datagram in captured { speaker.send(datagram.bytes, to: datagram.to) }
                    try await Task.sleep(for: .milliseconds(60))
                    #expect(try await !threeIsAlive(), "replayed heartbeats keep a dead server alive")
                }
                // The same heartbeats from any other port are not even looked at.
                let elsewhere = try Stranger()
                for _ in 0..<3 {
                    for id in [1, 2] { elsewhere.send(try heartbeat(to: id), to: cloud.config.server(id: id)!.control) }
                }
                try await Task.sleep(for: .milliseconds(30))
                #expect(try await !threeIsAlive())

                // A token made for server 1's last incarnation, sent after it restarted: not taken.
                let oldBoot = try cloud.boot(of: 1)
                cloud.kill9(1)
                try cloud.start(1)
                #expect(try await cloud.waitUntilAlive([1, 2]))
                #expect(try cloud.boot(of: 1) > oldBoot)
                let forged = RingMessage.token(.init(position: TokenPosition(epoch: Epoch(counter: 9_999, generator: 3), hop: 1), recentClaims: []))
                func sendToken(echo: UInt64) throws {
                    var bytes: [UInt8] = []
                    try Wire.encode(into: &bytes, header: origin.next(forged.type, echo: echo), auth: .cluster, keys: keys,
                                    writePayload: { $0.append(contentsOf: forged.encoded()) })
                    speaker.send(bytes, to: cloud.config.server(id: 1)!.control)
                }
                try sendToken(echo: oldBoot)
                try await Task.sleep(for: .milliseconds(200))
                #expect(try await cloud.view().position.epoch.counter != 9_999, "a token from before the restart was taken")
                // The control: made for the incarnation that runs, the same token is taken (so the test could fail).
                try sendToken(echo: try cloud.boot(of: 1))
                try await Task.sleep(for: .milliseconds(100))
                #expect(try await cloud.view().position.epoch.counter == 9_999)
            }
        }
    }
}

extension ServerProcesses {
    /// A fake cloud: the test owns the servers' addresses and answers every
    /// query with forged or lying answers, and the real command-line tools and
    /// peer daemon ask it. They refuse what is not signed by the server it
    /// names, and a lying server of the cloud (the test knows the secret)
    /// crashes nothing.
    @Suite("Forged and lying answers against the tools")
    struct ForgedAnswerTests {
    @Test func forgedAndLyingAnswersCrashNoToolAndStopNoDaemon() async throws {
        let binary = try #require(HostileNetworkTests.binary)
        try await withTemporaryFolder { folder in
            let cloud = try await AttackedCloud(binary: binary, folder: folder, count: 2, base: HostileNetworkTests.base(), running: [])
            let rightKeys = cloud.config.wireKeys(asServer: 1)
            let wrongKeys = WireKeys(signing: Curve25519.Signing.PrivateKey())
            let registered = Registrations()
            let config = cloud.config

            // Answers to whatever arrives, in three voices: unsigned, signed by a stranger, signed by server 1 itself but lying.
            // On a thread of its own: the runner's pipe reads block the cooperative threads while a tool runs.
            let faking = FakeServerThread { faking in
                guard let sockets = try? config.servers.map({ try Stranger(bind: $0.control) }) else { return }
                while !faking.isCancelled {
                    if let (sequence, port) = registered.takeControl() {
                        let refusal = DirectoryMessage.registered(name: "alice", sequence: sequence.sequence, digest: sequence.digest,
                                                                  refusal: .init("the name alice belongs to another key", permanent: true))
                        sockets[0].send(.directoryRegistered, refusal.encoded(), to: .ipv4Loopback(port: port), auth: .signed, keys: rightKeys,
                                        header: Wire.Header(type: .directoryRegistered, sender: 1, boot: 1, counter: 9))
                    }
                    for (index, socket) in sockets.enumerated() {
                        let sender = UInt64(config.servers[index].id)
                        while let datagram = try? socket.socket.receiveNow() {
                            guard let frame = try? Wire.decodeFrame(datagram.bytes, keys: WireKeys()) else { continue }
                            var reader = ByteReader(frame.payload)
                            let nonce = (try? reader.readUInt64()) ?? 0
                            var answers: [(MessageType, [UInt8])] = []
                            switch frame.type {
                            case .statusRequest:
                                let lie = ClusterStatus(reporter: sender, seen: .none, holder: UInt64(1) << 63,
                                                        servers: [.init(id: sender, alive: true, accepted: .max, pending: .max),
                                                                  .init(id: .max, alive: true, accepted: .max, pending: .max)])
                                answers.append((.statusReply, lie.encoded(nonce: nonce)))
                            case .whoRequest:
                                answers.append((.whoReply, DirectoryMessage.whoReply(nonce: nonce, total: .max, offset: .max - 1,
                                                                                     users: [.init(name: "mallory", online: true)]).encoded()))
                                answers.append((.whoReply, DirectoryMessage.whoReply(nonce: nonce, total: 5, offset: .max,
                                                                                     users: [.init(name: "eve", online: true)]).encoded()))
                            case .encryptRequest:
                                guard case .request(let request)? = try? EncryptionMessage.decode(type: frame.type, body: frame.payload) else { continue }
                                for server: UInt64 in [.max, 1 << 63, 0] {
                                    answers.append((.encryptAccepted, EncryptionMessage.accepted(.init(id: request.id, server: server, phase: .awaitingPayload)).encoded()))
                                }
                                // A refusal in the forged voices, and server 1's own refusal of a variant of the request
                                // (what a stranger gets by sending one from the client's address): none stops the client.
                                let refusal = EncryptionMessage.refused(.init(request, reason: "forged: go away")).encoded()
                                socket.send(.encryptRefused, refusal, to: datagram.address)
                                socket.send(.encryptRefused, refusal, to: datagram.address, auth: .signed, keys: wrongKeys,
                                            header: Wire.Header(type: .encryptRefused, sender: sender, boot: 1, counter: 3))
                                var variant = request
                                variant.payloadBytes = .max
                                let ofVariant = EncryptionMessage.refused(.init(variant, reason: "forged: too large")).encoded()
                                if sender == 1 { socket.send(.encryptRefused, ofVariant, to: datagram.address, auth: .signed, keys: rightKeys,
                                                             header: Wire.Header(type: .encryptRefused, sender: 1, boot: 1, counter: 4)) }
                            case .directoryRegister:
                                guard case .register(let record)? = try? DirectoryMessage.decode(type: frame.type, body: frame.payload) else { continue }
                                registered.add(record)
                                // A refusal for a record the daemon never sent, and forged ones for the real record.
                                answers.append((.directoryRegistered, DirectoryMessage.registered(name: record.name, sequence: 1, digest: [UInt8](repeating: 7, count: 16),
                                                                                                  refusal: .init("taken", permanent: true)).encoded()))
                            default:
                                continue
                            }
                            for (type, body) in answers {
                                socket.send(type, body, to: datagram.address)
                                socket.send(type, body, to: datagram.address, auth: .signed, keys: wrongKeys,
                                            header: Wire.Header(type: type, sender: sender, boot: 1, counter: 1))
                                if sender == 1 { socket.send(type, body, to: datagram.address, auth: .signed, keys: rightKeys,
                                                             header: Wire.Header(type: type, sender: 1, boot: 1, counter: 2)) }
                            }
                        }
                    }
                    usleep(2_000)
                }
            }
            defer { faking.cancel() }

            func survived(_ outcome: BinaryRunner.Outcome) -> Bool {
                (outcome.status == 0 || outcome.status == 1) && !outcome.stderr.contains("Fatal error") && !outcome.timedOut
            }
            // status: server 1's lies (a holder of 2^63, an unknown server) are shown as what they are; no trap.
            let status = try await binary.run(["status", "--cluster", cloud.clusterFile, "--timeout-ms", "800"], timeout: .seconds(30))
            #expect(survived(status), "\(status.status) \(status.stderr)")
            #expect(status.status == 0 && status.stdout.contains("holder in flight"), "\(status.stdout) \(status.stderr)")
            // who: offsets at the end of the range are refused, not added up.
            let who = try await binary.run(["who", "--cluster", cloud.clusterFile, "--timeout-ms", "800", "--json"], timeout: .seconds(30))
            #expect(survived(who), "\(who.status) \(who.stderr)")
            // encrypt: acceptances naming servers that do not exist, and an unsigned refusal, are ignored; it times out cleanly.
            try Data("x".utf8).write(to: URL(fileURLWithPath: folder + "/x.txt"))
            let encrypt = try await binary.run(["encrypt", folder + "/x.txt", "--key", "k", "--out", folder + "/x.png",
                                                "--cluster", cloud.clusterFile, "--timeout-ms", "1500"], timeout: .seconds(30))
            #expect(survived(encrypt), "\(encrypt.status) \(encrypt.stderr)")
            #expect(encrypt.status == 1 && encrypt.stderr.hasPrefix("error: no answer") && !encrypt.stderr.contains("forged"), "\(encrypt.stderr)")
            // The peer daemon hears refusals every second (unsigned, a stranger's, and server 1's for a record it never sent): it stays.
            let peer = try binary.start(["peer", "--user", "alice", "--home", folder + "/home", "--cluster", cloud.clusterFile], log: folder + "/peer.log")
            defer { if peer.isRunning { kill(peer.processIdentifier, SIGKILL) } }
            try await Task.sleep(for: .seconds(3))
            #expect(peer.isRunning, "\((try? String(contentsOfFile: folder + "/peer.log", encoding: .utf8)) ?? "")")
            #expect(registered.count >= 3)
            // A flood of garbage and forged frames at every port the daemon has: it stays, and keeps registering.
            let flooder = try Stranger()
            var random = SeededRandom(seed: 77)
            let ports = udpPorts(of: peer.processIdentifier)
            #expect(ports.count >= 2)
            for index in 0..<20_000 {
                let port = ports[index % ports.count]
                if index % 2 == 0 {
                    flooder.send(random.bytes(Int(random.next() % 300)), to: .ipv4Loopback(port: port))
                } else {
                    flooder.send(.directoryRegistered, DirectoryMessage.registered(name: "alice", sequence: random.next(), digest: random.bytes(16),
                                                                                   refusal: .init("x", permanent: true)).encoded(),
                                 to: .ipv4Loopback(port: port))
                }
            }
            let before = registered.count
            try await Task.sleep(for: .seconds(2))
            #expect(peer.isRunning && registered.count > before, "the daemon goes on registering")
            // The control: server 1's signed refusal of a record the daemon did send stops it, with the reason.
            let last = try #require(registered.last)
            for port in udpPorts(of: peer.processIdentifier) { registered.control(record: last, port: port) }
            for _ in 0..<100 where peer.isRunning { try await Task.sleep(for: .milliseconds(20)) }
            #expect(!peer.isRunning)
            #expect(((try? String(contentsOfFile: folder + "/peer.log", encoding: .utf8)) ?? "").contains("belongs to another key"))
        }
    }
    }
}

/// A loop on a thread of its own until cancelled.
final class FakeServerThread: Sendable {
    private let cancelled = Mutex(false)
    init(_ body: @escaping @Sendable (FakeServerThread) -> Void) {
        let thread = Thread { [self] in body(self) }
        thread.start()
    }
    var isCancelled: Bool { cancelled.withLock { $0 } }
    func cancel() { cancelled.withLock { $0 = true } }
}

/// The records a fake server has seen (from its answering task), and the
/// refusals the test asks it to send.
final class Registrations: Sendable {
    struct Seen: Sendable {
        var sequence: UInt64
        var digest: [UInt8]
    }
    private let records = Mutex<[Seen]>([])
    private let controls = Mutex<[(record: Seen, port: UInt16)]>([])
    func add(_ record: Directory.Record) { records.withLock { $0.append(Seen(sequence: record.sequence, digest: record.digest)) } }
    var count: Int { records.withLock { $0.count } }
    var last: Seen? { records.withLock { $0.last } }
    func control(record: Seen, port: UInt16) { controls.withLock { $0.append((record, port)) } }
    func takeControl() -> (Seen, UInt16)? { controls.withLock { $0.isEmpty ? nil : $0.removeFirst() } }
}
