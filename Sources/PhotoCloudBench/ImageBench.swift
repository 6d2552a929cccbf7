import AsyncUDP
import Foundation
import PNGCodec
import Steganography

/// `photocloud bench image`: decoding and previewing a 12-megapixel photo as
/// JPEG (baseline and progressive) and as PNG, each figure the median of
/// `repeats` runs; and the peak resident memory of each, measured in a fresh
/// process per case (`measure`), including three hostile files: a header
/// claiming 65500x65500, a progressive file claiming 49 megapixels that holds
/// the data of a small one, and a legal progressive 49-megapixel file of 568
/// scans (180 KB).
public struct ImageBench: Sendable {
    public struct Timing: Codable, Sendable {
        public var name: String
        public var seconds: Double
    }

    public struct Memory: Codable, Sendable {
        public var name: String
        public var peak_rss_mib: Double
        /// Above the process that only reads the file.
        public var above_read_only_mib: Double
        public var outcome: String
    }

    public struct Result: Codable, Sendable {
        public var cover: String
        public var width: Int
        public var height: Int
        public var repeats: Int
        public var jpeg_bytes: Int
        public var progressive_jpeg_bytes: Int
        public var png_bytes: Int
        public var timings: [Timing]
        public var memory: [Memory]
    }

    /// What one memory-measuring process does with its file.
    public enum MemoryCase: String, CaseIterable, Sendable {
        case readOnly = "read-only"
        case jpegDecode = "jpeg-decode"
        case progressiveDecode = "progressive-decode"
        case jpegPreview = "jpeg-preview"
        case progressivePreview = "progressive-preview"
        case pngDecode = "png-decode"
        case pngPreview = "png-preview"
        case hostileHeader = "hostile-header"
        case hostileProgressive = "hostile-progressive"
        case hostileScans = "hostile-scans"

        var file: String {
            switch self {
            case .readOnly, .jpegDecode, .jpegPreview: "photo.jpg"
            case .progressiveDecode, .progressivePreview: "progressive.jpg"
            case .pngDecode, .pngPreview: "photo.png"
            case .hostileHeader: "hostile-header.jpg"
            case .hostileProgressive: "hostile-progressive.jpg"
            case .hostileScans: "hostile-scans.jpg"
            }
        }
    }

    public var coverPath: String?
    public var width: Int
    public var height: Int
    public var repeats: Int

    public init(coverPath: String?, width: Int = 4_000, height: Int = 3_000, repeats: Int = 5) {
        self.coverPath = coverPath
        self.width = width
        self.height = height
        self.repeats = repeats
    }

    /// Runs the timings here and each memory case through `inChild` (which
    /// runs `measure` in a new process and returns its peak RSS in KiB and outcome).
    public func run(progress: (String) -> Void = { _ in },
                    inChild: (MemoryCase, String) throws -> (kib: Int, outcome: String)) async throws -> Result {
        progress("preparing a \(width)x\(height) photo")
        let (photo, coverName) = try makePhoto()
        let jpeg = try JPEGEncoder(quality: 90).encode(photo)
        let progressive = try JPEGEncoder(quality: 90, progressive: true).encode(photo)
        let png = try PNGCodec().encode(photo)
        let hostileHeader = Self.forging(jpeg, width: 65_500, height: 65_500)
        let small = try JPEGEncoder(quality: 90, progressive: true).encode(photo.downsized(width: 400, height: 300))
        let hostileProgressive = Self.forging(small, width: 7_000, height: 7_000)
        var manyScans = JPEGEncoder(quality: 90, progressive: true)
        manyScans.everyCoefficientScans = true
        let photoScans = try manyScans.encode(photo)
        let flat = try RGBAImage(width: 7_000, height: 7_000, pixels: [UInt8](repeating: 128, count: 7_000 * 7_000 * 4))
        let flatScans = try manyScans.encode(flat)
        progress("568-scan files: \(photoScans.count) and \(flatScans.count) bytes")

        var timings: [Timing] = []
        func time(_ name: String, _ body: () throws -> Void) throws {
            progress(name)
            var runs: [Double] = []
            for _ in 0..<max(1, repeats) {
                let start = ContinuousClock.now
                try body()
                let elapsed = (ContinuousClock.now - start).components
                runs.append(Double(elapsed.seconds) + Double(elapsed.attoseconds) / 1e18)
            }
            timings.append(Timing(name: name, seconds: runs.sorted()[runs.count / 2]))
        }
        var preview = photo
        try time("jpeg encode, quality 90, 4:2:0") { _ = try JPEGEncoder(quality: 90).encode(photo) }
        try time("jpeg header only") { _ = try JPEGCodec().header(of: jpeg) }
        try time("jpeg decode, baseline") { _ = try JPEGCodec().decode(jpeg) }
        try time("jpeg decode, progressive") { _ = try JPEGCodec().decode(progressive) }
        try time("jpeg decode at 1/8, baseline") { _ = try JPEGCodec().decode(jpeg, scale: 8) }
        try time("jpeg decode at 1/8, progressive") { _ = try JPEGCodec().decode(progressive, scale: 8) }
        try time("jpeg preview 256, baseline") { preview = try Preview.make(from: jpeg) }
        try time("jpeg preview 256, progressive") { _ = try Preview.make(from: progressive) }
        try time("png decode") { _ = try PNGCodec().decode(png) }
        try time("png preview 256") { _ = try Preview.make(from: png) }
        try time("box filter alone, \(width)x\(height) -> 256") {
            let size = Preview.size(width: width, height: height, longestSide: 256)
            _ = try photo.downsized(width: size.width, height: size.height)
        }
        try time("hostile header 65500x65500, refused") { _ = try? ImageFile.decode(hostileHeader) }
        try time("hostile progressive 7000x7000, refused") { _ = try? ImageFile.decode(hostileProgressive) }
        try time("568 scans, \(width)x\(height) photo, refused") { _ = try? ImageFile.decode(photoScans) }
        try time("568 scans, \(width)x\(height) photo, allowed") { _ = try JPEGCodec(maxScans: 1_000, maxPasses: 1_000).decode(photoScans) }
        try time("568 scans, flat 7000x7000 (\(flatScans.count / 1_000) KB), refused") { _ = try? ImageFile.decode(flatScans) }
        try time("... refused at 500 scans, no pass limit") { _ = try? JPEGCodec(maxPasses: 1_000).decode(flatScans) }
        try time("terminal render of the preview, 80x24") { _ = TerminalImage.render(preview, columns: 80, rows: 24) }

        let folder = NSTemporaryDirectory() + "photocloud-bench-image-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        for (name, bytes) in [("photo.jpg", jpeg), ("progressive.jpg", progressive), ("photo.png", png),
                              ("hostile-header.jpg", hostileHeader), ("hostile-progressive.jpg", hostileProgressive),
                              ("hostile-scans.jpg", flatScans)] {
            try FileBytes.writeAtomically(bytes, to: folder + "/" + name)
        }
        var memory: [Memory] = []
        var readOnly = 0
        for memoryCase in MemoryCase.allCases {
            progress("peak memory: \(memoryCase.rawValue)")
            let (kib, outcome) = try inChild(memoryCase, folder + "/" + memoryCase.file)
            if memoryCase == .readOnly { readOnly = kib }
            memory.append(Memory(name: memoryCase.rawValue, peak_rss_mib: Double(kib) / 1_024,
                                 above_read_only_mib: Double(kib - readOnly) / 1_024, outcome: outcome))
        }
        return Result(cover: coverName, width: photo.width, height: photo.height, repeats: max(1, repeats),
                      jpeg_bytes: jpeg.count, progressive_jpeg_bytes: progressive.count, png_bytes: png.count,
                      timings: timings, memory: memory)
    }

    /// One memory case on `path`, in this process: returns its peak RSS (KiB) and what happened.
    public static func measure(_ memoryCase: MemoryCase, input path: String) throws -> (kib: Int, outcome: String) {
        let bytes = try FileBytes.read(path)
        var outcome = "read \(bytes.count) bytes"
        do {
            switch memoryCase {
            case .readOnly: break
            case .jpegDecode, .progressiveDecode, .pngDecode, .hostileHeader, .hostileProgressive, .hostileScans:
                let image = try ImageFile.decode(bytes)
                outcome = "decoded \(image.width)x\(image.height)"
            case .jpegPreview, .progressivePreview, .pngPreview:
                let image = try Preview.make(from: bytes)
                outcome = "preview \(image.width)x\(image.height)"
            }
        } catch {
            outcome = "refused: \(error.message)"
        }
        return (peakResidentKiB(), outcome)
    }

    /// The process's peak resident set (VmHWM in /proc/self/status). Not
    /// getrusage's ru_maxrss: Linux carries that over from the parent.
    static func peakResidentKiB() -> Int { PeakMemory.kibibytes(of: "self") }

    /// `jpeg` with its frame header claiming `width` x `height`.
    static func forging(_ jpeg: [UInt8], width: Int, height: Int) -> [UInt8] {
        var at = 2
        var forged = jpeg
        while at + 9 <= jpeg.count, jpeg[at] == 0xFF {
            let marker = jpeg[at + 1]
            if (0xC0...0xCF).contains(marker), ![0xC4, 0xC8, 0xCC].contains(marker) {
                forged[at + 5] = UInt8(height >> 8)
                forged[at + 6] = UInt8(height & 0xFF)
                forged[at + 7] = UInt8(width >> 8)
                forged[at + 8] = UInt8(width & 0xFF)
                return forged
            }
            at += 2 + (Int(jpeg[at + 2]) << 8 | Int(jpeg[at + 3]))
        }
        return forged
    }

    /// A real photograph scaled to width x height with mild sensor-like noise,
    /// so it compresses like a camera's picture rather than a smooth upscale.
    private func makePhoto() throws -> (RGBAImage, String) {
        let candidates = [coverPath, "Fixtures/covers/hubble_deep_field.png"].compactMap { $0 }
        guard let path = candidates.first(where: { FileManager.default.fileExists(atPath: $0) }) else {
            throw PNGError(.io, "no photo: pass --cover FILE (run from the repository to use Fixtures/covers)")
        }
        let photo = try ImageFile.decode(file: path)
        var pixels = try CoverScaling.resize(photo.pixels, width: photo.width, height: photo.height, to: width, height)
        var random = SeededRandom(seed: 77)
        for index in pixels.indices where index & 3 != 3 {
            pixels[index] = UInt8(clamping: Int(pixels[index]) + Int(random.next() % 7) - 3)
        }
        return (try RGBAImage(width: width, height: height, pixels: pixels), path)
    }
}
