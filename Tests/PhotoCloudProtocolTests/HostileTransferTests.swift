import Crypto
import PhotoCloudProtocol
import PhotoCloudTestKit
import Testing

/// The transfer's receiving side against a stranger's datagrams: no value from
/// the wire traps, memory follows only what the node agreed to, no answer is
/// larger than three times what caused it, and a forged source cannot finish
/// a transfer.
@Suite("Transfer against a hostile sender")
struct HostileTransferTests {
    static let small = TransferMessage.Chunk(transferID: 5, sequence: 0, chunkCount: 1, totalBytes: 100, chunkSize: 1_000,
                                             payload: [UInt8](repeating: 1, count: 100)[...])

    @Test("claims of 2^63 bytes and more are compared, never converted", arguments: [UInt64(1) << 63, UInt64.max, UInt64(Int.max) + 1])
    func hugeTotalsDoNotTrap(total: UInt64) throws {
        // The attack that killed three servers: a first chunk, then one of the same transfer claiming a huge total.
        var receiver = try TransferReceiver.accept(Self.small, epoch: 3, now: .zero).get()
        var liar = Self.small
        liar.totalBytes = total
        #expect(receiver.on(.chunk(liar), now: .zero).isEmpty, "ignored: it disagrees with the first")
        let end = receiver.on(.end(.init(transferID: 5, totalBytes: total, digest: [UInt8](repeating: 0, count: 32), epoch: 3)), now: .zero)
        #expect(!end.contains { if case .deliver = $0 { true } else { false } })
        // As a first chunk: refused before anything is allocated.
        #expect(TransferReceiver.accept(liar, epoch: 1, now: .zero).failureStatus == .tooLarge)
        var huge = liar
        huge.chunkSize = UInt32.max
        huge.chunkCount = UInt32.max
        #expect(TransferReceiver.accept(huge, configuration: .init(maxBytes: Int.max), epoch: 1, now: .zero).failureStatus != nil)
    }

    @Test func anEndClaimingAnotherSizeFailsTheTransferWithoutATrap() throws {
        var receiver = try TransferReceiver.accept(Self.small, epoch: 3, now: .zero).get()
        _ = receiver.on(.chunk(Self.small), now: .zero)
        let end = TransferMessage.End(transferID: 5, totalBytes: .max, digest: Array(SHA256.hash(data: Array(Self.small.payload))), epoch: 3)
        let directives = receiver.on(.end(end), now: .zero)
        #expect(directives.contains(.send(.done(.init(transferID: 5, status: .digestMismatch)))))
        #expect(!directives.contains { if case .deliver = $0 { true } else { false } })
    }

    @Test func tinyChunksThatWouldMakeAHugeTableAreRefused() {
        // 32 MiB in 1-byte chunks: a 32-million-entry table from one 74-byte datagram.
        let flood = TransferMessage.Chunk(transferID: 6, sequence: 0, chunkCount: 32 << 20, totalBytes: 32 << 20, chunkSize: 1,
                                          payload: [7][...])
        #expect(TransferReceiver.accept(flood, epoch: 1, now: .zero).failureStatus == .malformed)
        let justAbove = TransferMessage.Chunk(transferID: 6, sequence: 0, chunkCount: 2, totalBytes: 2 * 999, chunkSize: 999,
                                              payload: [UInt8](repeating: 1, count: 999)[...])
        #expect(TransferReceiver.accept(justAbove, epoch: 1, now: .zero).failureStatus == .malformed)
        // One chunk may be as small as the object.
        let one = TransferMessage.Chunk(transferID: 6, sequence: 0, chunkCount: 1, totalBytes: 3, chunkSize: 3, payload: [1, 2, 3][...])
        #expect(TransferReceiver.accept(one, epoch: 1, now: .zero).failureStatus == nil)
    }

    @Test func onlyAnEndThatNamesTheReceiversEpochDelivers() throws {
        var receiver = try TransferReceiver.accept(Self.small, epoch: 0xBEEF, now: .zero).get()
        _ = receiver.on(.chunk(Self.small), now: .zero)
        let digest = Array(SHA256.hash(data: Array(Self.small.payload)))
        // A sender at a forged address never saw an acknowledgement, so it cannot know the epoch.
        for guess: UInt32 in [0, 1, 0xBEEE] {
            let blind = receiver.on(.end(.init(transferID: 5, totalBytes: 100, digest: digest, epoch: guess)), now: .zero)
            #expect(!blind.contains { if case .deliver = $0 { true } else { false } })
            #expect(blind.allSatisfy { if case .send(.ack) = $0 { true } else { false } }, "it is only told the epoch again, where it says it is")
        }
        let real = receiver.on(.end(.init(transferID: 5, totalBytes: 100, digest: digest, epoch: 0xBEEF)), now: .zero)
        #expect(real.contains { if case .deliver = $0 { true } else { false } })
    }

    @Test func anAcknowledgementIsNeverMoreThanThreeTimesItsCause() throws {
        // 100 chunks of 1,000 bytes and a last one of 1 byte; every other chunk arrives (50 gaps), then the
        // 1-byte last chunk again and again: each duplicate is answered at once.
        let count: UInt32 = 101
        func chunk(_ sequence: UInt32) -> TransferMessage.Chunk {
            .init(transferID: 8, sequence: sequence, chunkCount: count, totalBytes: 100_001, chunkSize: 1_000,
                  payload: [UInt8](repeating: 2, count: sequence == count - 1 ? 1 : 1_000)[...])
        }
        var receiver = try TransferReceiver.accept(chunk(1), epoch: 1, now: .zero).get()
        for sequence in stride(from: UInt32(1), to: count, by: 2) { _ = receiver.on(.chunk(chunk(sequence)), now: .zero) }
        for _ in 0..<3 {
            for directive in receiver.on(.chunk(chunk(count - 1)), now: .zero) {
                guard case .send(let message) = directive else { continue }
                let cause = Wire.headerSize + TransferMessage.chunkHeaderSize + 1
                #expect(Wire.headerSize + message.encodedSize <= 3 * cause, "\(message.encodedSize) bytes for a \(cause)-byte datagram")
            }
        }
        // A full-sized chunk may be answered with every range.
        let full = receiver.on(.chunk(chunk(1)), now: .zero)
        #expect(full.contains { if case .send(.ack(let ack)) = $0 { ack.ranges.count == TransferMessage.Ack.maxRanges } else { false } })
    }

    @Test("acknowledgement ranges must be apart, ordered and above the cumulative point")
    func overlappingRangesAreRefused() {
        func body(_ cumulative: UInt32, _ ranges: [(UInt32, UInt32)]) -> [UInt8] {
            var bytes: [UInt8] = []
            bytes.appendBigEndian(UInt64(1))
            bytes.appendBigEndian(UInt32(1))
            bytes.appendBigEndian(cumulative)
            bytes.appendBigEndian(UInt32(0))
            bytes.append(UInt8(ranges.count))
            for (lower, upper) in ranges {
                bytes.appendBigEndian(lower)
                bytes.appendBigEndian(upper)
            }
            return bytes
        }
        #expect((try? TransferMessage.decode(type: .transferAck, body: body(2, [(8, 10), (4, 6)]))) != nil)
        // 32 copies of the whole object would make a sender walk it 32 times.
        let full = [(UInt32, UInt32)](repeating: (1, UInt32.max), count: 32)
        #expect(throws: WireError.self) { try TransferMessage.decode(type: .transferAck, body: body(0, full)) }
        #expect(throws: WireError.self) { try TransferMessage.decode(type: .transferAck, body: body(2, [(4, 6), (8, 10)])) }
        #expect(throws: WireError.self) { try TransferMessage.decode(type: .transferAck, body: body(2, [(6, 10), (4, 6)])) }
        #expect(throws: WireError.self) { try TransferMessage.decode(type: .transferAck, body: body(5, [(5, 8)])) }
    }

    @Test("the chunk table's word scans agree with a plain model", arguments: [UInt64(1), 2, 3, 4, 5])
    func chunkSetScans(seed: UInt64) {
        var random = SeededRandom(seed: seed)
        let count = Int.random(in: 1...700, using: &random)
        var model = [Bool](repeating: false, count: count)
        var receiver: TransferReceiver?
        let chunkSize = 1_000
        let total = count * chunkSize
        // Drive the receiver with a random arrival order and compare its acknowledgements with the model's.
        for _ in 0..<(count * 2) {
            let sequence = Int.random(in: 0..<count, using: &random)
            let chunk = TransferMessage.Chunk(transferID: 1, sequence: UInt32(sequence), chunkCount: UInt32(count), totalBytes: UInt64(total),
                                              chunkSize: UInt32(chunkSize), flags: .ackNow,
                                              payload: [UInt8](repeating: 0, count: chunkSize)[...])
            if receiver == nil { receiver = try? TransferReceiver.accept(chunk, epoch: 1, now: .zero).get() }
            model[sequence] = true
            let acks = receiver!.on(.chunk(chunk), now: .zero).compactMap { if case .send(.ack(let ack)) = $0 { ack } else { nil } }
            guard let ack = acks.last else { continue }
            let cumulative = model.firstIndex(of: false) ?? count
            #expect(Int(ack.cumulative) == cumulative)
            // The model's runs above the cumulative point, newest first, at most 32.
            var runs: [Range<UInt32>] = []
            var index = (model.lastIndex(of: true) ?? -1)
            while index > cumulative && runs.count < TransferMessage.Ack.maxRanges {
                guard model[index] else { index -= 1; continue }
                var lower = index
                while lower > cumulative + 1 && model[lower - 1] { lower -= 1 }
                runs.append(UInt32(lower)..<UInt32(index + 1))
                index = lower - 1
            }
            #expect(ack.ranges == runs)
        }
    }

    @Test func aReceiverThatKeepsRestartingEndsTheTransferInsteadOfGrowingItsMemory() throws {
        var sender = try TransferSender(transferID: 1, data: [UInt8](repeating: 1, count: 5_000), configuration: .init(chunkSize: 1_000, pacing: false))
        _ = sender.start(now: .zero)
        var failed = false
        // Every acknowledgement from a "new incarnation": each used to be remembered, and to count as progress.
        for epoch in 1...40 where !failed {
            let directives = sender.on(.ack(.init(transferID: 1, epoch: UInt32(epoch), cumulative: 1, largest: 0, ranges: [])), now: .zero)
            failed = directives.contains { if case .fail = $0 { true } else { false } }
        }
        #expect(failed && sender.isFinished)
    }

    @Test func admissionTakesAnnouncedObjectsAndStrangersWithinABudget() {
        var admission = TransferAdmission<Int>(limits: .init(unsolicitedBytes: 1_000, unsolicitedPerSource: 2, unsolicitedTotal: 2_500,
                                                             inFlightTotal: 11_000, maxExpected: 3))
        let now = Instant.zero
        admission.expect(1, maxBytes: 8_000, until: now + .seconds(5))
        #expect(admission.admit(1, totalBytes: 8_001, from: 9, now: now) == .failure(.tooLarge))
        #expect(admission.admit(1, totalBytes: 8_000, from: 9, now: now) == .success(.expected(maxBytes: 8_000)))
        #expect(admission.inFlightBytes == 0, "a claimed size pins nothing: an announced transfer counts what arrives")
        admission.charge(1, bytes: 8_000)
        // Strangers: a small budget per source and in all, at their claimed sizes.
        #expect(admission.admit(10, totalBytes: 1_001, from: 7, now: now) == .failure(.tooLarge))
        #expect(admission.admit(10, totalBytes: 1_000, from: 7, now: now) == .success(.unsolicited))
        #expect(admission.admit(11, totalBytes: 1_000, from: 7, now: now) == .success(.unsolicited))
        #expect(admission.admit(12, totalBytes: 10, from: 7, now: now) == .failure(.busy), "two per source")
        #expect(admission.admit(13, totalBytes: 1_000, from: 8, now: now) == .failure(.busy), "the in-flight cap")
        #expect(admission.admit(13, totalBytes: 500, from: 8, now: now) == .success(.unsolicited))
        #expect(admission.inFlightBytes == 10_500)
        // Everything in flight counts against the node's cap: room for what arrives, and for new transfers.
        #expect(admission.hasRoom(for: 500) && !admission.hasRoom(for: 501))
        admission.expect(2, maxBytes: 5_000, until: now + .seconds(5))
        #expect(admission.admit(2, totalBytes: 5_000, from: 9, now: now) == .success(.expected(maxBytes: 5_000)))
        admission.charge(2, bytes: 500)
        #expect(admission.admit(3, totalBytes: 1, from: 9, now: now) == .failure(.busy), "full")
        admission.close(1)
        #expect(admission.hasRoom(for: 8_000))
        // A delivered announcement is used up; a late one has expired; the table is bounded.
        admission.close(2)
        #expect(admission.admit(2, totalBytes: 5_000, from: 9, now: now) == .failure(.tooLarge), "used up: now a stranger's")
        admission.expect(3, maxBytes: 100, until: now + .seconds(1))
        #expect(admission.admit(3, totalBytes: 2_000, from: 9, now: now + .seconds(2)) == .failure(.tooLarge), "expired: a stranger's budget")
        for id in 20..<30 { admission.expect(UInt64(id), maxBytes: 10, until: now + .seconds(9)) }
        #expect(admission.expectedCount == 3)
        admission.close(10); admission.close(11)
        #expect(admission.unsolicitedInFlight == 500)
        admission.close(13)
        #expect(admission.unsolicitedInFlight == 0 && admission.inFlightBytes == 0 && admission.openCount == 0)
    }

    @Test func refusingAnnouncedOnlyEndpointsSayUnexpected() {
        var admission = TransferAdmission<Int>(limits: .announcedOnly())
        #expect(admission.admit(4, totalBytes: 1, from: 1, now: .zero) == .failure(.unexpected))
    }
}
