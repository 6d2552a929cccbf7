import PNGCodec
import PhotoCloudTestKit
import Steganography
import Testing

@Suite("Steganography round trips")
struct EmbedExtractTests {
    static let key = try! StegoKey(passphrase: "correct horse battery staple")

    static func cover(width: Int, height: Int, seed: UInt64 = 5) -> [UInt8] {
        var random = SeededRandom(seed: seed)
        return (0..<(width * height * 4)).map { index in index % 4 == 3 ? 255 : UInt8.random(in: 0...255, using: &random) }
    }

    static func payload(_ count: Int, seed: UInt64 = 9) -> [UInt8] {
        var random = SeededRandom(seed: seed)
        return (0..<count).map { _ in UInt8.random(in: 0...255, using: &random) }
    }

    @Test func oneThreadOrManyGiveTheSameImageAndBothRead() throws {
        // Servers embed small covers on one thread; any server must give the same answer to a request.
        let (width, height) = (300, 260)
        let payload = Self.payload(Steganographer.capacity(width: width, height: height) / 2)
        let nonce = [UInt8](repeating: 3, count: Steganographer.nonceBytes)
        var images: [[UInt8]] = []
        for threads in [1, 2, 4] {
            var pixels = Self.cover(width: width, height: height)
            try Steganographer.embed(payload, into: &pixels, width: width, height: height, key: Self.key, nonce: nonce, threads: threads)
            images.append(pixels)
        }
        #expect(images.allSatisfy { $0 == images[0] })
        for threads in [1, 4] {
            #expect(try Steganographer.extract(from: images[0], width: width, height: height, key: Self.key, threads: threads) == payload)
        }
    }

    enum Size: CaseIterable, Sendable {
        case empty, oneByte, half, exactlyCapacity
        func bytes(capacity: Int) -> Int {
            switch self {
            case .empty: return 0
            case .oneByte: return 1
            case .half: return capacity / 2
            case .exactlyCapacity: return capacity
            }
        }
    }

    @Test("round trips", arguments: [1, 2, 3], Size.allCases)
    func roundTrip(bits: Int, size: Size) throws {
        for (width, height) in [(37, 23), (64, 64), (101, 3)] {
            var pixels = Self.cover(width: width, height: height)
            let capacity = Steganographer.capacity(width: width, height: height, bitsPerChannel: bits)
            let payload = Self.payload(size.bytes(capacity: capacity))
            try Steganographer.embed(payload, into: &pixels, width: width, height: height, key: Self.key, bitsPerChannel: bits)
            #expect(try Steganographer.extract(from: pixels, width: width, height: height, key: Self.key) == payload)
        }
    }

    @Test("one byte over capacity says how large a cover is needed", arguments: [1, 2, 3])
    func overCapacity(bits: Int) throws {
        var pixels = Self.cover(width: 40, height: 30)
        let capacity = Steganographer.capacity(width: 40, height: 30, bitsPerChannel: bits)
        #expect {
            try Steganographer.embed(Self.payload(capacity + 1), into: &pixels, width: 40, height: 30, key: Self.key, bitsPerChannel: bits)
        } throws: { error in
            guard let error = error as? StegoError, error.code == .coverTooSmall else { return false }
            let needed = Steganographer.pixelsNeeded(payloadBytes: capacity + 1, bitsPerChannel: bits)
            return error.message.contains("at least \(needed) pixels") && needed > 40 * 30
        }
        #expect(pixels == Self.cover(width: 40, height: 30))   // untouched
    }

    @Test func capacityMatchesPixelsNeeded() {
        for bits in 1...3 {
            for payload in [0, 1, 100, 12_345] {
                let pixels = Steganographer.pixelsNeeded(payloadBytes: payload, bitsPerChannel: bits)
                #expect(Steganographer.capacity(width: pixels, height: 1, bitsPerChannel: bits) >= payload)
                if payload > 0 { #expect(Steganographer.capacity(width: pixels - 1, height: 1, bitsPerChannel: bits) < payload) }
            }
        }
    }

    @Test func aCoverTooSmallForEvenTheHeaderIsRefused() {
        var pixels = Self.cover(width: 8, height: 8)
        #expect(Steganographer.capacity(width: 8, height: 8) == 0)
        #expect { try Steganographer.embed([], into: &pixels, width: 8, height: 8, key: Self.key) } throws: {
            ($0 as? StegoError)?.code == .coverTooSmall
        }
        #expect { try Steganographer.extract(from: pixels, width: 8, height: 8, key: Self.key) } throws: {
            ($0 as? StegoError)?.code == .noPayload
        }
    }

    @Test func alphaIsNeverChanged() throws {
        var random = SeededRandom(seed: 4)
        var pixels = (0..<(50 * 50 * 4)).map { _ in UInt8.random(in: 0...255, using: &random) }
        let before = pixels
        try Steganographer.embed(Self.payload(Steganographer.capacity(width: 50, height: 50)), into: &pixels, width: 50, height: 50, key: Self.key)
        for index in stride(from: 3, to: pixels.count, by: 4) { #expect(pixels[index] == before[index]) }
    }

    @Test("changes are ±1 at one bit per channel, and values stay in range")
    func lsbMatchingMagnitude() throws {
        // Extreme covers: all 0 and all 255, where only one direction exists.
        for fill: UInt8 in [0, 255, 128] {
            var pixels = [UInt8](repeating: fill, count: 30 * 30 * 4)
            try Steganographer.embed(Self.payload(200), into: &pixels, width: 30, height: 30, key: Self.key)
            #expect(pixels.allSatisfy { abs(Int($0) - Int(fill)) <= 1 })
            #expect(try Steganographer.extract(from: pixels, width: 30, height: 30, key: Self.key) == Self.payload(200))
        }
    }

    @Test func wrongKeyFindsNothing() throws {
        var pixels = Self.cover(width: 60, height: 40)
        try Steganographer.embed(Self.payload(500), into: &pixels, width: 60, height: 40, key: Self.key)
        let other = try StegoKey(passphrase: "Tr0ub4dor&3")
        #expect { try Steganographer.extract(from: pixels, width: 60, height: 40, key: other) } throws: {
            ($0 as? StegoError)?.code == .noPayload
        }
        #expect { try Steganographer.extract(from: Self.cover(width: 60, height: 40), width: 60, height: 40, key: Self.key) } throws: {
            ($0 as? StegoError)?.code == .noPayload
        }
    }

    @Test func aFlippedPixelIsDetected() throws {
        var stego = Self.cover(width: 60, height: 40)
        let payload = Self.payload(Steganographer.capacity(width: 60, height: 40))
        try Steganographer.embed(payload, into: &stego, width: 60, height: 40, key: Self.key)
        // At full capacity every colour slot carries a bit: any flip of a low bit is damage.
        var detected = 0
        for index in stride(from: 0, to: stego.count, by: 97) where index % 4 != 3 {
            var damaged = stego
            damaged[index] ^= 1
            #expect(throws: StegoError.self) { try Steganographer.extract(from: damaged, width: 60, height: 40, key: Self.key) }
            detected += 1
        }
        #expect(detected > 50)
    }

    @Test func keysFromPassphraseAndRawBytes() throws {
        #expect(throws: StegoError.self) { try StegoKey(passphrase: "") }
        #expect(throws: StegoError.self) { try StegoKey(rawKey: [1, 2, 3]) }
        #expect(throws: StegoError.self) { try StegoKey(parsing: "hex:abc") }
        let raw = try StegoKey(parsing: "hex:" + String(repeating: "0f", count: 32))
        var pixels = Self.cover(width: 20, height: 20)
        try Steganographer.embed([1, 2, 3], into: &pixels, width: 20, height: 20, key: raw)
        #expect(try Steganographer.extract(from: pixels, width: 20, height: 20, key: try StegoKey(rawKey: [UInt8](repeating: 15, count: 32))) == [1, 2, 3])
    }
}
