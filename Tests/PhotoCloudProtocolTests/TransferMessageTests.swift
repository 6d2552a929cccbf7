import PhotoCloudProtocol
import PhotoCloudTestKit
import Testing

@Suite("Transfer messages and the receiver's checks")
struct TransferMessageTests {
    static let chunk = TransferMessage.Chunk(transferID: 9, sequence: 2, chunkCount: 4, totalBytes: 3_500, chunkSize: 1_000,
                                             payload: [UInt8](repeating: 7, count: 1_000)[...])

    @Test func roundTrips() throws {
        let messages: [TransferMessage] = [
            .chunk(Self.chunk),
            .ack(.init(transferID: 9, epoch: 77, cumulative: 2, largest: 6, ranges: [5..<7, 3..<4])),
            .end(.init(transferID: 9, totalBytes: 3_500, digest: [UInt8](repeating: 1, count: 32), epoch: 77)),
            .done(.init(transferID: 9, status: .digestMismatch)),
        ]
        for message in messages {
            let decoded = try TransferMessage.decode(type: message.type, body: message.encoded())
            #expect(decoded.transferID == message.transferID)
            #expect(decoded.encoded() == message.encoded())
        }
    }

    @Test func malformedBodiesAreTypedErrors() {
        let ack = TransferMessage.ack(.init(transferID: 1, epoch: 1, cumulative: 0, largest: 0, ranges: [1..<2])).encoded()
        for length in 0..<ack.count { #expect(throws: WireError.self) { try TransferMessage.decode(type: .transferAck, body: Array(ack.prefix(length))) } }
        var reversed = ack
        reversed[ack.count - 5] = 9   // lower bound above upper
        #expect(throws: WireError.self) { try TransferMessage.decode(type: .transferAck, body: reversed) }
        #expect(throws: WireError.self) { try TransferMessage.decode(type: .ping, body: ack) }
        var random = SeededRandom(seed: 5)
        for _ in 0..<2_000 {
            let bytes = (0..<Int.random(in: 0...60, using: &random)).map { _ in UInt8.random(in: 0...255, using: &random) }
            for type in [MessageType.transferChunk, .transferAck, .transferEnd, .transferDone] { _ = try? TransferMessage.decode(type: type, body: bytes) }
        }
    }

    @Test func theReceiverChecksClaimsBeforeAllocating() {
        var huge = Self.chunk
        huge.totalBytes = UInt64(1) << 40
        huge.chunkCount = UInt32.max
        #expect(TransferReceiver.accept(huge, epoch: 1, now: .zero).failureStatus == .tooLarge)
        var inconsistent = Self.chunk
        inconsistent.chunkCount = 9   // 3,500 bytes in 1,000-byte chunks is 4 chunks
        #expect(TransferReceiver.accept(inconsistent, epoch: 1, now: .zero).failureStatus == .malformed)
        var zero = Self.chunk
        zero.chunkSize = 0
        #expect(TransferReceiver.accept(zero, epoch: 1, now: .zero).failureStatus == .malformed)
        #expect(TransferReceiver.accept(Self.chunk, epoch: 1, now: .zero).failureStatus == nil)
    }

    @Test func chunksThatDisagreeWithTheFirstAreIgnored() throws {
        var receiver = try TransferReceiver.accept(Self.chunk, epoch: 1, now: .zero).get()
        var short = Self.chunk
        short.payload = short.payload.prefix(10)
        #expect(receiver.on(.chunk(short), now: .zero).isEmpty)
        var outside = Self.chunk
        outside.sequence = 4
        #expect(receiver.on(.chunk(outside), now: .zero).isEmpty)
        var last = Self.chunk
        last.sequence = 3
        last.payload = [UInt8](repeating: 1, count: 500)[...]   // the last chunk is the remainder
        #expect(!receiver.on(.chunk(last), now: .zero).isEmpty)
    }

    @Test("RTO follows RFC 6298 and backs off", arguments: [Duration.milliseconds(2), .milliseconds(40)])
    func rto(sample: Duration) {
        var estimator = RTTEstimator(initialRTO: .milliseconds(200), minimumRTO: .milliseconds(1), maximumRTO: .seconds(2))
        #expect(estimator.timeout == .milliseconds(200))
        estimator.record(sample)
        #expect(estimator.smoothed == sample)
        #expect(estimator.timeout == sample + max(.milliseconds(1), sample * 2))
        for _ in 0..<50 { estimator.record(sample) }
        #expect(estimator.timeout < sample * 2)
        let before = estimator.timeout
        estimator.backOff()
        #expect(estimator.timeout == min(.seconds(2), before * 2))
    }
}

extension Result {
    var failureStatus: Failure? {
        if case .failure(let failure) = self { return failure }
        return nil
    }
}
