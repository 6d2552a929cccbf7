import PhotoCloudProtocol
import Testing

@Suite("Inline answers: one datagram, resent until the client says it arrived")
struct InlineAnswersTests {
    let id = RequestID(client: 7, number: 1)
    let datagram: [UInt8] = Array("an answer in one datagram".utf8)
    let at = { (ms: UInt64) in Instant(nanoseconds: ms * 1_000_000) }

    /// The sends among `directives`, by peer.
    func sends(_ directives: [InlineAnswers<Int>.Directive]) -> [Int] {
        directives.compactMap { if case .send(_, let to) = $0 { to } else { nil } }
    }

    @Test func anUnacknowledgedAnswerIsResentWithDoublingWaitsThenLeftToTheClientsRetry() {
        var answers = InlineAnswers<Int>(configuration: .init(firstResend: .milliseconds(200), resends: 3))
        #expect(answers.send(id, datagram: datagram, to: 5, now: at(0)) == [.send(datagram, to: 5)])
        #expect(answers.nextDeadline == at(200))
        #expect(answers.onTimer(now: at(199)).isEmpty, "never early")
        var resentAt: [UInt64] = []
        var ended: UInt64?
        for ms in stride(from: UInt64(0), through: 5_000, by: 10) {
            for directive in answers.onTimer(now: at(ms)) {
                switch directive {
                case .send(let bytes, let to):
                    #expect(bytes == datagram && to == 5)
                    resentAt.append(ms)
                case .sendingEnded(let request):
                    #expect(request == id)
                    ended = ms
                }
            }
        }
        #expect(resentAt == [200, 600, 1_400], "resends after 200, 400 and 800 ms")
        #expect(ended == 3_000, "given up 1.6 s after the last resend")
        #expect(answers.pendingCount == 0 && answers.nextDeadline == nil)
        #expect(answers.resent == 3 && answers.acknowledged == 0)
    }

    @Test func onlyTheEndpointTheAnswerWentToStopsTheResends() {
        var answers = InlineAnswers<Int>()
        _ = answers.send(id, datagram: datagram, to: 5, now: at(0))
        #expect(answers.onReceived(id, from: 6).isEmpty, "another address")
        #expect(answers.onReceived(RequestID(client: 7, number: 2), from: 5).isEmpty, "another request")
        #expect(sends(answers.onTimer(now: at(200))) == [5], "still resent")
        #expect(answers.onReceived(id, from: 5) == [.sendingEnded(id)])
        #expect(answers.onReceived(id, from: 5).isEmpty, "said once")
        #expect(answers.onTimer(now: at(10_000)).isEmpty)
        #expect(answers.acknowledged == 1 && answers.pendingCount == 0)
    }

    @Test func beyondItsBoundAnAnswerIsSentOnceAndNotKept() {
        var answers = InlineAnswers<Int>(configuration: .init(maxPending: 2))
        for number in 0..<2 { _ = answers.send(RequestID(client: 1, number: UInt64(number)), datagram: datagram, to: number, now: at(0)) }
        let third = RequestID(client: 1, number: 2)
        #expect(answers.send(third, datagram: datagram, to: 9, now: at(0)) == [.send(datagram, to: 9), .sendingEnded(third)])
        #expect(answers.pendingCount == 2)
        #expect(Set(sends(answers.onTimer(now: at(200)))) == [0, 1])
    }

    @Test func aRetryBringsTheKeptAnswerAgainAtOnceButNotMoreThanOnceAResendWait() {
        var answers = InlineAnswers<Int>(configuration: .init(firstResend: .milliseconds(200), resends: 3))
        _ = answers.send(id, datagram: datagram, to: 5, now: at(0))
        // Every copy lost: the first resends go at 200, 600 and 1,400 ms.
        for time: UInt64 in [200, 600, 1_400] { #expect(sends(answers.onTimer(now: at(time))) == [5]) }
        // The client's retry at 2 s: the answer goes at once, and its resends start over.
        #expect(answers.onRetry(id, now: at(2_000)) == [.send(datagram, to: 5)])
        #expect(answers.nextDeadline == at(2_200))
        // Retries (forged ones too) do not make it go more often than once a resend wait.
        #expect(answers.onRetry(id, now: at(2_100)).isEmpty)
        #expect(sends(answers.onTimer(now: at(2_200))) == [5])
        // Acknowledged: a retry brings nothing from here (the jobs send the kept answer anew).
        _ = answers.onReceived(id, from: 5)
        #expect(answers.onRetry(id, now: at(3_000)).isEmpty)
    }

    @Test func theBytesWaitingAreBoundedToo() {
        let big = [UInt8](repeating: 7, count: 1_000)
        var answers = InlineAnswers<Int>(configuration: .init(maxPendingBytes: 2_500))
        for number in 0..<2 { _ = answers.send(RequestID(client: 1, number: UInt64(number)), datagram: big, to: number, now: at(0)) }
        #expect(answers.pendingBytes == 2_000)
        let third = RequestID(client: 1, number: 2)
        #expect(answers.send(third, datagram: big, to: 9, now: at(0)) == [.send(big, to: 9), .sendingEnded(third)])
        // The same answer sent again replaces its kept copy: it is not counted twice.
        #expect(answers.send(RequestID(client: 1, number: 0), datagram: big, to: 0, now: at(10)) == [.send(big, to: 0)])
        #expect(answers.pendingBytes == 2_000)
        // An acknowledgement frees its bytes; answers given up on after their resends free theirs.
        _ = answers.onReceived(RequestID(client: 1, number: 1), from: 1)
        #expect(answers.pendingBytes == 1_000)
        #expect(answers.send(third, datagram: big, to: 9, now: at(20)) == [.send(big, to: 9)])
        for time: UInt64 in [220, 620, 1_420, 3_020, 6_300] { _ = answers.onTimer(now: at(time)) }
        #expect(answers.pendingCount == 0)
        #expect(answers.pendingBytes == 0)
    }

    @Test func theNextDeadlineFollowsTheEarliestResend() {
        var answers = InlineAnswers<Int>(configuration: .init(firstResend: .milliseconds(100)))
        _ = answers.send(id, datagram: datagram, to: 1, now: at(0))
        let later = RequestID(client: 7, number: 2)
        _ = answers.send(later, datagram: datagram, to: 2, now: at(50))
        #expect(answers.nextDeadline == at(100))
        #expect(sends(answers.onTimer(now: at(100))) == [1])
        #expect(answers.nextDeadline == at(150), "the second answer's first resend, before the first's second (at 300)")
        #expect(sends(answers.onTimer(now: at(150))) == [2])
        #expect(answers.nextDeadline == at(300))
    }
}
