import Crypto
import Foundation
import PNGCodec
import PhotoCloudProtocol
import Steganography
import Synchronization

/// The cover photos a server hides payloads in, decoded once, each kept at
/// its own size and at every halving down to `smallestSide` pixels.
///
/// A request gets a cover chosen from its request id, scaled to the smallest
/// size (its width a multiple of `widthStep`) that the payload fills at most
/// half of: a cover no larger than needed keeps embedding, encoding, the
/// transfer and the client's check cheap (a 14.5 KB photo in a 512x512 cover
/// took a third of the pixels a halving step leaves), and half keeps the
/// changes sparse. It is made from the nearest halving at or above that size
/// (bilinear from there: never a large step down), and the sizes made lately
/// are kept (`cacheEntries`, each at most `cacheablePixels`), so requests of
/// similar sizes do not scale anew. The choice depends only on the request
/// and the library, so every server of a cluster with the same covers gives a
/// retried request the same answer.
public final class CoverLibrary: Sendable {
    public struct Cover: Sendable {
        public let name: String
        /// Largest first: the original, then each halving.
        let sizes: [RGBAImage]
    }

    public let covers: [Cover]
    /// A payload fills at most this share of the chosen cover's capacity.
    public static let fill = 0.5
    static let smallestSide = 16
    /// Cover widths are multiples of this (fewer distinct sizes to make).
    static let widthStep = 8
    static let cacheEntries = 32
    static let cacheablePixels = 512 * 1024
    private struct SizeKey: Hashable, Sendable { var cover: Int, width: Int, height: Int }
    private let made = Mutex(BoundedMap<SizeKey, RGBAImage>(capacity: CoverLibrary.cacheEntries))
    /// Pixels a cover scaled up for a payload may have at most.
    public static let maxPixels = 40_000_000

    public init(images: [(name: String, image: RGBAImage)]) throws {
        guard !images.isEmpty else { throw NodeError(.io, "a cover library needs at least one cover") }
        covers = try images.map { Cover(name: $0.name, sizes: try Self.halvings(of: $0.image)) }
    }

    /// Every PNG in `directory`, in name order.
    public convenience init(directory: String, codec: PNGCodec = PNGCodec()) throws {
        let names: [String]
        do {
            names = try FileManager.default.contentsOfDirectory(atPath: directory).filter { $0.lowercased().hasSuffix(".png") }.sorted()
        } catch {
            throw NodeError(.io, "cannot read the cover folder \(directory): \(error.localizedDescription)")
        }
        guard !names.isEmpty else { throw NodeError(.io, "the cover folder \(directory) has no PNG files") }
        var images: [(String, RGBAImage)] = []
        for name in names {
            let path = (directory as NSString).appendingPathComponent(name)
            do { images.append((name, try codec.decode(file: path))) } catch {
                throw NodeError(.io, "cover \(path) cannot be used: \(error.message)")
            }
        }
        try self.init(images: images)
    }

    /// The built-in covers: `count` synthetic 512x512 photographs (soft light,
    /// shapes, grain), the same on every machine.
    public static func builtIn(count: Int = 4) throws -> CoverLibrary {
        try CoverLibrary(images: (0..<count).map { ("built-in-\($0 + 1)", try SyntheticCover.make(seed: UInt64($0 + 1), width: 512, height: 512)) })
    }

    /// The fewest bits per colour channel (1-3) at which a payload of
    /// `payloadBytes` fits the largest cover a server makes (filling at most
    /// `fill` of it, with a tenth to spare for a cover's aspect ratio); nil
    /// if it fits at none. Fewer bits change the cover less; more make a
    /// large photo's cover (and its transfer) smaller.
    public static func bitsPerChannel(forPayload payloadBytes: Int) -> Int? {
        let wanted = Int((Double(payloadBytes) / fill).rounded(.up))
        return Steganographer.bitsRange.first { Steganographer.pixelsNeeded(payloadBytes: wanted, bitsPerChannel: $0) <= maxPixels * 9 / 10 }
    }

    /// The largest payload `bitsPerChannel(forPayload:)` finds a cover for.
    public static var largestPayload: Int {
        Int(Double(Steganographer.capacity(width: 6_000, height: 6_000, bitsPerChannel: Steganographer.bitsRange.upperBound)) * fill)
    }

    /// The cover image a request's payload is hidden in.
    public func cover(for request: RequestID, payloadBytes: Int, bitsPerChannel: Int) throws -> (name: String, image: RGBAImage) {
        let index = AnswerDerivation.coverIndex(for: request, covers: covers.count)
        let cover = covers[index]
        let wanted = Int((Double(payloadBytes) / Self.fill).rounded(.up))
        let full = cover.sizes[0]
        let size = CoverScaling.smallestSize(payloadBytes: wanted, width: full.width, height: full.height, bitsPerChannel: bitsPerChannel,
                                             widthStep: Self.widthStep, minimumSide: Self.smallestSide)
        guard size.width * size.height <= Self.maxPixels else {
            throw NodeError(.io, "a payload of \(payloadBytes) bytes needs a cover of \(size.width)x\(size.height), more than this server makes (\(Self.maxPixels) pixels)")
        }
        if let exact = cover.sizes.first(where: { $0.width == size.width && $0.height == size.height }) { return (cover.name, exact) }
        let key = SizeKey(cover: index, width: size.width, height: size.height)
        if let cached = made.withLock({ $0[key] }) { return (cover.name, cached) }
        // From the smallest kept size at or above the target (the original when the target is larger).
        let source = cover.sizes.last { $0.width >= size.width && $0.height >= size.height } ?? full
        let pixels = try CoverScaling.resize(source.pixels, width: source.width, height: source.height, to: size.width, size.height)
        let image = try RGBAImage(width: size.width, height: size.height, pixels: pixels)
        if size.width * size.height <= Self.cacheablePixels { made.withLock { $0[key] = image } }
        return (cover.name, image)
    }

    private static func halvings(of image: RGBAImage) throws -> [RGBAImage] {
        var sizes = [image]
        while let last = sizes.last, last.width / 2 >= smallestSide, last.height / 2 >= smallestSide {
            let pixels = try CoverScaling.resize(last.pixels, width: last.width, height: last.height, to: last.width / 2, last.height / 2)
            sizes.append(try RGBAImage(width: last.width / 2, height: last.height / 2, pixels: pixels))
        }
        return sizes
    }
}

/// Photograph-like covers made from a seed: a lit gradient, soft discs and
/// sensor grain (flat colour would make hidden changes stand out).
enum SyntheticCover {
    static func make(seed: UInt64, width: Int, height: Int) throws -> RGBAImage {
        var state = seed &* 0x9E37_79B9_7F4A_7C15 | 1
        func next() -> UInt64 {
            state ^= state << 13; state ^= state >> 7; state ^= state << 17
            return state
        }
        func unit() -> Double { Double(next() >> 11) / Double(1 << 53) }
        let base = (0..<3).map { _ in 60 + unit() * 120 }
        let tilt = (0..<3).map { _ in (unit() - 0.5) * 120 }
        let discs = (0..<12).map { _ in
            let x = unit() * Double(width), y = unit() * Double(height), r = (0.05 + unit() * 0.25) * Double(width)
            let colour = ((unit() - 0.5) * 140, (unit() - 0.5) * 140, (unit() - 0.5) * 140)
            return (x: x, y: y, r: r, r2: r * r * 1.000_001, colour: colour)
        }
        var pixels = [UInt8](repeating: 255, count: width * height * 4)
        // The same sums in the same order as a per-pixel array of three would give (the servers of one cloud must
        // draw the same covers), kept in three scalars: no allocation a pixel.
        for y in 0..<height {
            for x in 0..<width {
                let fx = Double(x) / Double(width), fy = Double(y) / Double(height)
                var r = base[0] + tilt[0] * (fx + fy) / 2, g = base[1] + tilt[1] * (fx + fy) / 2, b = base[2] + tilt[2] * (fx + fy) / 2
                for disc in discs {
                    let dx = Double(x) - disc.x, dy = Double(y) - disc.y
                    // Clearly outside the disc: its weight is 0 (the margin leaves the edge to the exact test below).
                    if dx * dx + dy * dy > disc.r2 { continue }
                    let weight = max(0, 1 - (dx * dx + dy * dy).squareRoot() / disc.r)
                    if weight > 0 {
                        r += disc.colour.0 * weight * weight
                        g += disc.colour.1 * weight * weight
                        b += disc.colour.2 * weight * weight
                    }
                }
                let grain = Double(Int(next() % 9) - 4)
                let offset = (y * width + x) * 4
                pixels[offset] = UInt8(clamping: Int((r + grain).rounded()))
                pixels[offset + 1] = UInt8(clamping: Int((g + grain).rounded()))
                pixels[offset + 2] = UInt8(clamping: Int((b + grain).rounded()))
            }
        }
        return try RGBAImage(width: width, height: height, pixels: pixels)
    }
}

/// A synthetic photograph as a PNG (benchmarks' "small photo" workload).
public enum SyntheticPhoto {
    public static func png(seed: UInt64, width: Int, height: Int) throws -> [UInt8] {
        try PNGCodec().encode(SyntheticCover.make(seed: seed, width: width, height: height))
    }
}

/// Where a server's covers come from: a library loaded already (a cover
/// folder, checked at start), or built on first use (the built-in covers, so
/// that a restarted server is back in the ring before they are drawn: a debug
/// build takes seconds to draw them). Embedding threads wait for the build.
public final class CoverSource: Sendable {
    private let state: Mutex<Result<CoverLibrary, NodeError>?>
    private let load: @Sendable () throws -> CoverLibrary

    public init(_ library: CoverLibrary) {
        state = Mutex(.success(library))
        load = { library }
    }

    public init(loading load: @escaping @Sendable () throws -> CoverLibrary) {
        state = Mutex(nil)
        self.load = load
    }

    /// The built-in covers, drawn on first use.
    public static func builtIn(count: Int = 4) -> CoverSource { CoverSource { try CoverLibrary.builtIn(count: count) } }

    /// The library (built now if it was not yet; callers wait for one build).
    public func library() throws -> CoverLibrary {
        try state.withLock { state in
            if state == nil {
                do { state = .success(try load()) } catch {
                    state = .failure((error as? NodeError) ?? NodeError(.io, "cannot make the covers: \(error)"))
                }
            }
            return try state!.get()
        }
    }
}
