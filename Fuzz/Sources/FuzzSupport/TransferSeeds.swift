import Crypto
import FuzzChecks
import PhotoCloudProtocol

/// Seeds of the `transfer` target: scripts (`TransferFuzzScript`) of whole
/// transfers delivered in order and out of order, with duplicates, damage, a
/// wrong digest, announced objects, both digest modes, idle timeouts, and the
/// sender acknowledged, restarted (a new epoch) and told its outcome.
public enum TransferSeeds {
    typealias Step = TransferFuzzScript.Step

    public static func all() -> [(name: String, bytes: [UInt8])] {
        let small = object(10), three = object(2_500)
        var seeds: [(String, TransferFuzzScript)] = []
        seeds.append(("one-chunk-delivered", .init(steps: chunks(of: small, id: 1, size: 1_000) + [end(of: small, id: 1)])))
        seeds.append(("three-chunks-delivered", .init(steps: chunks(of: three, id: 2, size: 1_000) + [end(of: three, id: 2)])))
        seeds.append(("three-chunks-external-digest", .init(options: .receiverDigestExternal,
                                                           steps: chunks(of: three, id: 3, size: 1_000) + [end(of: three, id: 3)])))
        let shuffled = chunks(of: three, id: 4, size: 1_000)
        seeds.append(("out-of-order-duplicates", .init(steps: [shuffled[2], shuffled[0], shuffled[2], shuffled[1], shuffled[0],
                                                              end(of: three, id: 4), end(of: three, id: 4)])))
        var damaged = three
        damaged[1_500] ^= 0xFF
        seeds.append(("wrong-digest", .init(steps: chunks(of: damaged, id: 5, size: 1_000) + [end(of: three, id: 5)])))
        seeds.append(("wrong-epoch-then-right", .init(steps: chunks(of: three, id: 6, size: 1_000)
                                                      + [end(of: three, id: 6, epoch: 9), end(of: three, id: 6)])))
        let announced = object(3_000)
        seeds.append(("announced", .init(steps: [Step(source: 1, .expect(id: 7, maxBytes: 3_000, seconds: 20))]
                                         + chunks(of: announced, id: 7, size: 1_000, source: 1) + [end(of: announced, id: 7, source: 1)])))
        seeds.append(("too-large-and-busy", .init(steps: [
            claim(id: 8, totalBytes: 70_000, source: 2),
            chunk(of: small, id: 9, sequence: 0, size: 1_000, source: 2), chunk(of: small, id: 10, sequence: 0, size: 1_000, source: 2),
            chunk(of: small, id: 11, sequence: 0, size: 1_000, source: 2),
        ])))
        seeds.append(("receiver-idle", .init(steps: [chunks(of: three, id: 12, size: 1_000)[0], Step(delay: 2, .receiverTimers),
                                                     Step(delay: 235, .receiverTimers)])))
        seeds.append(("sender-acknowledged", .init(steps: [
            ack(cumulative: 2, largest: 3, ranges: [3..<4]), Step(delay: 20, .senderTimer),
            ack(cumulative: 5, largest: 4, ranges: []), done(.delivered),
        ])))
        seeds.append(("sender-external-digest", .init(options: .senderDigestExternal, steps: [
            ack(cumulative: 5, largest: 4, ranges: []), Step(delay: 1, .senderTimer), done(.delivered),
        ])))
        seeds.append(("sender-receiver-restarted", .init(options: .senderDigestGiven, steps: [
            ack(cumulative: 3, largest: 2, ranges: []), ack(epoch: 11, cumulative: 1, largest: 0, ranges: [2..<3]),
            ack(epoch: 9, cumulative: 5, largest: 4, ranges: []), Step(delay: 150, .senderTimer),
            ack(epoch: 11, cumulative: 5, largest: 4, ranges: []), done(.delivered),
        ])))
        seeds.append(("sender-losses-and-idle", .init(steps: [
            ack(cumulative: 0, largest: 3, ranges: [3..<4]), Step(delay: 199, .senderTimer), Step(delay: 199, .senderTimer),
            Step(delay: 212, .senderTimer), done(.busy),
        ])))
        return seeds.map { ($0.0, $0.1.encoded) }
    }

    static func object(_ count: Int) -> [UInt8] { (0..<count).map { UInt8(truncatingIfNeeded: $0 &* 13 &+ 1) } }

    static func chunk(of object: [UInt8], id: UInt64, sequence: Int, size: Int, source: Int = 0) -> Step {
        let count = max(1, (object.count + size - 1) / size)
        let start = sequence * size
        let message = TransferMessage.chunk(.init(transferID: id, sequence: UInt32(sequence), chunkCount: UInt32(count),
                                                  totalBytes: UInt64(object.count), chunkSize: UInt32(size),
                                                  flags: sequence == count - 1 ? .ackNow : [], payload: object[start..<min(start + size, object.count)]))
        return Step(delay: 3, source: source, .message(.transferChunk, message.encoded()))
    }

    /// A chunk that claims an object of `totalBytes` (and carries little of it).
    static func claim(id: UInt64, totalBytes: Int, source: Int) -> Step {
        let message = TransferMessage.chunk(.init(transferID: id, sequence: 0, chunkCount: UInt32((totalBytes + 999) / 1_000),
                                                  totalBytes: UInt64(totalBytes), chunkSize: 1_000, payload: [1, 2, 3]))
        return Step(delay: 3, source: source, .message(.transferChunk, message.encoded()))
    }

    static func chunks(of object: [UInt8], id: UInt64, size: Int, source: Int = 0) -> [Step] {
        (0..<max(1, (object.count + size - 1) / size)).map { chunk(of: object, id: id, sequence: $0, size: size, source: source) }
    }

    static func end(of object: [UInt8], id: UInt64, epoch: UInt32 = TransferFuzzCheck.receiverEpoch, source: Int = 0) -> Step {
        let message = TransferMessage.end(.init(transferID: id, totalBytes: UInt64(object.count), digest: Array(SHA256.hash(data: object)),
                                                epoch: epoch))
        return Step(delay: 5, source: source, .message(.transferEnd, message.encoded()))
    }

    static func ack(epoch: UInt32 = 9, cumulative: UInt32, largest: UInt32, ranges: [Range<UInt32>]) -> Step {
        let message = TransferMessage.ack(.init(transferID: TransferFuzzCheck.senderTransferID, epoch: epoch, cumulative: cumulative,
                                                largest: largest, ranges: ranges))
        return Step(delay: 10, .message(.transferAck, message.encoded()))
    }

    static func done(_ status: TransferMessage.Done.Status) -> Step {
        Step(delay: 10, .message(.transferDone, TransferMessage.done(.init(transferID: TransferFuzzCheck.senderTransferID, status: status)).encoded()))
    }
}
