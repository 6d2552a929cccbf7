import AsyncUDP
import Foundation
import PNGCodec
import PhotoCloudNode
import Steganography

/// `photocloud bench stego`: hide 1 MB in a 12-megapixel photo-like cover and
/// recover it, against a bare libpng decode + encode of the same cover in the
/// same run. Each figure is the median of `repeats` runs.
public struct StegoBench: Sendable {
    public struct EncoderChoice: Codable, Sendable {
        public var level: Int
        public var filter: String
        public var threads: Int
        public var seconds: Double
        public var bytes: Int
    }

    public struct Result: Codable, Sendable {
        public var cover: String
        public var width: Int
        public var height: Int
        public var payload_bytes: Int
        public var baseline_libpng_seconds: Double
        public var baseline_decode_seconds: Double
        public var baseline_encode_seconds: Double
        /// Decode + encode with photocloud's own encoder, no embedding: what embedding adds.
        public var baseline_own_codec_seconds: Double
        public var embed_total_seconds: Double
        /// Decode + embed, no encode: what `stegano`'s lsb.hide does (it returns an image in memory).
        public var decode_embed_seconds: Double
        /// The baseline's own decode + encode (libpng, its defaults, one core)
        /// with the embedding between them, on one thread: the baseline's work plus hiding.
        public var like_libpng_seconds: Double
        /// like_libpng_seconds / baseline_libpng_seconds: the like-for-like ratio.
        public var ratio_like_for_like: Double
        /// embed_total_seconds / baseline_libpng_seconds (photocloud's fast encoder: level 1, one filter, several threads).
        public var ratio: Double
        /// embed_total_seconds / baseline_own_codec_seconds
        public var ratio_own_codec: Double
        public var embed_only_seconds: Double
        public var embed_mb_per_s: Double
        public var extract_total_seconds: Double
        public var extract_only_seconds: Double
        public var intact: Bool
        public var psnr_db: Double
        public var psnr_95_percent_capacity_db: Double
        public var cover_png_bytes: Int
        public var stego_png_bytes: Int
        public var baseline_png_bytes: Int
        public var encoder: String
        public var encoder_sweep: [EncoderChoice]
    }

    public var coverPath: String?
    public var payloadBytes: Int
    public var width: Int
    public var height: Int
    public var repeats: Int
    public var sweep: Bool

    public init(coverPath: String?, payloadBytes: Int = 1 << 20, width: Int = 4_000, height: Int = 3_000, repeats: Int = 3, sweep: Bool = false) {
        self.coverPath = coverPath
        self.payloadBytes = payloadBytes
        self.width = width
        self.height = height
        self.repeats = repeats
        self.sweep = sweep
    }

    public func run(progress: (String) -> Void = { _ in }) async throws -> Result {
        progress("preparing a \(width)x\(height) cover")
        let (cover, coverName, original) = try makeCover()
        let libpng = PNGCodec()
        // A photo used as it is is decoded from its own file; a scaled one as libpng writes it.
        let coverPNG = try original ?? libpng.encodeWithLibpng(cover)
        var random = SeededRandom(seed: 2024)
        let payload = (0..<payloadBytes).map { _ in UInt8.random(in: 0...255, using: &random) }
        let key = try StegoKey(passphrase: "bench")
        let codec = PNGCodec()

        progress("baseline: libpng decode + encode")
        var baselinePNG: [UInt8] = []
        let decode = try await median { _ = try libpng.decode(coverPNG) }
        let baselineEncode = try await median { baselinePNG = try libpng.encodeWithLibpng(cover) }
        let baseline = try await median {
            let image = try libpng.decode(coverPNG)
            baselinePNG = try libpng.encodeWithLibpng(image)
        }

        let ownCodec = try await median { _ = try codec.encode(try codec.decode(coverPNG)) }

        progress("embedding \(payloadBytes) bytes")
        let embedOnly = try await median {
            var pixels = cover.pixels
            try Steganographer.embed(payload, into: &pixels, width: cover.width, height: cover.height, key: key)
        }
        var stegoPNG: [UInt8] = []
        let embedTotal = try await median { stegoPNG = try await StegoPNG(codec: codec).embed(payload, coverPNG: coverPNG, key: key) }
        let decodeEmbed = try await median {
            let size = try codec.dimensions(of: coverPNG)
            async let plan = EmbeddingPlan(payloadBytes: payload.count, width: size.width, height: size.height, key: key)
            var image = try codec.decode(coverPNG)
            try Steganographer.embed(payload, into: &image.pixels, plan: try await plan)
        }

        progress("embedding, like for like: the baseline's own decode and encode, one thread")
        let likeLibpng = try await median {
            var image = try libpng.decode(coverPNG)
            try Steganographer.embed(payload, into: &image.pixels, width: image.width, height: image.height, key: key, threads: 1)
            _ = try libpng.encodeWithLibpng(image)
        }

        progress("extracting")
        let stego = try codec.decode(stegoPNG)
        let extractOnly = try await median {
            _ = try Steganographer.extract(from: stego.pixels, width: stego.width, height: stego.height, key: key)
        }
        var recovered: [UInt8] = []
        let extractTotal = try await median { recovered = try StegoPNG(codec: codec).extract(from: stegoPNG, key: key) }

        progress("PSNR at 95% of capacity")
        var full = cover.pixels
        let fullPayload = (0..<(Steganographer.capacity(width: cover.width, height: cover.height) * 95 / 100)).map { UInt8(truncatingIfNeeded: $0 &* 131) }
        try Steganographer.embed(fullPayload, into: &full, width: cover.width, height: cover.height, key: key)

        var choices: [EncoderChoice] = []
        if sweep {
            let stegoRGB = stego.rgbPixels()
            for level in [1, 3, 6] {
                for filter in RowFilter.allCases {
                    for threads in Set([1, PNGEncoder.defaultThreads]).sorted() {
                        progress("encoder sweep: level \(level) \(filter) \(threads) thread\(threads == 1 ? "" : "s")")
                        let encoder = PNGEncoder(level: level, filter: filter, threads: threads)
                        var bytes = 0
                        let seconds = try await median { bytes = try encoder.encode(stegoRGB, width: stego.width, height: stego.height, channels: 3).count }
                        choices.append(EncoderChoice(level: level, filter: filter.rawValue, threads: threads, seconds: seconds, bytes: bytes))
                    }
                }
            }
        }
        let encoder = codec.encoder
        return Result(
            cover: coverName, width: cover.width, height: cover.height, payload_bytes: payloadBytes,
            baseline_libpng_seconds: baseline, baseline_decode_seconds: decode, baseline_encode_seconds: baselineEncode,
            baseline_own_codec_seconds: ownCodec,
            embed_total_seconds: embedTotal, decode_embed_seconds: decodeEmbed,
            like_libpng_seconds: likeLibpng, ratio_like_for_like: likeLibpng / baseline, ratio: embedTotal / baseline, ratio_own_codec: embedTotal / ownCodec,
            embed_only_seconds: embedOnly, embed_mb_per_s: Double(payloadBytes) / 1e6 / embedOnly,
            extract_total_seconds: extractTotal, extract_only_seconds: extractOnly,
            intact: recovered == payload,
            psnr_db: ImageQuality.psnr(cover.pixels, stego.pixels),
            psnr_95_percent_capacity_db: ImageQuality.psnr(cover.pixels, full),
            cover_png_bytes: coverPNG.count, stego_png_bytes: stegoPNG.count, baseline_png_bytes: baselinePNG.count,
            encoder: "level \(encoder.level), \(encoder.filter) filter, \(encoder.threads) threads",
            encoder_sweep: choices
        )
    }

    /// A real photograph scaled to width x height, with mild sensor-like noise
    /// so that it compresses like a camera image rather than a smooth upscale.
    private func makeCover() throws -> (RGBAImage, String, [UInt8]?) {
        let candidates = [coverPath, "Fixtures/covers/hubble_deep_field.png"].compactMap { $0 }
        guard let path = candidates.first(where: { FileManager.default.fileExists(atPath: $0) }) else {
            throw PNGError(.io, "no cover photo: pass --cover FILE (run from the repository to use Fixtures/covers)")
        }
        let photo = try PNGCodec().decode(file: path)
        if width == 0 || (width == photo.width && height == photo.height) {
            return (photo, path, try FileBytes.read(path))   // as it is
        }
        var pixels = try CoverScaling.resize(photo.pixels, width: photo.width, height: photo.height, to: width, height)
        var random = SeededRandom(seed: 77)
        for index in pixels.indices where index & 3 != 3 {
            let noise = Int(random.next() % 7) - 3
            pixels[index] = UInt8(clamping: Int(pixels[index]) + noise)
        }
        return (try RGBAImage(width: width, height: height, pixels: pixels), path, nil)
    }

    private func median(_ body: () async throws -> Void) async throws -> Double {
        var times: [Double] = []
        for _ in 0..<max(1, repeats) {
            let start = ContinuousClock.now
            try await body()
            times.append((ContinuousClock.now - start).seconds)
        }
        return times.sorted()[times.count / 2]
    }

}
