import PNGCodec
import Testing

/// JPEGs from strangers: cut short, damaged, or with a header that lies.
/// Each is a PNGError, never a crash, a hang, or a picture half made up.
@Suite("JPEG hostile input")
struct JPEGHostileTests {
    static func sample(progressive: Bool) throws -> [UInt8] {
        try JPEGEncoder(progressive: progressive).encode(PhotoFixtures.photo(width: 96, height: 64, seed: 9))
    }

    static func code(_ error: any Error) -> PNGError.Code? { (error as? PNGError)?.code }

    @Test("cut short anywhere is an error", arguments: [false, true])
    func everyTruncationFails(progressive: Bool) throws {
        let jpeg = try Self.sample(progressive: progressive)
        for length in 0..<jpeg.count {
            let cut = Array(jpeg.prefix(length))
            #expect(throws: PNGError.self, "cut at \(length) of \(jpeg.count)") { try JPEGCodec().decode(cut) }
            #expect(throws: PNGError.self, "cut at \(length) of \(jpeg.count)") { try ImageFile.decode(cut) }
        }
    }

    @Test("a file cut in its image data says it is truncated", arguments: [false, true])
    func truncationMessage(progressive: Bool) throws {
        let jpeg = try Self.sample(progressive: progressive)
        for length in [jpeg.count - 1, jpeg.count - 2, jpeg.count / 2, jpeg.count * 3 / 4] {
            #expect { try JPEGCodec().decode(Array(jpeg.prefix(length))) } throws: { error in
                Self.code(error) == .corrupt && (error as? PNGError)?.message.hasPrefix("truncated JPEG") == true
            }
        }
    }

    @Test("cut in its image data and closed again with EOI is still truncated")
    func cutAndClosed() throws {
        let jpeg = try Self.sample(progressive: false)
        let scan = try #require(jpeg.indices.dropLast().first { jpeg[$0] == 0xFF && jpeg[$0 + 1] == 0xDA })
        let data = scan + 2 + (Int(jpeg[scan + 2]) << 8 | Int(jpeg[scan + 3]))
        for length in stride(from: data + 1, to: jpeg.count - 8, by: 5) {
            let closed = Array(jpeg.prefix(length)) + [0xFF, 0xD9]
            #expect { try JPEGCodec().decode(closed) } throws: { error in
                Self.code(error) == .corrupt && (error as? PNGError)?.message.hasPrefix("truncated JPEG") == true
            }
        }
    }

    @Test("random damage decodes or fails cleanly", arguments: [false, true])
    func randomCorruption(progressive: Bool) throws {
        let jpeg = try Self.sample(progressive: progressive)
        var state: UInt64 = progressive ? 0xC0FFEE : 0xBADF00D
        func next(_ bound: Int) -> Int {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return Int((state >> 33) % UInt64(bound))
        }
        var decoded = 0, refused = 0
        for _ in 0..<400 {
            var damaged = jpeg
            for _ in 0..<(1 + next(8)) { damaged[2 + next(damaged.count - 2)] = UInt8(next(256)) }
            do {
                let image = try JPEGCodec().decode(damaged)
                #expect(image.pixels.count == image.width * image.height * 4)
                decoded += 1
            } catch {
                refused += 1
            }
        }
        #expect(decoded + refused == 400)
    }

    @Test("a header claiming 65500x65500 is refused from the header", arguments: [false, true])
    func hugeDimensionsRefused(progressive: Bool) throws {
        let forged = PhotoFixtures.forging(try Self.sample(progressive: progressive), width: 65_500, height: 65_500)
        let tooLarge = { (error: any Error) in
            Self.code(error) == .tooLarge && (error as? PNGError)?.message.contains("65500x65500") == true
        }
        #expect { try JPEGCodec().header(of: forged) } throws: { tooLarge($0) }
        #expect { try JPEGCodec().decode(forged, scale: 8) } throws: { tooLarge($0) }
        #expect { try ImageFile.decode(forged) } throws: { tooLarge($0) }
        #expect { try ImageFile.dimensions(of: forged) } throws: { tooLarge($0) }
        #expect { try Preview.make(from: forged) } throws: { tooLarge($0) }
    }

    @Test func beyondLibjpegsLargestSide() throws {
        let forged = PhotoFixtures.forging(try Self.sample(progressive: false), width: 65_535, height: 16)
        #expect { try JPEGCodec().decode(forged) } throws: { Self.code($0) == .tooLarge }
    }

    @Test func headerClaimingNoPixels() throws {
        let forged = PhotoFixtures.forging(try Self.sample(progressive: false), width: 0, height: 64)
        #expect { try JPEGCodec().decode(forged) } throws: { Self.code($0) == .corrupt }
    }

    @Test func decodeLimitApplies() throws {
        let jpeg = try Self.sample(progressive: false)
        #expect { try JPEGCodec(maxDecodePixels: 96 * 64 - 1).decode(jpeg) } throws: { Self.code($0) == .tooLarge }
        #expect { try ImageFile.decode(jpeg, maxPixels: 1_000) } throws: { Self.code($0) == .tooLarge }
        #expect(try JPEGCodec(maxDecodePixels: 96 * 64).decode(jpeg).width == 96)
    }

    /// A progressive file needs its whole coefficient buffer (2 bytes a pixel a
    /// full-resolution component): at 4:4:4 and 38 megapixels that is more than
    /// libjpeg is allowed, and libjpeg refuses before allocating it. The same
    /// claim in a baseline file needs no such buffer and fails only for want of data.
    @Test func progressiveBeyondTheMemoryLimit() throws {
        let photo = try PhotoFixtures.photo(width: 64, height: 64)
        let progressive = PhotoFixtures.forging(try JPEGEncoder(progressive: true, subsampled: false).encode(photo), width: 6_200, height: 6_200)
        #expect { try JPEGCodec().decode(progressive) } throws: { error in
            Self.code(error) == .tooLarge && (error as? PNGError)?.message.contains("memory") == true
        }
        let baseline = PhotoFixtures.forging(try JPEGEncoder(subsampled: false).encode(photo), width: 6_200, height: 6_200)
        #expect { try JPEGCodec().decode(baseline) } throws: { error in
            Self.code(error) == .corrupt && (error as? PNGError)?.message.hasPrefix("truncated") == true
        }
    }

    @Test func tablesWithoutAnImage() throws {
        let jpeg = try Self.sample(progressive: false)
        guard let frame = PhotoFixtures.startOfFrame(in: jpeg) else {
            Issue.record("no frame header")
            return
        }
        let tablesOnly = Array(jpeg.prefix(frame - 2)) + [0xFF, 0xD9]   // the tables, then EOI
        #expect { try JPEGCodec().decode(tablesOnly) } throws: { Self.code($0) == .corrupt }
    }
}
