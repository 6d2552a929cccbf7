import PNGCodec
import Testing

/// JPEG decoding through libjpeg-turbo, fed by the project's own encoder.
@Suite("JPEG decoding")
struct JPEGCodecTests {
    static func photo() throws -> RGBAImage { try PhotoFixtures.photo(width: 160, height: 120, seed: 3) }

    static let encoders: [(String, JPEGEncoder)] = [
        ("baseline 4:2:0", JPEGEncoder()),
        ("baseline 4:4:4", JPEGEncoder(subsampled: false)),
        ("progressive 4:2:0", JPEGEncoder(progressive: true)),
        ("stored as RGB", JPEGEncoder(storage: .rgb)),
    ]

    @Test("a round trip at quality 90 stays above 30 dB", arguments: encoders.indices)
    func roundTrip(index: Int) throws {
        let (name, encoder) = Self.encoders[index]
        let jpeg = try encoder.encode(Self.photo())
        let (image, report) = try JPEGCodec().decodeReporting(jpeg)
        #expect(image.width == 160 && image.height == 120)
        #expect(image.isOpaque)
        #expect(report.warnings == 0 && report.firstWarning == nil)
        #expect(report.header.progressive == encoder.progressive)
        #expect(report.scans >= (encoder.progressive ? 2 : 1), "\(name)")
        let psnr = try PhotoFixtures.psnr(image, Self.photo())
        #expect(psnr > 30, "\(name): \(psnr) dB")
    }

    @Test func headerAndDimensions() throws {
        let jpeg = try JPEGEncoder().encode(try PhotoFixtures.photo(width: 1001, height: 333))
        let header = try JPEGCodec().header(of: jpeg)
        #expect(header.width == 1001 && header.height == 333)
        #expect(header.components == 3 && header.colorSpace == .ycbcr && !header.progressive && !header.adobe)
        #expect(try JPEGCodec().dimensions(of: jpeg) == (1001, 333))
        #expect(try ImageFile.dimensions(of: jpeg) == (1001, 333))
    }

    @Test("DCT scaling gives each side divided and rounded up, close to the full image shrunk", arguments: [2, 4, 8])
    func scaledDecode(scale: Int) throws {
        let original = try PhotoFixtures.photo(width: 1001, height: 333)
        let jpeg = try JPEGEncoder(quality: 95).encode(original)
        let (image, report) = try JPEGCodec().decodeReporting(jpeg, scale: scale)
        let expected = JPEGCodec.scaledSize(width: 1001, height: 333, scale: scale)
        #expect((image.width, image.height) == expected)
        #expect(expected == ((1001 + scale - 1) / scale, (333 + scale - 1) / scale))
        #expect(report.scale == scale)
        let shrunk = try original.downsized(width: image.width, height: image.height)
        #expect(PhotoFixtures.psnr(image, shrunk) > 25)
    }

    @Test func unknownScaleRefused() throws {
        let jpeg = try JPEGEncoder().encode(Self.photo())
        #expect { try JPEGCodec().decode(jpeg, scale: 3) } throws: { ($0 as? PNGError)?.code == .invalidImage }
    }

    @Test func grayscale() throws {
        let (width, height) = (64, 48)
        let gray = (0..<(width * height)).map { UInt8(($0 % width) * 4) }
        let jpeg = try JPEGEncoder(quality: 95).encodeGray(gray, width: width, height: height)
        let header = try JPEGCodec().header(of: jpeg)
        #expect(header.components == 1 && header.colorSpace == .gray)
        let image = try JPEGCodec().decode(jpeg)
        for pixel in stride(from: 0, to: width * height, by: 37) {
            let (r, g, b, a) = image[pixel % width, pixel / width]
            #expect(r == g && g == b && a == 255)
            #expect(abs(Int(r) - Int(gray[pixel])) <= 6, "pixel \(pixel)")
        }
    }

    /// Adobe's inverted CMYK (255 = no ink) for a colour: 255 - ink, with K holding the common part.
    static func adobeCMYK(red: Int, green: Int, blue: Int) -> [UInt8] {
        let black = 255 - max(red, green, blue)
        let scale = { (channel: Int) in black == 255 ? 0 : (255 - channel - black) * 255 / (255 - black) }
        return [255 - scale(red), 255 - scale(green), 255 - scale(blue), 255 - black].map { UInt8($0) }
    }

    @Test("CMYK and YCCK JPEGs (Adobe, inverted) convert to RGB", arguments: [false, true])
    func cmyk(asYCCK: Bool) throws {
        let colours = [(230, 20, 20), (20, 200, 40), (30, 30, 220), (128, 128, 128), (250, 250, 250), (10, 10, 10)]
        let (width, height) = (16 * colours.count, 16)
        var pixels: [UInt8] = []
        for _ in 0..<height {
            for x in 0..<width {
                let (r, g, b) = colours[x / 16]
                pixels += Self.adobeCMYK(red: r, green: g, blue: b)
            }
        }
        let jpeg = try JPEGEncoder(quality: 95).encodeCMYK(pixels, width: width, height: height, asYCCK: asYCCK)
        let header = try JPEGCodec().header(of: jpeg)
        #expect(header.components == 4 && header.colorSpace == (asYCCK ? .ycck : .cmyk) && header.adobe)
        let image = try JPEGCodec().decode(jpeg)
        for (index, colour) in colours.enumerated() {
            let (r, g, b, a) = image[index * 16 + 8, 8]
            #expect(abs(Int(r) - colour.0) <= 8 && abs(Int(g) - colour.1) <= 8 && abs(Int(b) - colour.2) <= 8,
                    "\(colour) came out as \((r, g, b))")
            #expect(a == 255)
        }
    }

    @Test("APPn segments are skipped, not kept, however large")
    func largeApplicationSegments() throws {
        let jpeg = try JPEGEncoder().encode(Self.photo())
        let segment: [UInt8] = [0xFF, 0xE1, 0xFF, 0xFF] + Array("Exif\0\0".utf8) + [UInt8](repeating: 0x5A, count: 0xFFFF - 2 - 6)
        var withSegments = Array(jpeg.prefix(2))
        for _ in 0..<20 { withSegments += segment }   // 1.3 MB of metadata
        withSegments += jpeg.dropFirst(2)
        #expect(try JPEGCodec().decode(withSegments) == JPEGCodec().decode(jpeg))
    }

    @Test("bytes between two markers: decoded, and reported as a warning")
    func extraneousBytesWarn() throws {
        let jpeg = try JPEGEncoder().encode(Self.photo())
        let frame = try #require(PhotoFixtures.startOfFrame(in: jpeg))
        let damaged = Array(jpeg.prefix(frame - 2)) + [0x12, 0x34, 0x56] + jpeg.dropFirst(frame - 2)
        let (image, report) = try JPEGCodec().decodeReporting(damaged)
        #expect(report.warnings == 1)
        #expect(report.firstWarning?.contains("extraneous bytes") == true)
        #expect(image == (try JPEGCodec().decode(jpeg)))
        #expect { try JPEGCodec(maxWarnings: 0).decode(damaged) } throws: { error in
            (error as? PNGError)?.code == .corrupt && (error as? PNGError)?.message.contains("warnings") == true
        }
    }

    @Test func scanLimit() throws {
        let jpeg = try JPEGEncoder(progressive: true).encode(Self.photo())
        let scans = try JPEGCodec().decodeReporting(jpeg).report.scans
        #expect(scans >= 5)
        #expect { try JPEGCodec(maxScans: scans - 1).decode(jpeg) } throws: { error in
            (error as? PNGError)?.code == .tooLarge && (error as? PNGError)?.message.contains("scans") == true
        }
        #expect(try JPEGCodec(maxScans: scans).decode(jpeg).width == 160)
    }

    @Test("a legal file of 568 scans is refused for its work, not its size")
    func passLimit() throws {
        var row: [UInt8] = []
        for x in 0..<1_024 { row += [UInt8(x / 4), UInt8(255 - x / 4), UInt8(x % 251), 255] }
        var encoder = JPEGEncoder(progressive: true)
        encoder.everyCoefficientScans = true
        let jpeg = try encoder.encode(PhotoFixtures.repeatedRow(row, height: 768))
        let (image, report) = try JPEGCodec(maxScans: 1_000, maxPasses: 1_000).decodeReporting(jpeg)
        #expect(image.width == 1_024 && report.scans == 568)
        #expect { try JPEGCodec().decode(jpeg) } throws: { error in
            (error as? PNGError)?.code == .tooLarge && (error as? PNGError)?.message.contains("passes over the image") == true
        }
        #expect { try JPEGCodec(maxPasses: 1_000).decode(jpeg) } throws: { error in
            (error as? PNGError)?.message.contains("more than 500 scans") == true
        }
        let ordinary = try JPEGEncoder(progressive: true).encode(PhotoFixtures.repeatedRow(row, height: 768))
        #expect(try JPEGCodec(maxPasses: 8).decode(ordinary).height == 768)
    }

    @Test func encoderRefusesBadInput() throws {
        #expect { try JPEGEncoder().encodeGray([1, 2, 3], width: 2, height: 2) } throws: { ($0 as? PNGError)?.code == .invalidImage }
        #expect { try JPEGEncoder(quality: 0).encode(Self.photo()) } throws: { ($0 as? PNGError)?.code == .invalidImage }
        #expect { try JPEGEncoder().encode(try RGBAImage(width: 65_501, height: 1)) } throws: { ($0 as? PNGError)?.code == .invalidImage }
    }
}
