import AsyncUDP
import Foundation
import PNGCodec
import PhotoCloudNode
import PhotoCloudProtocol
import Steganography

/// `photocloud bench bits`: what 1, 2 and 3 bits per colour channel cost and
/// show for one photo. For each photo size and each bits setting it hides a
/// random payload (a sealed photo is indistinguishable from one) in the cover
/// a server would make (`CoverLibrary`: the photo scaled so the payload fills
/// at most half of its capacity), encodes the stego PNG as a server does,
/// and reports the wire cost, the PSNR and two steganalysis figures
/// (`Steganalysis`) for the cover and the stego image. One run per row: the
/// times are single measurements, the other figures do not vary.
public struct BitsTableBench: Sendable {
    public struct Row: Codable, Sendable {
        public var photo_bytes: Int
        public var bits_per_channel: Int
        /// Whether a sender asks for these bits for a photo of this size
        /// (`CoverLibrary.bitsPerChannel(forPayload:)`: the fewest that fit).
        public var sender_choice: Bool
        public var cover_width: Int
        public var cover_height: Int
        /// photo_bytes / the cover's capacity at these bits.
        public var fill: Double
        /// The cover alone, encoded as the stego image is: what the LSB changes add to it.
        public var cover_png_bytes: Int
        public var stego_png_bytes: Int
        /// stego_png_bytes / photo_bytes.
        public var wire_bytes_per_photo_byte: Double
        /// Share of colour samples the embedding changed.
        public var changed_share: Double
        public var psnr_db: Double
        /// Westfeld–Pfitzmann's probability of embedding, whole image.
        public var chi_square_cover: Double
        public var chi_square_stego: Double
        /// The highest probability over scan-order prefixes (10%, 20%, ..., 100%) of the stego image.
        public var chi_square_stego_max_prefix: Double
        /// Ker's calibrated HCF ratio, COM(image) / COM(image downsampled 2x2), mean over R, G, B.
        public var hcf_ratio_cover: Double?
        public var hcf_ratio_stego: Double?
        /// hcf_ratio_stego - hcf_ratio_cover: how far embedding moves this image along the detector's axis.
        public var hcf_ratio_change: Double?
        /// The cover ratio of every photo in the cover's folder, each scaled as a server would for
        /// this payload and bits: how widely the figure varies among covers with nothing hidden.
        public var hcf_ratio_covers_min: Double?
        public var hcf_ratio_covers_max: Double?
        /// The centres of mass behind the ratios, mean over R, G, B: [image, downsampled].
        public var hcf_centre_of_mass_cover: [Double]
        public var hcf_centre_of_mass_stego: [Double]
        /// Copy of the cover, planning and embedding (as a server's worker does, cover already decoded).
        public var embed_seconds: Double
        /// Encoding the stego PNG (the server's encoder: 4 parts for images 256 rows or taller).
        public var encode_seconds: Double
        /// The payload came back out of the stego pixels.
        public var intact: Bool
    }

    public struct Result: Codable, Sendable {
        public var cover: String
        public var cover_width: Int
        public var cover_height: Int
        /// The photos whose cover ratios give hcf_ratio_covers_min and _max.
        public var spread_covers: [String]
        public var date: String
        public var rows: [Row]
        /// Sizes and bits for which no server makes a cover (more than `CoverLibrary.maxPixels`).
        public var skipped: [String]
    }

    public var coverPath: String
    public var photoSizes: [Int]

    public static let defaultCover = "Fixtures/covers/astronaut.png"
    /// A sealed 12-megapixel JPEG, and a phone-sized one.
    public static let defaultPhotoSizes = [4_000_000, 300_000]

    public init(coverPath: String? = nil, photoSizes: [Int] = BitsTableBench.defaultPhotoSizes) {
        self.coverPath = coverPath ?? Self.defaultCover
        self.photoSizes = photoSizes
    }

    public func run(progress: (String) -> Void = { _ in }) throws -> Result {
        let codec = PNGCodec()
        guard FileManager.default.fileExists(atPath: coverPath) else {
            throw PNGError(.io, "no cover photo at \(coverPath): pass --cover FILE (run from the repository to use Fixtures/covers)")
        }
        let photo = try codec.decode(file: coverPath)
        let library = try CoverLibrary(images: [(name: (coverPath as NSString).lastPathComponent, image: photo)])
        let spread = try spreadLibraries(codec: codec)
        let key = try StegoKey(rawKey: Array(repeating: 0x5A, count: 32))
        let request = RequestID(client: 1, number: 1)
        var rows: [Row] = []
        var skipped: [String] = []
        for photoBytes in photoSizes {
            progress("making a \(photoBytes)-byte payload")
            let payload = Self.randomBytes(photoBytes, seed: UInt64(photoBytes))
            let chosen = CoverLibrary.bitsPerChannel(forPayload: photoBytes)
            for bits in Steganographer.bitsRange {
                progress("\(photoBytes) bytes at \(bits) bit\(bits == 1 ? "" : "s"): cover")
                let cover: RGBAImage
                do { cover = try library.cover(for: request, payloadBytes: photoBytes, bitsPerChannel: bits).image } catch let error as NodeError {
                    skipped.append("\(photoBytes) bytes at \(bits) bit\(bits == 1 ? "" : "s"): \(error.message)")
                    continue
                }
                var row = try measure(payload, cover: cover, bits: bits, key: key, progress: progress)
                row.sender_choice = bits == chosen
                progress("\(photoBytes) bytes at \(bits) bit\(bits == 1 ? "" : "s"): the other covers")
                let ratios = try spread.compactMap { other -> Double? in
                    guard let image = try? other.cover(for: request, payloadBytes: photoBytes, bitsPerChannel: bits).image else { return nil }
                    return try Steganalysis.calibratedHCF(image.pixels, width: image.width, height: image.height).ratio
                }
                row.hcf_ratio_covers_min = ratios.min()
                row.hcf_ratio_covers_max = ratios.max()
                rows.append(row)
            }
        }
        return Result(cover: coverPath, cover_width: photo.width, cover_height: photo.height,
                      spread_covers: spread.map { $0.covers[0].name }, date: ISO8601DateFormatter().string(from: Date()), rows: rows,
                      skipped: skipped)
    }

    private func measure(_ payload: [UInt8], cover: RGBAImage, bits: Int, key: StegoKey, progress: (String) -> Void) throws -> Row {
        let label = "\(payload.count) bytes at \(bits) bit\(bits == 1 ? "" : "s")"
        // A server's encoder: a fixed number of parts, so the bytes do not depend on the machine.
        let codec = PNGCodec(encoder: PNGEncoder(threads: cover.height >= 256 ? 4 : 1))
        progress("\(label): embedding in \(cover.width)x\(cover.height)")
        let start = ContinuousClock.now
        var stego = cover
        try Steganographer.embed(payload, into: &stego.pixels, width: cover.width, height: cover.height, key: key,
                                 bitsPerChannel: bits, nonce: Array(repeating: 7, count: Steganographer.nonceBytes))
        let embedded = ContinuousClock.now
        let stegoPNG = try codec.encode(stego)
        let encoded = ContinuousClock.now
        progress("\(label): checking and measuring")
        let intact = try Steganographer.extract(from: stego.pixels, width: stego.width, height: stego.height, key: key) == payload
        let coverPNG = try codec.encode(cover)
        let coverHCF = try Steganalysis.calibratedHCF(cover.pixels, width: cover.width, height: cover.height)
        let stegoHCF = try Steganalysis.calibratedHCF(stego.pixels, width: stego.width, height: stego.height)
        let capacity = Steganographer.capacity(width: cover.width, height: cover.height, bitsPerChannel: bits)
        return Row(
            photo_bytes: payload.count, bits_per_channel: bits, sender_choice: false,
            cover_width: cover.width, cover_height: cover.height, fill: Double(payload.count) / Double(capacity),
            cover_png_bytes: coverPNG.count, stego_png_bytes: stegoPNG.count,
            wire_bytes_per_photo_byte: Double(stegoPNG.count) / Double(max(1, payload.count)),
            changed_share: Self.changedShare(cover.pixels, stego.pixels),
            psnr_db: ImageQuality.psnr(cover.pixels, stego.pixels),
            chi_square_cover: Steganalysis.chiSquare(cover.pixels).probability,
            chi_square_stego: Steganalysis.chiSquare(stego.pixels).probability,
            chi_square_stego_max_prefix: Steganalysis.chiSquareProfile(stego.pixels, steps: 10).map(\.result.probability).max() ?? 0,
            hcf_ratio_cover: coverHCF.ratio, hcf_ratio_stego: stegoHCF.ratio,
            hcf_ratio_change: stegoHCF.ratio.flatMap { stego in coverHCF.ratio.map { stego - $0 } },
            hcf_ratio_covers_min: nil, hcf_ratio_covers_max: nil,
            hcf_centre_of_mass_cover: Self.meanCentres(coverHCF), hcf_centre_of_mass_stego: Self.meanCentres(stegoHCF),
            embed_seconds: (embedded - start).seconds, encode_seconds: (encoded - embedded).seconds, intact: intact
        )
    }

    /// One library per PNG in the cover's folder (the cover included), for the spread of the cover ratio.
    private func spreadLibraries(codec: PNGCodec) throws -> [CoverLibrary] {
        let folder = (coverPath as NSString).deletingLastPathComponent
        let names = ((try? FileManager.default.contentsOfDirectory(atPath: folder.isEmpty ? "." : folder)) ?? [])
            .filter { $0.lowercased().hasSuffix(".png") }.sorted()
        return try names.map { name in
            let image = try codec.decode(file: (folder as NSString).appendingPathComponent(name))
            return try CoverLibrary(images: [(name: name, image: image)])
        }
    }

    static func meanCentres(_ hcf: Steganalysis.CalibratedHCF) -> [Double] {
        [hcf.centreOfMass, hcf.downsampledCentreOfMass].map { $0.reduce(0, +) / Double(max(1, $0.count)) }
    }

    static func changedShare(_ a: [UInt8], _ b: [UInt8]) -> Double {
        var changed = 0
        for index in 0..<min(a.count, b.count) where index & 3 != 3 && a[index] != b[index] { changed += 1 }
        return Double(changed) / Double(max(1, a.count / 4 * 3))
    }

    static func randomBytes(_ count: Int, seed: UInt64) -> [UInt8] {
        var random = SeededRandom(seed: seed)
        var bytes = [UInt8](repeating: 0, count: count)
        var index = 0
        while index < count {
            var word = random.next()
            for _ in 0..<min(8, count - index) {
                bytes[index] = UInt8(truncatingIfNeeded: word)
                word >>= 8
                index += 1
            }
        }
        return bytes
    }
}
