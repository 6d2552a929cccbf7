@testable import PhotoCloudNode
import PNGCodec
import PhotoCloudProtocol
import Steganography
import Testing

@Suite("Server parts: covers, deterministic answers, timers")
struct ServerPartsTests {
    @Test func theBuiltInCoversArePinned() throws {
        // Servers of one cloud must draw the same covers (a retried request gets the same answer from any of them),
        // so a faster drawing has to draw the same pixels, whichever build a server runs.
        let expected: [UInt64] = [0xB05B_C7B5_18B8_C2DB, 0x0D24_2AF0_8743_8E4C]
        for (index, seed) in [UInt64(1), 4].enumerated() {
            let image = try SyntheticCover.make(seed: seed, width: 512, height: 512)
            let hash = image.pixels.reduce(UInt64(0xCBF2_9CE4_8422_2325)) { ($0 ^ UInt64($1)) &* 0x100_0000_01B3 }
            #expect(hash == expected[index], "built-in cover \(seed)")
        }
    }

    @Test func coversAreChosenByRequestAtTheSmallestSizeThatFits() throws {
        let library = try CoverLibrary.builtIn(count: 3)
        let small = try library.cover(for: RequestID(client: 1, number: 1), payloadBytes: 100, bitsPerChannel: 1)
        #expect(Steganographer.capacity(width: small.image.width, height: small.image.height) >= 200)
        #expect(small.image.width <= 64, "a short message gets a small cover, not the 512 px original")
        let again = try library.cover(for: RequestID(client: 1, number: 1), payloadBytes: 100, bitsPerChannel: 1)
        #expect(again.name == small.name && again.image == small.image)
        let names = Set((0..<20).map { try? library.cover(for: RequestID(client: 5, number: UInt64($0)), payloadBytes: 10, bitsPerChannel: 1).name })
        #expect(names.count > 1, "different requests get different covers")
        // Larger than the original at half capacity: the cover is scaled up.
        let big = try library.cover(for: RequestID(client: 1, number: 2), payloadBytes: 100_000, bitsPerChannel: 1)
        #expect(Steganographer.capacity(width: big.image.width, height: big.image.height) >= 200_000)
        #expect(throws: NodeError.self) { try library.cover(for: RequestID(client: 1, number: 3), payloadBytes: 1 << 30, bitsPerChannel: 1) }
    }

    @Test func aPhotoGetsACoverScaledToWhatItNeedsNotTheNextHalving() throws {
        // 14.5 KB at half capacity needs about 77,600 pixels: a 256x256 halving is too small, 512x512 three times too large.
        let library = try CoverLibrary.builtIn(count: 2)
        let wanted = 2 * 14_556
        let minimum = Steganographer.pixelsNeeded(payloadBytes: wanted, bitsPerChannel: 1)
        for number in 0..<4 {
            let id = RequestID(client: 9, number: UInt64(number))
            let cover = try library.cover(for: id, payloadBytes: 14_556, bitsPerChannel: 1)
            let pixels = cover.image.width * cover.image.height
            #expect(Steganographer.capacity(width: cover.image.width, height: cover.image.height) >= wanted)
            #expect(Double(pixels) <= 1.15 * Double(minimum), "\(cover.image.width)x\(cover.image.height) for \(minimum) pixels")
            #expect(cover.image.width % CoverLibrary.widthStep == 0)
            // Made again (cached or not) it is the same image: every server gives the same answer.
            let fresh = try CoverLibrary.builtIn(count: 2).cover(for: id, payloadBytes: 14_556, bitsPerChannel: 1)
            #expect(fresh.image == cover.image)
        }
    }

    @Test func theSameRequestGivesTheSameStegoBytes() throws {
        let library = CoverSource.builtIn(count: 2)
        let payload = Array("the same answer from any server".utf8)
        let request = EncryptionMessage.Request(id: RequestID(client: 3, number: 4), payloadBytes: UInt32(payload.count),
                                                payloadDigest: [UInt8](repeating: 7, count: 32), key: Array("k".utf8))
        let first = try ServerActor.embed(payload, for: request, covers: library).get()
        let second = try ServerActor.embed(payload, for: request, covers: library).get()
        #expect(first == second)
        #expect(try StegoPNG().extract(from: first, key: StegoKey(material: Array("k".utf8))) == payload)
        var other = request
        other.id.number = 5
        #expect(try ServerActor.embed(payload, for: other, covers: library).get() != first)
    }

    @Test func timerQueueFiresInOrderAndForgetsRearmedAndCancelledKeys() {
        var timers = TimerQueue<Int>()
        let at = { (ms: UInt64) in Instant(nanoseconds: ms * 1_000_000) }
        timers.arm(1, at: at(30))
        timers.arm(2, at: at(10))
        timers.arm(3, at: at(20))
        timers.arm(1, at: at(5))     // re-armed earlier
        timers.arm(3, at: at(50))    // re-armed later
        timers.arm(4, at: at(15))
        timers.cancel(4)
        #expect(timers.next() == at(5))
        #expect(timers.popDue(now: at(25)) == [1, 2])
        #expect(timers.popDue(now: at(49)) == [])
        #expect(timers.popDue(now: at(60)) == [3])
        #expect(timers.isEmpty && timers.next() == nil)
        for key in 0..<1_000 { timers.arm(key % 10, at: at(UInt64(key))) }
        #expect(timers.count == 10)
        #expect(timers.popDue(now: at(2_000)) == Array(0..<10))
    }
}
