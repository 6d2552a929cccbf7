import AsyncUDP
@testable import PhotoCloudProtocol
import PhotoCloudTestKit
import Testing

@Suite("Work token ring")
struct TokenRingTests {
    static let ms = Duration.milliseconds(1)

    static func at(_ milliseconds: Int) -> Instant { .zero + .milliseconds(Int64(milliseconds)) }

    @Test func aLoneServerRegeneratesTheTokenOnceAndServes() {
        var ring = TokenRing(id: 1, members: [1], now: .zero)
        _ = ring.start(now: .zero)
        #expect(!ring.isHolding)
        let request = RequestID(client: 9, number: 1)
        #expect(!ring.onRequest(request, now: Self.at(1)).contains(.accept(request)))
        // Its timer runs every heartbeat; a silence of 200 ms is then the token's, not its own.
        var directives: [RingDirective] = []
        for tick in stride(from: 30, through: 250, by: 30) { directives += ring.onTimer(now: Self.at(tick)) }
        #expect(directives.filter { if case .persist = $0 { true } else { false } }.count == 1, "regenerated once")
        #expect(directives.contains(.persist(Epoch(counter: 1, generator: 1))))
        #expect(directives.contains(.accept(request)))
        #expect(ring.isHolding)
        // Alone it keeps the token and claims new requests as they come.
        let second = RequestID(client: 9, number: 2)
        #expect(ring.onRequest(second, now: Self.at(251)).contains(.accept(second)))
    }

    @Test func heartbeatsFollowTheLowestLiveServerAndKeepTheirPaceWithoutIt() {
        var ring = TokenRing(id: 2, members: [1, 2, 3], now: .zero)
        let beat = RingMessage.heartbeat(.init(seen: .none, holding: false))
        func beats(_ directives: [RingDirective]) -> Int {
            directives.filter { if case .broadcast(.heartbeat) = $0 { true } else { false } }.count
        }
        #expect(beats(ring.start(now: .zero)) == 1)
        // Server 3 is not the pacer: its heartbeat changes nothing.
        #expect(beats(ring.on(beat, from: 3, now: Self.at(5))) == 0)
        // Server 1 is: its heartbeat at 20 ms brings this server's forward (due at 30 ms) to the same wake-up.
        #expect(beats(ring.on(beat, from: 1, now: Self.at(20))) == 1)
        #expect(beats(ring.onTimer(now: Self.at(30))) == 0, "sent already, at 20 ms")
        // Heard again within half an interval: not sent twice.
        #expect(beats(ring.on(beat, from: 1, now: Self.at(25))) == 0)
        // The pacer's next, 30 ms later, is followed again; the timer waits a quarter interval past it.
        #expect(beats(ring.on(beat, from: 1, now: Self.at(50))) == 1)
        #expect(beats(ring.onTimer(now: Self.at(80))) == 0)
        // The pacer falls silent: this server's own timer sends at 87.5 ms, 37.5 ms after the last.
        #expect(beats(ring.onTimer(now: Self.at(87))) == 0)
        #expect(beats(ring.onTimer(now: .zero + .microseconds(87_500))) == 1)
        // And then every interval.
        #expect(beats(ring.onTimer(now: .zero + .microseconds(117_500))) == 1)
        // The pacer itself follows only its timer.
        var pacer = TokenRing(id: 1, members: [1, 2, 3], now: .zero)
        _ = pacer.start(now: .zero)
        #expect(beats(pacer.on(beat, from: 2, now: Self.at(20))) == 0)
        #expect(beats(pacer.onTimer(now: Self.at(30))) == 1)
    }

    @Test func aQuietRingBeatsLessOftenAndItsSilenceIsJudgedByTheIntervalItsHeartbeatsGive() {
        // Server 1 is the pacer: only its own timer sends its heartbeats.
        var ring = TokenRing(id: 1, members: [1, 2, 3], now: .zero)
        var announced: [UInt16] = []
        func beatTimes(from start: Int, to end: Int) -> [Int] {
            var sent: [Int] = []
            for at in start...end {
                for case .broadcast(.heartbeat(let beat)) in ring.onTimer(now: Self.at(at)) {
                    sent.append(at)
                    announced.append(beat.intervalMilliseconds)
                }
            }
            return sent
        }
        _ = ring.start(now: .zero)
        // Busy (a request within the last second): every 30 ms, and its heartbeats say so.
        _ = ring.onRequest(RequestID(client: 1, number: 1), now: Self.at(1))
        #expect(beatTimes(from: 2, to: 100) == [30, 60, 90])
        #expect(announced == [30, 30, 30])
        // A second without requests: every 50 ms, and its heartbeats say 50.
        let quietBeat = RingMessage.heartbeat(.init(seen: .none, holding: false, intervalMilliseconds: 50))
        let busyBeat = RingMessage.heartbeat(.init(seen: .none, holding: false, intervalMilliseconds: 30))
        for at in stride(from: 100, through: 1_500, by: 50) {
            _ = ring.on(quietBeat, from: 2, now: Self.at(at))
            _ = ring.on(quietBeat, from: 3, now: Self.at(at))
        }
        announced = []
        let quiet = beatTimes(from: 1_501, to: 1_700)
        #expect(quiet.count == 4)
        #expect(zip(quiet, quiet.dropFirst()).allSatisfy { $1 - $0 == 50 }, "every 50 ms when quiet: \(quiet)")
        #expect(announced.allSatisfy { $0 == 50 })
        // A server whose heartbeats say 50 ms may be silent five of them (four lost in a row), 250 ms; one whose say
        // 30 ms, 150 ms, as before. Server 3 falls silent at 1,500 ms; server 2 goes on, then says 30 ms at 1,600 ms.
        _ = ring.on(quietBeat, from: 2, now: Self.at(1_550))
        _ = ring.on(busyBeat, from: 2, now: Self.at(1_600))
        #expect(ring.membership.isAlive(3, now: Self.at(1_740)), "four 50 ms heartbeats lost in a row are not a death")
        #expect(!ring.membership.isAlive(3, now: Self.at(1_751)))
        #expect(ring.membership.isAlive(2, now: Self.at(1_740)))
        #expect(!ring.membership.isAlive(2, now: Self.at(1_751)), "150 ms after a heartbeat that said 30 ms")
        // A request brings the 30 ms pace back from the next heartbeat on.
        _ = ring.onRequest(RequestID(client: 1, number: 2), now: Self.at(1_701))
        let busy = beatTimes(from: 1_702, to: 1_900)
        #expect(busy.count >= 6)
        #expect(zip(busy.dropFirst(), busy.dropFirst(2)).allSatisfy { $1 - $0 == 30 }, "every 30 ms again: \(busy)")
    }

    @Test func aQuietFollowerOfABusyPacerIsAllowedFourLostHeartbeatsInARow() {
        // Only the pacer gets requests (clients that use one server): it beats every 30 ms, the follower is quiet.
        var follower = TokenRing(id: 2, members: [1, 2, 3], now: .zero)
        _ = follower.start(now: .zero)
        let pacerBeat = RingMessage.heartbeat(.init(seen: .none, holding: false, intervalMilliseconds: 30))
        var sent: [(at: Int, interval: UInt16)] = []
        for at in 0...3_000 {
            var directives = follower.onTimer(now: Self.at(at))
            if at % 30 == 0 { directives += follower.on(pacerBeat, from: 1, now: Self.at(at)) }
            for case .broadcast(.heartbeat(let beat)) in directives { sent.append((at, beat.intervalMilliseconds)) }
        }
        let late = sent.filter { $0.at > 1_500 }
        let gaps = zip(late, late.dropFirst()).map { $1.at - $0.at }
        let announced = Int(late.map(\.interval).max() ?? 0)
        #expect(announced == 50, "quiet")
        #expect(gaps.max()! > 50, "it follows every other beat of the pacer: \(gaps)")
        // Its peers allow five announced intervals of silence: four of its real gaps fit in it.
        #expect(4 * gaps.max()! < 5 * announced, "gaps \(gaps.max()!) ms against \(announced) ms announced")
    }

    @Test func waitingRequestsAndOwnClaimsAreBounded() {
        let configuration = TokenRing.Configuration(maxPending: 5, maxOpenClaims: 2)
        var ring = TokenRing(id: 1, members: [1, 2], configuration: configuration, now: .zero)
        _ = ring.on(.heartbeat(.init(seen: .none, holding: false)), from: 2, now: Self.at(1))
        // A flood of requests while another server has the token: only 5 wait.
        for number in 0..<50 { _ = ring.onRequest(RequestID(client: 7, number: UInt64(number)), now: Self.at(2)) }
        #expect(ring.pendingCount == 5)
        // Holding the token, it claims at most 2 it has not finished (its fair share would be 3),
        // and passes the token on with the rest waiting.
        let directives = ring.on(.token(.init(position: TokenPosition(epoch: Epoch(counter: 1, generator: 2), hop: 1), recentClaims: [])),
                                 from: 2, now: Self.at(3))
        let accepted = directives.filter { if case .accept = $0 { true } else { false } }.count
        #expect(accepted == 2)
        #expect(ring.pendingCount == 3)
        let full = ring.on(.token(.init(position: TokenPosition(epoch: Epoch(counter: 1, generator: 2), hop: 2), recentClaims: [])),
                           from: 2, now: Self.at(4))
        #expect(!full.contains { if case .accept = $0 { true } else { false } }, "nothing while its 2 are open")
        // Once it finishes them, it may claim again.
        let mine = ring.claims.filter { $0.value == 1 }.map(\.key)
        _ = ring.onCompleted(mine, now: Self.at(5))
        let again = ring.on(.token(.init(position: TokenPosition(epoch: Epoch(counter: 1, generator: 2), hop: 4), recentClaims: [])),
                            from: 2, now: Self.at(6))
        #expect(again.filter { if case .accept = $0 { true } else { false } }.count == 2)
    }

    @Test func aServerThatWasPausedDoesNotBlameTheOthers() {
        var ring = TokenRing(id: 1, members: [1, 2], now: .zero)
        _ = ring.start(now: .zero)
        _ = ring.on(.heartbeat(.init(seen: .none, holding: false)), from: 2, now: Self.at(10))
        _ = ring.onTimer(now: Self.at(30))
        #expect(ring.membership.isAlive(2, now: Self.at(30)))
        // This server's loop stalls for 400 ms; server 2's heartbeats wait in its socket.
        _ = ring.onTimer(now: Self.at(430))
        #expect(ring.membership.isAlive(2, now: Self.at(430)), "its own pause is not server 2's death")
        // Truly silent afterwards, server 2 is found dead in the usual time.
        for tick in stride(from: 460, through: 640, by: 30) { _ = ring.onTimer(now: Self.at(tick)) }
        #expect(!ring.membership.isAlive(2, now: Self.at(640)))
    }

    @Test func retriesAreAnsweredNotQueuedTwice() {
        var ring = TokenRing(id: 1, members: [1, 2], now: .zero)
        _ = ring.on(.heartbeat(.init(seen: .none, holding: false)), from: 2, now: Self.at(1))
        let mine = RequestID(client: 9, number: 1), theirs = RequestID(client: 9, number: 2)
        _ = ring.on(.claimed(.init(server: 2, requests: [theirs])), from: 2, now: Self.at(2))
        _ = ring.on(.token(.init(position: TokenPosition(epoch: Epoch(counter: 1, generator: 2), hop: 1), recentClaims: [])),
                    from: 2, now: Self.at(3))
        #expect(ring.onRequest(mine, now: Self.at(4)).contains(.accept(mine)))
        #expect(ring.onRequest(mine, now: Self.at(5)).contains(.accept(mine)))
        #expect(ring.onRequest(theirs, now: Self.at(6)).contains(.claimedElsewhere(theirs, by: 2)))
        #expect(ring.acceptedCount == 1 && ring.pendingCount == 0)
    }

    @Test func twoServersThatBothAnsweredARequestEachAnswerItsRetryAgain() {
        // Both answered (a takeover raced the first answer) and both answers were lost: each hears that the other
        // answered too. A retry must still be answered by someone, not sent by each to the other.
        var one = TokenRing(id: 1, members: [1, 2, 3], now: .zero), two = TokenRing(id: 2, members: [1, 2, 3], now: .zero)
        let request = RequestID(client: 9, number: 143)
        let now = Instant.zero + .milliseconds(5)
        _ = one.onCompleted([request], now: now)
        _ = two.onCompleted([request], now: now)
        _ = one.on(.completed([request]), from: 2, now: now)
        _ = two.on(.completed([request]), from: 1, now: now)
        #expect(one.onRequest(request, now: now).contains(.accept(request)), "server 1 sends the retry to server 2")
        #expect(two.onRequest(request, now: now).contains(.accept(request)), "server 2 sends the retry to server 1")
        // A server that did not answer it still points to an answerer.
        var three = TokenRing(id: 3, members: [1, 2, 3], now: .zero)
        _ = three.on(.completed([request]), from: 1, now: now)
        _ = three.on(.completed([request]), from: 2, now: now)
        #expect(three.onRequest(request, now: now).contains { if case .claimedElsewhere(request, _) = $0 { true } else { false } })
    }

    @Test func aHigherEpochTakesTheTokenAway() {
        var ring = TokenRing(id: 1, members: [1, 2, 3], now: .zero)
        let old = TokenPosition(epoch: Epoch(counter: 3, generator: 2), hop: 5)
        let directives = ring.on(.token(.init(position: old, recentClaims: [])), from: 2, now: Self.at(1))
        #expect(directives.contains(.send(to: 2, .tokenAck(old))))
        #expect(ring.holdingPosition == old)
        _ = ring.on(.heartbeat(.init(seen: TokenPosition(epoch: Epoch(counter: 4, generator: 3), hop: 0), holding: true)),
                    from: 3, now: Self.at(2))
        #expect(!ring.isHolding)
        // A resend of the stale token is ignored, not acknowledged.
        #expect(ring.on(.token(.init(position: old, recentClaims: [])), from: 2, now: Self.at(3)).allSatisfy {
            if case .armTimer = $0 { true } else { false }
        })
    }

    @Test func aHandOffToADeadServerMakesANewEpochPastIt() {
        var ring = TokenRing(id: 1, members: [1, 2, 3], now: .zero)
        _ = ring.on(.heartbeat(.init(seen: .none, holding: false)), from: 2, now: Self.at(1))
        _ = ring.on(.heartbeat(.init(seen: .none, holding: false)), from: 3, now: Self.at(1))
        let position = TokenPosition(epoch: Epoch(counter: 1, generator: 3), hop: 1)
        _ = ring.on(.token(.init(position: position, recentClaims: [])), from: 3, now: Self.at(2))
        let handOff = ring.onTimer(now: Self.at(5))
        #expect(handOff.contains(.send(to: 2, .token(.init(position: TokenPosition(epoch: position.epoch, hop: 2), recentClaims: [])))))
        // 2 falls silent; 3 keeps beating. After 2 is suspected, the resend goes past it with a new epoch.
        for time in stride(from: 30, through: 200, by: 30) {
            _ = ring.on(.heartbeat(.init(seen: TokenPosition(epoch: position.epoch, hop: 2), holding: false)), from: 3, now: Self.at(time))
        }
        let skip = ring.onTimer(now: Self.at(200))
        #expect(skip.contains(.persist(Epoch(counter: 2, generator: 1))))
        #expect(skip.contains { if case .send(to: 3, .token) = $0 { true } else { false } })
    }

    @Test func aQuietRingRestsTheTokenButClaimsARequestAtOnce() {
        // Server 2 holds; server 1, the lowest, is the one that would regenerate a lost token.
        var holder = TokenRing(id: 2, members: [1, 2], now: .zero)
        var other = TokenRing(id: 1, members: [1, 2], now: .zero)
        let position = TokenPosition(epoch: Epoch(counter: 1, generator: 1), hop: 1)
        _ = holder.on(.heartbeat(.init(seen: .none, holding: false)), from: 1, now: Self.at(1))
        // No request for over a second: the holder keeps the token through many heartbeats, not 2 ms.
        _ = holder.on(.token(.init(position: position, recentClaims: [])), from: 1, now: Self.at(1_100))
        _ = other.on(.heartbeat(.init(seen: position, holding: true)), from: 2, now: Self.at(1_100))
        var passed = false
        for time in stride(from: 1_130, through: 1_340, by: 30) {
            _ = holder.on(.heartbeat(.init(seen: position, holding: false)), from: 1, now: Self.at(time))
            passed = passed || holder.onTimer(now: Self.at(time)).contains { if case .send(to: 1, .token) = $0 { true } else { false } }
            // Server 1 hears the holder's heartbeats (holding, at the newest position): resting, not lost,
            // though the token has not moved for longer than the token timeout (200 ms).
            _ = other.on(.heartbeat(.init(seen: position, holding: true)), from: 2, now: Self.at(time))
            #expect(!other.onTimer(now: Self.at(time)).contains { if case .persist = $0 { true } else { false } },
                    "no regeneration while the holder rests at \(time) ms")
        }
        #expect(!passed && holder.isHolding)
        // A request is claimed the moment it comes, whatever the hold.
        let request = RequestID(client: 5, number: 1)
        #expect(holder.onRequest(request, now: Self.at(1_345)).contains(.accept(request)))
        // Busy again: the token moves on within the short hold.
        _ = holder.on(.token(.init(position: TokenPosition(epoch: position.epoch, hop: 3), recentClaims: [])), from: 1, now: Self.at(1_350))
        #expect(holder.onTimer(now: Self.at(1_353)).contains { if case .send(to: 1, .token) = $0 { true } else { false } })
    }

    @Test func threeServersShareTheWorkEvenly() {
        var options = RingSimulation.Options()
        options.requests = 600
        let outcome = RingSimulation.run(seed: 1, options: options)
        #expect(outcome.violations.isEmpty, "\(outcome.violations)")
        #expect(outcome.answered == 600)
        #expect(outcome.epochs.count == 1, "the token is generated once, not per server: \(outcome.epochs)")
        let loads = outcome.perServer.values
        #expect(loads.count == 3)
        #expect(Double(loads.max() ?? 0) <= 1.5 * Double(max(loads.min() ?? 1, 1)), "\(outcome.perServer)")
    }

    @Test("faults, crashes and partitions: one holder per epoch, every request answered", arguments: Array(UInt64(1)...24))
    func underFaults(seed: UInt64) {
        var options = RingSimulation.Options()
        options.requests = 200
        options.faults = FaultProfile(drop: 0.05, duplicate: 0.02, reorder: 0.05, delay: .microseconds(300),
                                      jitter: .microseconds(200), seed: seed)
        options.crashes = Int(seed % 3) + 1
        options.partitions = Int(seed % 2) + 1
        let outcome = RingSimulation.run(seed: seed, options: options)
        #expect(outcome.violations.isEmpty, "seed \(seed): \(outcome.violations.prefix(3))")
        #expect(outcome.answered == outcome.requests, "seed \(seed)")
        #expect(outcome.crashes >= 1, "the faults were exercised")
    }

    @Test func theSimulationCatchesAnUnansweredRequest() {
        // The invariant check itself can fail: a lone server that crashes and
        // never restarts leaves requests unanswered, and the run says so.
        var options = RingSimulation.Options()
        options.requests = 50
        options.servers = 1
        options.crashes = 1
        options.settle = .milliseconds(100)
        options.restartDelay = nil
        let outcome = RingSimulation.run(seed: 3, options: options)
        #expect(outcome.answered < outcome.requests)
        #expect(outcome.violations.contains { $0.contains("never answered") })
    }
}

@Suite("Work token messages on the wire")
struct RingMessageCodingTests {
    static let epoch = Epoch(counter: 7, generator: 2)
    static let position = TokenPosition(epoch: epoch, hop: 99)
    static let requests = [RequestID(client: 1, number: 2), RequestID(client: .max, number: 0)]
    static let samples: [RingMessage] = [
        .heartbeat(.init(seen: position, holding: true, accepted: 12, pending: 3)),
        .heartbeat(.init(seen: position, holding: false, accepted: 1, pending: 0, intervalMilliseconds: 50)),
        .heartbeat(.init(seen: .none, holding: false)),
        .token(.init(position: position, recentClaims: [.init(server: 3, requests: requests), .init(server: 1, requests: [])])),
        .tokenAck(position),
        .claimed(.init(server: 3, requests: requests)),
        .completed(requests),
        .completed([]),
    ]

    @Test("round trips through Wire with the cluster secret", arguments: samples)
    func roundTrip(message: RingMessage) throws {
        let keys = WireKeys(clusterSecret: [UInt8](repeating: 1, count: 32))
        let bytes = try Wire.encode(Envelope(type: message.type, sender: 2, boot: 1, counter: 5, auth: .cluster, payload: message.encoded()), keys: keys)
        let frame = try Wire.decodeFrame(bytes, keys: keys)
        #expect(try RingMessage.decode(type: frame.type, body: frame.payload) == message)
    }

    @Test("every truncation and any trailing byte is refused", arguments: samples)
    func refusesDamage(message: RingMessage) {
        let body = message.encoded()
        for length in 0..<body.count {
            #expect(throws: WireError.self) { try RingMessage.decode(type: message.type, body: body.prefix(length)) }
        }
        #expect(throws: WireError.self) { try RingMessage.decode(type: message.type, body: (body + [0])[...]) }
    }

    @Test func refusesAHeartbeatIntervalOutsideOneToAThousandMilliseconds() {
        for interval: UInt16 in [0, 1_001, .max] {
            var body = RingMessage.heartbeat(.init(seen: Self.position, holding: false)).encoded()
            body.removeLast(2)
            body.appendBigEndian(interval)
            #expect(throws: WireError.self, "\(interval) ms") { try RingMessage.decode(type: .ringHeartbeat, body: body[...]) }
        }
    }

    @Test func refusesForgedCountsWithoutAllocating() {
        var body: [UInt8] = []
        body.appendBigEndian(UInt16(4_096))   // 4,096 requests announced, none present
        #expect { try RingMessage.decode(type: .ringCompleted, body: body[...]) } throws: { ($0 as? WireError)?.code == .truncated }
        var token: [UInt8] = []
        RingMessage.append(Self.position, to: &token)
        token.appendBigEndian(UInt16(65_535))
        #expect(throws: WireError.self) { try RingMessage.decode(type: .ringToken, body: token[...]) }
        #expect(throws: WireError.self) { try RingMessage.decode(type: .transferAck, body: [][...]) }
    }
}
