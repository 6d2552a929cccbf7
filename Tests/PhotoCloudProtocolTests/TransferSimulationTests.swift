import Crypto
import Synchronization
import PhotoCloudProtocol
import PhotoCloudTestKit
import Testing

@Suite("Transfer under a simulated network")
struct TransferSimulationTests {
    static func object(_ count: Int, seed: UInt64) -> [UInt8] {
        var random = SeededRandom(seed: seed)
        return random.bytes(count)
    }

    typealias Faults = SimulatedNetwork<(MessageType, [UInt8])>.Faults

    @Test("intact under loss, duplication, reordering and delay", arguments: Array(UInt64(1)...24))
    func intactUnderFaults(seed: UInt64) throws {
        let faults = Faults(drop: 0.10, duplicate: 0.02, reorder: 0.05, delay: .milliseconds(2), jitter: .milliseconds(1))
        var simulation = TransferSimulation(seed: seed, faults: faults)
        let data = Self.object(300_000 + Int(seed) * 977, seed: seed)
        simulation.add(try TransferSender(transferID: seed, data: data, configuration: .init(chunkSize: 1_200)))
        let outcome = simulation.run()
        #expect(outcome.failed[seed] == nil, "\(String(describing: outcome.failed[seed]))")
        #expect(outcome.completed[seed] != nil)
        #expect(outcome.delivered[seed] == data)
        #expect(outcome.retransmitted[seed, default: 0] > 0)
    }

    @Test("heavy loss: intact or a clear failure, never corrupt", arguments: Array(UInt64(100)...111))
    func heavyLoss(seed: UInt64) throws {
        let faults = Faults(drop: 0.45, duplicate: 0.1, reorder: 0.2, delay: .milliseconds(1), jitter: .milliseconds(3))
        var simulation = TransferSimulation(seed: seed, faults: faults)
        let data = Self.object(40_000, seed: seed)
        simulation.add(try TransferSender(transferID: 7, data: data, configuration: .init(chunkSize: 1_000, idleTimeout: .seconds(5))))
        let outcome = simulation.run(limit: .seconds(600))
        if let delivered = outcome.delivered[7] { #expect(delivered == data) }
        #expect(outcome.completed[7] != nil || outcome.failed[7]?.code == .noProgress)
        if outcome.completed[7] != nil { #expect(outcome.delivered[7] == data) }
    }

    /// Flips one bit of the data of the first copy of chunk `sequence` of any transfer (once).
    final class FlipOnce: Sendable {
        let done = Mutex(false)
        let sequence: UInt32
        init(sequence: UInt32) { self.sequence = sequence }
        func apply(_ message: (MessageType, [UInt8])) -> (MessageType, [UInt8]) {
            guard case .chunk(let chunk)? = try? TransferMessage.decode(type: message.0, body: message.1), chunk.sequence == sequence,
                  done.withLock({ let first = !$0; $0 = true; return first }) else { return message }
            var body = message.1
            body[body.count - 1] ^= 0x10   // the chunk's last data byte: its header still reads
            return (message.0, body)
        }
    }

    @Test("a bit flipped in a chunk's data is caught by the digest at both ends", arguments: [DigestMode.inline, .external])
    func aFlippedBitIsCaughtByTheDigest(mode: DigestMode) throws {
        var simulation = TransferSimulation(seed: 3, faults: Faults(delay: .milliseconds(1)), receiver: .init(digest: mode))
        let flip = FlipOnce(sequence: 5)
        simulation.network.corrupt = { message, _ in flip.apply(message) }
        let data = Self.object(20_000, seed: 3)
        simulation.add(try TransferSender(transferID: 4, data: data, configuration: .init(chunkSize: 1_000)))
        let outcome = simulation.run()
        #expect(flip.done.withLock { $0 }, "chunk 5 was never corrupted")
        #expect(outcome.delivered[4] == nil, "a corrupted object was delivered")
        #expect(outcome.receiverFailed[4]?.code == .digestMismatch)
        #expect(outcome.failed[4]?.code == .digestMismatch)
        #expect(outcome.completed[4] == nil)
    }

    @Test("bits flipped anywhere (headers, acknowledgements, ends): the object intact, or a clear failure, never other bytes",
          arguments: Array(UInt64(200)...215))
    func flippedBitsNeverDeliverOtherBytes(seed: UInt64) throws {
        let faults = Faults(drop: 0.02, corrupt: 0.01, delay: .milliseconds(1), jitter: .milliseconds(1))
        var simulation = TransferSimulation(seed: seed, faults: faults)
        let data = Self.object(300_000, seed: seed)
        simulation.add(try TransferSender(transferID: 5, data: data, configuration: .init(chunkSize: 1_200, idleTimeout: .seconds(5))))
        let outcome = simulation.run(limit: .seconds(600))
        #expect(simulation.network.corrupted > 0, "nothing was corrupted: the run checked nothing")
        if let delivered = outcome.delivered[5] { #expect(delivered == data, "other bytes delivered") }
        if outcome.completed[5] != nil { #expect(outcome.delivered[5] == data, "the sender completed, the receiver holds no intact copy") }
        #expect(outcome.completed[5] != nil || outcome.failed[5] != nil, "neither delivered nor failed within the bound")
    }

    @Test func theRetransmissionTimeoutFollowsTheRoundTrip() throws {
        for delay in [Duration.milliseconds(5), .milliseconds(40)] {
            var simulation = TransferSimulation(seed: 3, faults: Faults(delay: delay))
            simulation.add(try TransferSender(transferID: 1, data: Self.object(200_000, seed: 1), configuration: .init(chunkSize: 1_000)))
            let outcome = simulation.run()
            let srtt = try #require(outcome.smoothedRTT[1])
            // The round trip is twice the one-way delay, plus nothing: srtt within 25%.
            #expect(srtt >= delay * 2 * 0.75 && srtt <= delay * 2 * 1.25, "srtt \(srtt) for delay \(delay)")
        }
    }

    @Test func stopAndWaitKeepsOneChunkInFlight() throws {
        var simulation = TransferSimulation(seed: 5, faults: Faults(drop: 0.1, delay: .milliseconds(1)))
        let data = Self.object(50_000, seed: 5)
        simulation.add(try TransferSender(transferID: 2, data: data, configuration: .init(chunkSize: 1_000, window: 1)))
        let outcome = simulation.run()
        #expect(outcome.delivered[2] == data)
        #expect(outcome.maxOutstanding[2] == 1)
        // 50 chunks, one round trip (2 ms) each at least.
        #expect(outcome.finishedAt.since(.zero) >= .milliseconds(100))
    }

    // The target is 10x on the real network (photocloud bench transfer, still to
    // come); under this simulation the window reaches about 8x today (docs/benchmarks.md).
    @Test("8 MiB over a 10 ms round trip with 1% loss: a window beats stop-and-wait fivefold")
    func aWindowIsFasterThanStopAndWait() throws {
        let data = Self.object(8 << 20, seed: 9)
        func time(window: Int) throws -> Duration {
            var simulation = TransferSimulation(seed: 9, faults: Faults(drop: 0.01, delay: .milliseconds(5)))
            simulation.add(try TransferSender(transferID: 3, data: data, configuration: .init(chunkSize: 60_000, window: window)))
            let outcome = simulation.run()
            #expect(outcome.completed[3] != nil)
            return outcome.completed[3]?.since(.zero) ?? .seconds(1_000)
        }
        let sliding = try time(window: 512), stopAndWait = try time(window: 1)
        #expect(stopAndWait > sliding * 5, "stop-and-wait \(stopAndWait), window \(sliding)")
    }

    @Test func oversizeObjectsAreRefused() throws {
        var simulation = TransferSimulation(seed: 1, faults: Faults(), receiver: .init(maxBytes: 10_000))
        simulation.add(try TransferSender(transferID: 4, data: Self.object(20_000, seed: 4), configuration: .init(chunkSize: 1_000)))
        let outcome = simulation.run()
        #expect(outcome.failed[4]?.code == .refusedTooLarge)
        #expect(outcome.delivered[4] == nil)
    }

    @Test func concurrentTransfersAllArriveUnderLoss() throws {
        var simulation = TransferSimulation(seed: 8, faults: Faults(drop: 0.05, duplicate: 0.02, reorder: 0.05, delay: .milliseconds(2)))
        var objects: [UInt64: [UInt8]] = [:]
        for id in UInt64(20)...27 {
            objects[id] = Self.object(100_000 + Int(id) * 1_000, seed: id)
            simulation.add(try TransferSender(transferID: id, data: objects[id]!, configuration: .init(chunkSize: 1_200)))
        }
        let outcome = simulation.run()
        for (id, data) in objects { #expect(outcome.delivered[id] == data) }
    }

    @Test func concurrentTransfersShareTheLinkFairly() throws {
        // Equal objects started together, over twelve seeds: none starves, and
        // on average the slowest takes at most half as long again as the
        // fastest. (One seed alone is too noisy a judge: short transfers meet
        // spurious losses from the jitter's reordering at different moments;
        // seeds ranged 1.03x-1.67x here, and 1.10x-2.08x before delayed acks.)
        var ratios: [Double] = []
        for seed in UInt64(1)...12 {
            var simulation = TransferSimulation(seed: seed, faults: Faults(delay: .milliseconds(2), jitter: .microseconds(300)))
            var objects: [UInt64: [UInt8]] = [:]
            for id in UInt64(10)...13 {
                objects[id] = Self.object(200_000, seed: id)
                simulation.add(try TransferSender(transferID: id, data: objects[id]!, configuration: .init(chunkSize: 1_200)))
            }
            let outcome = simulation.run()
            for (id, data) in objects { #expect(outcome.delivered[id] == data) }
            let times = objects.keys.compactMap { outcome.completed[$0]?.since(.zero) }
            #expect(times.count == 4)
            if let fastest = times.min(), let slowest = times.max() { ratios.append(slowest / fastest) }
        }
        #expect(ratios.allSatisfy { $0 < 2 }, "\(ratios)")
        #expect(ratios.reduce(0, +) / Double(ratios.count) <= 1.5, "\(ratios)")
    }

    @Test func theSenderGivesUpWhenNothingGetsThrough() throws {
        var simulation = TransferSimulation(seed: 2, faults: Faults(drop: 1.0))
        simulation.add(try TransferSender(transferID: 5, data: Self.object(5_000, seed: 2), configuration: .init(chunkSize: 1_000, idleTimeout: .seconds(3))))
        let outcome = simulation.run()
        #expect(outcome.failed[5]?.code == .noProgress)
        #expect(outcome.finishedAt.since(.zero) >= .seconds(3) && outcome.finishedAt.since(.zero) < .seconds(4))
    }

    @Test func emptyAndOneByteObjects() throws {
        for size in [0, 1, 1_000, 1_001] {
            var simulation = TransferSimulation(seed: 4, faults: Faults(drop: 0.2))
            let data = Self.object(size, seed: 3)
            simulation.add(try TransferSender(transferID: 6, data: data, configuration: .init(chunkSize: 1_000)))
            #expect(simulation.run().delivered[6] == data)
        }
    }

    // MARK: Resumption after a restart

    @Test("a sender that restarts resumes: it sends little more than what the receiver lacks", arguments: [UInt64(1), 2, 3])
    func aRestartedSenderResumes(seed: UInt64) throws {
        var simulation = TransferSimulation(seed: seed, faults: Faults(drop: 0.02, delay: .milliseconds(1)))
        let data = Self.object(1_000_000, seed: seed)   // 1,000 chunks
        let configuration = TransferSender.Configuration(chunkSize: 1_000)
        simulation.add(try TransferSender(transferID: 5, data: data, configuration: configuration))
        let partial = simulation.run { $0.chunksSent[5, default: 0] >= 600 }
        #expect(partial.completed[5] == nil)
        let before = partial.chunksSent[5] ?? 0
        // Its process restarts: a new sender of the same object under the same id.
        simulation.add(try TransferSender(transferID: 5, data: data, configuration: configuration))
        let outcome = simulation.run()
        #expect(outcome.completed[5] != nil)
        #expect(outcome.delivered[5] == data)
        let resent = outcome.chunksSent[5]! - before
        // What the receiver lacked (the first sender's last window may have been
        // in flight or lost), plus at most a window sent before the first
        // acknowledgement: far from all 1,000 again.
        #expect(resent <= 1_000 - before + 2 * 64 + 40, "the restarted sender sent \(resent) chunks, the first \(before)")
    }

    @Test("a receiver that restarts is sent everything again, and the object still arrives intact", arguments: [UInt64(4), 5, 6])
    func aRestartedReceiverIsResent(seed: UInt64) throws {
        var simulation = TransferSimulation(seed: seed, faults: Faults(drop: 0.02, reorder: 0.02, delay: .milliseconds(1)))
        let data = Self.object(600_000, seed: seed)   // 600 chunks
        simulation.add(try TransferSender(transferID: 8, data: data, configuration: .init(chunkSize: 1_000)))
        let partial = simulation.run { $0.chunksSent[8, default: 0] >= 300 }
        #expect(partial.completed[8] == nil)
        #expect(partial.acksSent[8, default: 0] > 50, "the sender had heard that much of it arrived")
        let sentBefore = partial.chunksSent[8]!, inFlight = simulation.network.inFlight
        simulation.restartReceiver()
        let outcome = simulation.run()
        #expect(outcome.failed[8] == nil, "\(String(describing: outcome.failed[8]))")
        #expect(outcome.completed[8] != nil)
        #expect(outcome.delivered[8] == data)
        // The new receiver holds nothing, so every chunk but those still on the wire at the restart (which reach it)
        // must be sent again, the acknowledged ones included.
        #expect(outcome.chunksSent[8]! - sentBefore >= 600 - inFlight,
                "after the restart \(outcome.chunksSent[8]! - sentBefore) chunks were sent, \(inFlight) messages were in flight")
    }

    @Test func anEndTheReceiverDoesNotKnowMakesTheSenderStartOver() throws {
        let data = Self.object(3_000, seed: 1)
        var sender = try TransferSender(transferID: 1, data: data, configuration: .init(chunkSize: 1_000, pacing: false))
        #expect(Self.chunks(sender.start(now: .zero)) == [0, 1, 2])
        let all = sender.on(.ack(.init(transferID: 1, epoch: 5, cumulative: 3, largest: 2, ranges: [])), now: .zero + .milliseconds(1))
        #expect(all.contains { if case .send(.end) = $0 { true } else { false } })
        // The receiver restarted and says it holds nothing (epoch 0): everything again.
        let again = sender.on(.ack(.init(transferID: 1, epoch: 0, cumulative: 0, largest: 0, ranges: [])), now: .zero + .milliseconds(2))
        #expect(Self.chunks(again) == [0, 1, 2])
        // A late acknowledgement of the retired epoch is not believed.
        let stale = sender.on(.ack(.init(transferID: 1, epoch: 5, cumulative: 3, largest: 2, ranges: [])), now: .zero + .milliseconds(3))
        #expect(!stale.contains { if case .send = $0 { true } else { false } })
    }

    @Test func anExternalDigestHoldsTheEndUntilItComes() throws {
        let data = Self.object(2_000, seed: 2)
        var sender = try TransferSender(transferID: 2, data: data, configuration: .init(chunkSize: 1_000, pacing: false, digest: .external))
        _ = sender.start(now: .zero)
        let acked = sender.on(.ack(.init(transferID: 2, epoch: 9, cumulative: 2, largest: 1, ranges: [])), now: .zero + .milliseconds(1))
        #expect(!acked.contains { if case .send(.end) = $0 { true } else { false } })
        let digest = Array(SHA256.hash(data: data))
        let ended = sender.onDigest(digest, now: .zero + .milliseconds(2))
        #expect(ended.contains(.send(.end(.init(transferID: 2, totalBytes: 2_000, digest: digest, epoch: 9)))), "naming the receiver's epoch")
    }

    @Test func inOrderChunksAreAcknowledgedEverySecondOne() throws {
        let data = Self.object(6_000, seed: 3)
        func chunk(_ sequence: UInt32, _ flags: TransferMessage.Chunk.Flags = []) -> TransferMessage {
            let start = Int(sequence) * 1_000
            return .chunk(.init(transferID: 3, sequence: sequence, chunkCount: 6, totalBytes: 6_000, chunkSize: 1_000, flags: flags,
                                payload: data[start..<(start + 1_000)]))
        }
        guard case .chunk(let first) = chunk(0) else { return }
        var receiver = try TransferReceiver.accept(first, epoch: 1, now: .zero).get()
        let t = Instant.zero
        #expect(Self.acks(receiver.on(chunk(0), now: t)) == [1], "the first at once")
        let waiting = receiver.on(chunk(1), now: t)
        #expect(Self.acks(waiting) == [])
        #expect(waiting.contains(.armTimer(t + TransferReceiver.maxAckDelay)))
        #expect(Self.acks(receiver.on(chunk(2), now: t)) == [3], "the second of two")
        #expect(Self.acks(receiver.on(chunk(3), now: t)) == [])
        #expect(Self.acks(receiver.onTimer(now: t + TransferReceiver.maxAckDelay)) == [4], "or when the delay runs out")
        #expect(Self.acks(receiver.on(chunk(5), now: t)) == [4], "a gap at once")
        #expect(Self.acks(receiver.on(chunk(4, .ackNow), now: t)) == [6], "asked for")
    }

    static func chunks(_ directives: [TransferDirective]) -> [UInt32] {
        directives.compactMap { if case .send(.chunk(let chunk)) = $0 { chunk.sequence } else { nil } }
    }

    /// The cumulative point of each acknowledgement sent.
    static func acks(_ directives: [TransferDirective]) -> [UInt32] {
        directives.compactMap { if case .send(.ack(let ack)) = $0 { ack.cumulative } else { nil } }
    }
}
