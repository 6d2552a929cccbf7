import Crypto
import PhotoCloudProtocol
import Testing

@Suite("Encryption request: messages, server jobs, client attempt")
struct EncryptionServiceTests {
    let id = RequestID(client: 7, number: 1)
    let payload: [UInt8] = Array("sealed bytes".utf8)
    var request: EncryptionMessage.Request {
        EncryptionMessage.Request(id: id, payloadBytes: UInt32(payload.count), payloadDigest: [UInt8](repeating: 9, count: 32), key: Array("sunset".utf8), dataPort: 4000)
    }
    let at = { (ms: UInt64) in Instant(nanoseconds: ms * 1_000_000) }

    // MARK: Messages

    @Test func messagesRoundTripAndEveryTruncationIsATypedError() throws {
        let messages: [EncryptionMessage] = [
            .request(request),
            .request(.init(id: id, direct: true, bitsPerChannel: 3, payloadBytes: 1 << 20, payloadDigest: [UInt8](repeating: 1, count: 32), key: [UInt8](repeating: 2, count: 64))),
            .request(.init(id: id, payloadBytes: 3, payloadDigest: [UInt8](repeating: 1, count: 32), key: [5], cookie: [UInt8](repeating: 6, count: 16), inline: [7, 8, 9])),
            .request(.init(id: id, payloadBytes: 0, payloadDigest: [UInt8](repeating: 1, count: 32), key: [5], inline: [])),
            .accepted(.init(id: id, server: 3, phase: .awaitingPayload)),
            .accepted(.init(id: id, server: 2, phase: .claimedElsewhere)),
            .refused(.init(request, reason: "too large")),
            .answerReceived(.init(id: id, server: 2)),
        ]
        for message in messages {
            let body = message.encoded()
            #expect(try EncryptionMessage.decode(type: message.type, body: body[...]) == message)
            for cut in 0..<body.count {
                #expect(throws: WireError.self) { try EncryptionMessage.decode(type: message.type, body: body[0..<cut]) }
            }
            #expect(throws: WireError.self) { try EncryptionMessage.decode(type: message.type, body: (body + [0])[...]) }
        }
    }

    @Test func forgedFieldsAreRefused() {
        var body = EncryptionMessage.request(request).encoded()
        body[16] = 2   // direct flag
        #expect(throws: WireError.self) { try EncryptionMessage.decode(type: .encryptRequest, body: body[...]) }
        body = EncryptionMessage.request(request).encoded()
        body[17] = 4   // bits per channel
        #expect(throws: WireError.self) { try EncryptionMessage.decode(type: .encryptRequest, body: body[...]) }
        body = EncryptionMessage.accepted(.init(id: id, server: 1, phase: .working)).encoded()
        body[body.count - 1] = 9
        #expect(throws: WireError.self) { try EncryptionMessage.decode(type: .encryptAccepted, body: body[...]) }
        #expect(throws: WireError.self) { try EncryptionMessage.decode(type: .ping, body: body[...]) }
    }

    @Test func inlinePayloadsAreWholeAndSmallAndCookiesHaveOneSize() throws {
        var carrying = request
        carrying.cookie = [UInt8](repeating: 6, count: 16)
        carrying.inline = payload
        let body = EncryptionMessage.request(carrying).encoded()
        #expect(carrying.digest == request.digest, "a request is named without its cookie and inline payload")
        // The inline length must be the payload's size.
        var lying = body
        lying[lying.count - payload.count - 1] -= 1
        #expect(throws: WireError.self) { try EncryptionMessage.decode(type: .encryptRequest, body: lying.dropLast()) }
        // Inline bytes without the flag, a flag of 2, a cookie of 15 bytes.
        let flag = body.count - payload.count - 3
        lying = body
        lying[flag] = 0
        #expect(throws: WireError.self) { try EncryptionMessage.decode(type: .encryptRequest, body: lying[...]) }
        lying[flag] = 2
        #expect(throws: WireError.self) { try EncryptionMessage.decode(type: .encryptRequest, body: lying[...]) }
        lying = body
        lying[flag - 17] = 15
        #expect(throws: WireError.self) { try EncryptionMessage.decode(type: .encryptRequest, body: lying[...]) }
        // A payload above the inline limit is not put inline by the encoder, and not taken by the decoder.
        var large = request
        large.payloadBytes = UInt32(EncryptionMessage.maxInlinePayload + 1)
        large.inline = [UInt8](repeating: 1, count: EncryptionMessage.maxInlinePayload + 1)
        let encoded = EncryptionMessage.request(large).encoded()
        #expect(try EncryptionMessage.decode(type: .encryptRequest, body: encoded[...]) == .request(large.identity))
        var forged = Array(encoded.dropLast(3)) + [1] + UInt16(large.payloadBytes).bigEndianBytes + large.inline!
        #expect(throws: WireError.self) { try EncryptionMessage.decode(type: .encryptRequest, body: forged[...]) }
        forged = Array(encoded.dropLast(3)) + [1, 0, 0]
        #expect(throws: WireError.self, "an empty inline payload for a payload that is not empty") {
            try EncryptionMessage.decode(type: .encryptRequest, body: forged[...])
        }
    }

    @Test func dataObjectsRoundTrip() throws {
        #expect(try EncryptionObject.decode(EncryptionObject.payload(id, payload).encoded()) == .payload(id, payload))
        for proof: EncryptionObject.AnswerProof in [.session([UInt8](repeating: 4, count: 32)), .signature([UInt8](repeating: 5, count: 64))] {
            let result = EncryptionObject.result(id, server: 2, proof: proof, png: [1, 2, 3])
            #expect(try EncryptionObject.decode(result.encoded()) == result)
        }
        #expect(throws: WireError.self) { try EncryptionObject.decode(Array("XXXX".utf8) + [UInt8](repeating: 0, count: 16)) }
        #expect(throws: WireError.self) { try EncryptionObject.decode([0x50, 0x43]) }
    }

    // MARK: Server jobs

    var expectation: EncryptionJobs<Int>.Directive {
        .expectPayload(id, bytes: payload.count + 20, within: EncryptionJobs<Int>(server: 2).payloadTimeout(request))
    }

    @Test func aPayloadIsWaitedForLongerTheLargerItIs() {
        let jobs = EncryptionJobs<Int>(server: 1)
        var large = request
        large.payloadBytes = 8 << 20
        #expect(jobs.payloadTimeout(request) < .seconds(6), "a stranger who never sends holds a claim briefly")
        #expect(jobs.payloadTimeout(large) == .seconds(13))
        large.payloadBytes = 32 << 20
        #expect(jobs.payloadTimeout(large) == .seconds(20), "at most the configured wait")
    }

    @Test func acceptedRequestWaitsForItsPayloadThenEmbedsAndAnswers() {
        var jobs = EncryptionJobs<Int>(server: 2)
        #expect(jobs.onRequest(request, from: 100, data: 200) == nil)
        #expect(jobs.onAccepted(id, now: at(0)) == [expectation, .notify(100, .accepted(.init(id: id, server: 2, phase: .awaitingPayload)))],
                "the payload is announced to the data endpoint as the client is told")
        // A payload that is not the announced one is refused, and the request finished here.
        let wrong = jobs.onPayload(id, payload, digest: [UInt8](repeating: 0, count: 32), from: 200)
        #expect(wrong.contains(.finished(id)))
        #expect(wrong.contains { if case .notify(100, .refused) = $0 { true } else { false } })

        var fresh = EncryptionJobs<Int>(server: 2)
        _ = fresh.onRequest(request, from: 100, data: 200)
        _ = fresh.onAccepted(id, now: at(0))
        #expect(fresh.onPayload(id, payload, digest: request.payloadDigest, from: 200) == [.embed(request, payload: payload)])
        // The same payload again (a resend) is embedded once.
        #expect(fresh.onPayload(id, payload, digest: request.payloadDigest, from: 200) == [])
        #expect(fresh.onAccepted(id, now: at(1)) == [.notify(100, .accepted(.init(id: id, server: 2, phase: .working)))])
        #expect(fresh.onEmbedded(id, .success([1, 2, 3])) == [.sendAnswer(id, png: [1, 2, 3], to: 200), .finished(id)])
        #expect(fresh.answered == 1)
        // A retry while the answer is on its way: the client has not got it, so it goes again if it is one datagram
        // (`resendAnswer`); once sent, the answer again. Each time the ring (which may have claimed it again) is
        // told it is finished, so that no claim stays open.
        #expect(fresh.onAccepted(id, now: at(2)) == [.notify(100, .accepted(.init(id: id, server: 2, phase: .answered))), .finished(id),
                                                  .resendAnswer(id)])
        fresh.onAnswerSent(id)
        #expect(fresh.onAccepted(id, now: at(3)) == [.notify(100, .accepted(.init(id: id, server: 2, phase: .answered))), .finished(id),
                                                  .sendAnswer(id, png: [1, 2, 3], to: 200)])
    }

    @Test func answersGoOnlyWhereThePayloadCameFrom() {
        var jobs = EncryptionJobs<Int>(server: 2)
        _ = jobs.onRequest(request, from: 100, data: 200)
        _ = jobs.onAccepted(id, now: at(0))
        // The payload arrived from 250 (the transfer's validated source), not the request's claim of 200.
        _ = jobs.onPayload(id, payload, digest: request.payloadDigest, from: 250)
        #expect(jobs.onEmbedded(id, .success([7])).contains(.sendAnswer(id, png: [7], to: 250)))
        jobs.onAnswerSent(id)
        // A replay of the request from anywhere, claiming any data port: the answer never goes
        // there; the asker is asked for the payload (which only a real client has and can send).
        #expect(jobs.onRequest(request, from: 666, data: 667) == nil)
        let replayed = jobs.onAccepted(id, now: at(1))
        #expect(!replayed.contains { if case .sendAnswer = $0 { true } else { false } })
        #expect(replayed == [expectation, .notify(666, .accepted(.init(id: id, server: 2, phase: .awaitingPayload))), .finished(id)])
        // The client itself, from a new data endpoint, sends the payload again: the kept answer goes there.
        #expect(jobs.onPayload(id, payload, digest: request.payloadDigest, from: 400) == [.sendAnswer(id, png: [7], to: 400)])
        // A wrong payload cannot re-point it.
        jobs.onAnswerSent(id)
        #expect(jobs.onPayload(id, [1, 2], digest: [UInt8](repeating: 3, count: 32), from: 999) == [])
        _ = jobs.onRequest(request, from: 100, data: 400)
        #expect(jobs.onAccepted(id, now: at(2)).contains(.sendAnswer(id, png: [7], to: 400)))
    }

    var inlineRequest: EncryptionMessage.Request {
        var carrying = request
        carrying.payloadDigest = Array(SHA256.hash(data: payload))
        carrying.cookie = [UInt8](repeating: 6, count: 16)
        carrying.inline = payload
        return carrying
    }

    @Test func anInlinePayloadToAValidatedEndpointIsServedWithoutATransfer() {
        var jobs = EncryptionJobs<Int>(server: 2)
        let carrying = inlineRequest
        #expect(jobs.onRequest(carrying, from: 100, data: 200, dataValidated: true) == nil)
        #expect(jobs.onAccepted(id, now: at(0)) == [.notify(100, .accepted(.init(id: id, server: 2, phase: .working))),
                                                    .embed(carrying.identity, payload: payload)],
                "to work at once: nothing announced, no payload asked for")
        #expect(jobs.onEmbedded(id, .success([7])) == [.sendAnswer(id, png: [7], to: 200), .finished(id)])
    }

    @Test func anInlinePayloadCountsOnlyForTheEndpointItsCookieValidatedAndWithItsDigest() {
        let carrying = inlineRequest
        let identity = carrying.identity
        let expected = EncryptionJobs<Int>.Directive.expectPayload(id, bytes: payload.count + 20, within: EncryptionJobs<Int>(server: 2).payloadTimeout(identity))
        // Without a valid cookie the payload that came inline is not used: the endpoint must send it (and so show it receives).
        var jobs = EncryptionJobs<Int>(server: 2)
        _ = jobs.onRequest(carrying, from: 100, data: 200, dataValidated: false)
        #expect(jobs.onAccepted(id, now: at(0)) == [expected, .notify(100, .accepted(.init(id: id, server: 2, phase: .awaitingPayload)))])
        // Not the payload the request names.
        var other = EncryptionJobs<Int>(server: 2)
        var wrong = carrying
        wrong.inline = Array("sealed bytez".utf8)
        _ = other.onRequest(wrong, from: 100, data: 200, dataValidated: true)
        #expect(other.onAccepted(id, now: at(0)).contains(expected))
        // Validated for 200, then a retry names 300 without a cookie: the answer does not go to 300.
        var moved = EncryptionJobs<Int>(server: 2)
        _ = moved.onRequest(carrying, from: 100, data: 200, dataValidated: true)
        _ = moved.onRequest(carrying, from: 100, data: 300, dataValidated: false)
        #expect(moved.onAccepted(id, now: at(0)).contains(expected))
        // A request waiting for its payload takes it from a validated retry, and drops the announcement.
        _ = jobs.onRequest(carrying, from: 100, data: 200, dataValidated: true)
        #expect(jobs.onAccepted(id, now: at(1)) == [.abandonPayload(id), .notify(100, .accepted(.init(id: id, server: 2, phase: .working))),
                                                    .embed(identity, payload: payload)])
        // Answered: a replay that names another endpoint, even with the payload, gets no answer without a cookie for it.
        _ = jobs.onEmbedded(id, .success([7]))
        jobs.onAnswerSent(id)
        _ = jobs.onRequest(carrying, from: 666, data: 667, dataValidated: false)
        #expect(!jobs.onAccepted(id, now: at(2)).contains { if case .sendAnswer = $0 { true } else { false } })
        // The client from a new, validated endpoint: the kept answer goes there.
        _ = jobs.onRequest(carrying, from: 100, data: 400, dataValidated: true)
        #expect(jobs.onAccepted(id, now: at(3)).contains(.sendAnswer(id, png: [7], to: 400)))
    }

    @Test func openJobsAreCapped() {
        var jobs = EncryptionJobs<Int>(server: 1, configuration: .init(maxOpenJobs: 2))
        for number in 1...3 {
            var request = self.request
            request.id = RequestID(client: 9, number: UInt64(number))
            _ = jobs.onRequest(request, from: 1, data: 2)
        }
        _ = jobs.onAccepted(RequestID(client: 9, number: 1), now: at(0))
        _ = jobs.onAccepted(RequestID(client: 9, number: 2), now: at(0))
        let third = RequestID(client: 9, number: 3)
        #expect(jobs.onAccepted(third, now: at(0)) == [.finished(third)], "let go: the ring forgets it and the retry brings it back")
        #expect(jobs.openCount == 2 && jobs.shedCount == 1)
        #expect(jobs.onTimer(now: at(20_000)).count { if case .finished = $0 { true } else { false } } == 2)
        #expect(jobs.openCount == 0)
        #expect(jobs.onAccepted(third, now: at(20_001)).contains(.notify(1, .accepted(.init(id: third, server: 1, phase: .awaitingPayload)))))
    }

    @Test func refusalsAndTimeouts() {
        var jobs = EncryptionJobs<Int>(server: 1, configuration: .init(payloadTimeout: .seconds(1), maxPayloadBytes: 100))
        var huge = request
        huge.payloadBytes = 101
        #expect(jobs.onRequest(huge, from: 5, data: 105) != nil)
        #expect(jobs.onRequest(request, from: 5, data: 105) == nil)
        var other = request
        other.key = Array("another key".utf8)
        #expect(jobs.onRequest(other, from: 5, data: 105) != nil, "a request id reused for another request is refused")
        // Unknown requests are not accepted (the retry will bring them), and the ring is told
        // to let the claim go: kept, it would count against the server's open claims forever.
        #expect(jobs.onAccepted(RequestID(client: 1, number: 1), now: at(0)) == [.finished(RequestID(client: 1, number: 1))])
        #expect(jobs.onClaimedElsewhere(id, by: 3) == [.notify(5, .accepted(.init(id: id, server: 3, phase: .claimedElsewhere)))])
        _ = jobs.onAccepted(id, now: at(0))
        #expect(jobs.onTimer(now: at(500)) == [])
        #expect(jobs.onTimer(now: at(1_000)) == [.abandonPayload(id), .finished(id)], "a payload that never comes is given up, and its transfer dropped")
        #expect(jobs.openCount == 0)
        // A failed embedding is refused to the client.
        _ = jobs.onAccepted(id, now: at(2_000))
        _ = jobs.onPayload(id, payload, digest: request.payloadDigest, from: 105)
        let failed = jobs.onEmbedded(id, .failure(.init("no cover")))
        #expect(failed.contains(.finished(id)) && failed.contains(.notify(5, .refused(.init(request, reason: "no cover")))))
        #expect(jobs.openCount == 0)
    }

    @Test func answersBeyondTheCacheAreForgottenOldestFirst() {
        var jobs = EncryptionJobs<Int>(server: 1, configuration: .init(answerCacheBytes: 10))
        for number in 1...3 {
            let id = RequestID(client: 1, number: UInt64(number))
            var request = self.request
            request.id = id
            _ = jobs.onRequest(request, from: 1, data: 101)
            _ = jobs.onAccepted(id, now: at(0))
            _ = jobs.onPayload(id, payload, digest: request.payloadDigest, from: 101)
            _ = jobs.onEmbedded(id, .success([UInt8](repeating: 0, count: 6)))
        }
        // Only the newest answer is kept: an older one's retry starts over (and gets the same bytes).
        let first = RequestID(client: 1, number: 1)
        #expect(jobs.onAccepted(first, now: at(1)).contains(.notify(1, .accepted(.init(id: first, server: 1, phase: .awaitingPayload)))))
    }

    @Test func requestsNameTheirTransfers() {
        let other = RequestID(client: 7, number: 2)
        #expect(id.payloadTransfer(to: 1) != id.answerTransfer(from: 1))
        #expect(id.payloadTransfer(to: 1) != other.payloadTransfer(to: 1) && id.answerTransfer(from: 1) != other.answerTransfer(from: 1))
        #expect(id.payloadTransfer(to: 1) == RequestID(client: 7, number: 1).payloadTransfer(to: 1), "the same request, the same transfer: a retry resumes")
        #expect(id.payloadTransfer(to: 1) != id.payloadTransfer(to: 2), "a new acceptor's is not held up by a dead one's")
    }

    // MARK: Client attempt

    @Test func attemptSendsThePayloadOncePerAcceptanceAndBacksOff() {
        var attempt = EncryptionAttempt(request: request, configuration: .init(retryInterval: .milliseconds(100), workingRetry: .milliseconds(400), maxRetryInterval: .milliseconds(800), giveUpAfter: .seconds(5)), now: at(0))
        #expect(attempt.start() == [.sendRequest, .armTimer(at(100))])
        #expect(attempt.onTimer(now: at(100)) == [.sendRequest, .armTimer(at(300))], "the second wait is twice the first")
        let awaiting = EncryptionMessage.Accepted(id: id, server: 2, phase: .awaitingPayload)
        #expect(attempt.on(awaiting, now: at(150)) == [.sendPayload(to: 2)])
        #expect(attempt.on(awaiting, now: at(151)) == [], "not twice while one transfer is under way")
        #expect(attempt.onPayloadSent(to: 2, delivered: true, now: at(160)) == [])
        #expect(attempt.on(awaiting, now: at(170)) == [], "a late duplicate right after delivery")
        // The acceptor dies with the payload: server 3 takes the request over and gets the payload too.
        #expect(attempt.on(.init(id: id, server: 3, phase: .awaitingPayload), now: at(400)) == [.sendPayload(to: 3)])
        #expect(attempt.onPayloadSent(to: 3, delivered: false, now: at(420)) == [.sendRequest, .armTimer(at(520))])
        #expect(attempt.acceptances.map(\.server) == [2, 3])
        attempt.onAnswer()
        #expect(attempt.onTimer(now: at(600)) == [])
    }

    @Test func aLongWaitStillLeavesALastRetryBeforeTheAttemptGivesUp() {
        var attempt = EncryptionAttempt(request: request, configuration: .init(retryInterval: .milliseconds(250), workingRetry: .seconds(2),
                                                                               maxRetryInterval: .seconds(4), giveUpAfter: .seconds(5)), now: at(0))
        _ = attempt.start()
        // Accepted at once; the answer never comes. The first retry waits the working time, 2 s.
        _ = attempt.on(.init(id: id, server: 1, phase: .working), now: at(25))
        #expect(attempt.onTimer(now: at(2_025)) == [.sendRequest, .armTimer(at(4_750))],
                "the next wait (4 s) would end past the give-up at 5 s: one last retry 250 ms before it")
        #expect(attempt.onTimer(now: at(4_750)) == [.sendRequest, .armTimer(at(5_000))])
        #expect(attempt.onTimer(now: at(5_000)).contains { if case .fail = $0 { true } else { false } })
    }

    @Test func aWrongAnswerMakesTheAttemptAskAgainAndNothingIsRetriedWhileOneIsChecked() {
        var attempt = EncryptionAttempt(request: request, configuration: .init(retryInterval: .milliseconds(100), giveUpAfter: .seconds(5)), now: at(0))
        _ = attempt.start()
        attempt.onAnswer()
        #expect(attempt.onTimer(now: at(1_000)) == [], "checking: no retry")
        #expect(attempt.on(.init(id: id, server: 2, phase: .awaitingPayload), now: at(1_001)) == [], "nor a payload")
        #expect(attempt.onAnswerRejected(now: at(1_002)) == [.sendRequest, .armTimer(at(1_102))])
        #expect(attempt.onTimer(now: at(1_102)).first == .sendRequest, "asking again as usual")
        attempt.onAnswer()
        attempt.onAnswerAccepted()
        #expect(attempt.isFinished && attempt.onAnswerRejected(now: at(2_000)) == [])
    }

    @Test func aServerThatRefusesPayloadsAtOnceDoesNotMakeASpinAndTheDeadlineHolds() {
        var attempt = EncryptionAttempt(request: request, configuration: .init(retryInterval: .milliseconds(100), maxRetryInterval: .seconds(1),
                                                                             giveUpAfter: .seconds(2)), now: at(0))
        _ = attempt.start()
        let awaiting = EncryptionMessage.Accepted(id: id, server: 2, phase: .awaitingPayload)
        var requests = 0, time: UInt64 = 1
        // The server answers every request with "send the payload" and refuses it a millisecond later (busy).
        var pending: [EncryptionAttempt.Directive] = attempt.on(awaiting, now: at(time))
        var failure: String?
        while failure == nil, time < 10_000 {
            for directive in pending {
                if case .fail(let reason) = directive { failure = reason }
                if case .sendRequest = directive { requests += 1 }
            }
            time += 1
            if pending.contains(.sendPayload(to: 2)) {
                pending = attempt.onPayloadSent(to: 2, delivered: false, now: at(time))
            } else if pending.contains(.sendRequest) {
                pending = attempt.on(awaiting, now: at(time))
            } else if case .armTimer(let deadline)? = pending.last {
                #expect(deadline <= at(2_000), "never armed past the deadline")
                time = max(time, deadline.nanoseconds / 1_000_000)
                pending = attempt.onTimer(now: at(time))
            } else {
                pending = attempt.onTimer(now: at(time))
            }
        }
        #expect(failure != nil && time <= 2_001, "it gives up at its deadline (at \(time) ms)")
        #expect(requests < 15, "backing off: \(requests) requests in 2 s, not one a millisecond")
    }

    @Test func attemptGivesUpWithAClearReason() {
        var attempt = EncryptionAttempt(request: request, configuration: .init(giveUpAfter: .seconds(1)), now: at(0))
        _ = attempt.start()
        guard case .fail(let reason)? = attempt.onTimer(now: at(1_000)).first else {
            Issue.record("expected a failure")
            return
        }
        #expect(reason.contains("no server accepted it"))
        var refused = EncryptionAttempt(request: request, now: at(0))
        #expect(refused.onRefused("too large") == [.fail("too large")])
        #expect(refused.onRefused("again") == [])
    }
}

@Suite("A client's retry waits follow the cloud's pace")
struct RetryTimingTests {
    let at = { (ms: UInt64) in Instant(nanoseconds: ms * 1_000_000) }

    func attempt(_ number: UInt64, startedAt start: Instant, _ timing: RetryTiming) -> EncryptionAttempt {
        EncryptionAttempt(request: .init(id: RequestID(client: 1, number: number), payloadBytes: 1, payloadDigest: [UInt8](repeating: 0, count: 32), key: [1]),
                          configuration: timing.configuration, now: start)
    }

    /// When the attempt's first retry (after its start) falls.
    func firstRetry(_ attempt: inout EncryptionAttempt, from start: UInt64) -> UInt64? {
        _ = attempt.start()
        for ms in stride(from: start, through: start + 10_000, by: 5) where attempt.onTimer(now: at(ms)).contains(.sendRequest) {
            return ms - start
        }
        return nil
    }

    @Test func aSlowCloudIsWaitedForAndAFastOneKeepsTheLeastWait() {
        var timing = RetryTiming(.init())
        // Acceptances after 5 ms: the least wait (250 ms) stays.
        for number in 0..<20 {
            let start = UInt64(number) * 100
            let one = attempt(UInt64(number), startedAt: at(start), timing)
            timing.onFirstAcceptance(of: one, now: at(start + 5))
        }
        var fast = attempt(100, startedAt: at(10_000), timing)
        #expect(firstRetry(&fast, from: 10_000) == 250)
        // A queue: acceptances after 1.2 s. A new attempt does not ask again before then.
        for number in 0..<20 {
            let start = 20_000 + UInt64(number) * 100
            var one = attempt(UInt64(200 + number), startedAt: at(start), timing)
            _ = one.start()
            timing.onFirstAcceptance(of: one, now: at(start + 1_200))
            _ = one.on(.init(id: one.request.id, server: 1, phase: .working), now: at(start + 1_200))
            _ = one.onTimer(now: at(start + 3_200))   // asked again after 2 s: the work goes on at server 1
            timing.onAnswer(of: one, from: 1, now: at(start + 4_200))   // 3 s at the acceptor
        }
        var slow = attempt(300, startedAt: at(40_000), timing)
        let wait = firstRetry(&slow, from: 40_000)
        #expect(wait != nil && wait! >= 1_200 && wait! <= 4_000, "first retry after \(wait.map { "\($0) ms" } ?? "never")")
        #expect(timing.configuration.workingRetry >= .seconds(3) && timing.configuration.workingRetry <= .seconds(4),
                "\(timing.configuration.workingRetry) once a server has accepted")
    }

    @Test func onlyAttemptsSentOnceGiveASample() {
        var timing = RetryTiming(.init())
        for number in 0..<20 {
            let start = UInt64(number) * 10_000
            var one = attempt(UInt64(number), startedAt: at(start), timing)
            _ = one.start()
            _ = one.onTimer(now: at(start + 250))   // asked again: which sending the acceptance answers is unknown
            #expect(one.retries == 1)
            timing.onFirstAcceptance(of: one, now: at(start + 3_000))
        }
        #expect(timing.acceptance.smoothed == nil)
        #expect(timing.configuration.retryInterval == .milliseconds(250))
    }

    @Test func retriesBeforeAnyAcceptanceBackOffNewAttemptsUpToOneSecondAndASampleSetsTheWaitAnew() {
        var timing = RetryTiming(.init())
        // A burst fills the servers' queues: attempts ask again, none accepted yet.
        var underWay = attempt(1, startedAt: at(0), timing)
        _ = underWay.start()
        var waits: [UInt64?] = []
        for number in 0..<4 {
            var fresh = attempt(UInt64(10 + number), startedAt: at(1_000), timing)
            waits.append(firstRetry(&fresh, from: 1_000))
            timing.onRetryBeforeAcceptance()
        }
        #expect(waits == [250, 500, 1_000, 1_000], "first retries of new attempts: \(waits)")
        // An attempt that started before keeps its own wait.
        #expect(underWay.onTimer(now: at(250)).contains(.sendRequest))
        // An attempt sent once and accepted after 600 ms: the wait follows the samples again, not the back-off.
        for number in 0..<20 {
            let start = 20_000 + UInt64(number) * 100
            var one = attempt(UInt64(100 + number), startedAt: at(start), timing)
            _ = one.start()
            timing.onFirstAcceptance(of: one, now: at(start + 600))
        }
        var after = attempt(200, startedAt: at(30_000), timing)
        let wait = firstRetry(&after, from: 30_000)
        #expect(wait != nil && wait! >= 600 && wait! < 1_000, "first retry after \(wait.map { "\($0) ms" } ?? "never")")
    }

    @Test func onlyAnAnswerFromTheFirstAcceptorTimesTheWork() {
        var timing = RetryTiming(.init())
        for number in 0..<20 {
            let start = UInt64(number) * 10_000
            var one = attempt(UInt64(number), startedAt: at(start), timing)
            _ = one.start()
            _ = one.on(.init(id: one.request.id, server: 1, phase: .working), now: at(start + 10))
            // Server 1 died; server 2 took the request over and answered much later.
            timing.onAnswer(of: one, from: 2, now: at(start + 3_900))
        }
        #expect(timing.answer.smoothed == nil)
        #expect(timing.configuration.workingRetry == .seconds(2))
    }
}
