#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

extension Steganalysis {
    /// The histogram characteristic function's centre of mass for each colour
    /// channel of an image and of the same image downsampled 2x2, and their
    /// ratios: Ker's calibrated detector for LSB matching (2005), per channel.
    ///
    /// Why it works: adding ±1 at random to a share of the samples convolves
    /// the histogram with a small kernel, a low-pass filter, so the magnitudes
    /// of its discrete Fourier transform (the HCF) fall, and fall most at high
    /// frequencies; their centre of mass moves down. Harmsen and Pearlman
    /// compared that centre of mass with a threshold, which fails on
    /// grayscale photographs because covers differ more among themselves than
    /// embedding moves them. Ker calibrated it against the image averaged over
    /// 2x2 blocks: averaging four samples divides the embedding noise's
    /// variance by four and keeps the picture's content, so it stands in for
    /// the cover. A cover gives a ratio near its own typical value, a stego
    /// image a lower one. How much lower, for a given cover and payload, is
    /// the figure the bench reports; whether that is detectable depends on
    /// how widely the ratio varies among covers, which no single image shows.
    public struct CalibratedHCF: Sendable, Equatable {
        /// Centre of mass of the HCF of the R, G and B histograms.
        public let centreOfMass: [Double]
        /// The same for the image downsampled 2x2 (each sample the floor of
        /// the mean of a 2x2 block; a last odd row or column is dropped).
        public let downsampledCentreOfMass: [Double]
        /// centreOfMass / downsampledCentreOfMass per channel; nil for a
        /// channel whose downsampled centre of mass is 0 (an image smaller
        /// than 2x2, or a perfectly even downsampled histogram).
        public let ratios: [Double?]

        /// The mean of the channels' ratios: the calibrated figure; nil if any
        /// channel has none.
        public var ratio: Double? {
            let known = ratios.compactMap { $0 }
            guard known.count == ratios.count, !known.isEmpty else { return nil }
            return known.reduce(0, +) / Double(known.count)
        }
    }

    /// The calibrated HCF of a width x height RGBA8 buffer (alpha ignored).
    /// Throws only for a buffer whose size does not match width x height.
    public static func calibratedHCF(_ pixels: [UInt8], width: Int, height: Int) throws(StegoError) -> CalibratedHCF {
        let (pixelCount, overflow) = width.multipliedReportingOverflow(by: height)
        guard width >= 0, height >= 0, !overflow, pixelCount <= Int.max / 4, pixels.count == pixelCount * 4 else {
            let needed = overflow || width < 0 || height < 0 || pixelCount > Int.max / 4 ? "width x height x 4" : "\(pixelCount * 4)"
            throw StegoError(.invalidArgument, "an RGBA buffer of \(width)x\(height) needs \(needed) bytes, got \(pixels.count)")
        }
        let full = channelHistograms(pixels)
        let reduced = downsampledHistograms(pixels, width: width, height: height)
        let centres = full.map(centreOfMass(histogram:))
        let reducedCentres = reduced.map(centreOfMass(histogram:))
        let ratios = zip(centres, reducedCentres).map { $1 > 0 ? $0 / $1 : nil }
        return CalibratedHCF(centreOfMass: centres, downsampledCentreOfMass: reducedCentres, ratios: ratios)
    }

    /// Harmsen and Pearlman's centre of mass of the HCF of a histogram of
    /// 8-bit values (256 counts, shorter ones padded with zeros):
    /// sum of k |H(k)| / sum of |H(k)| over k = 0...128, where H is the
    /// histogram's discrete Fourier transform (only half of it: the rest
    /// mirrors it). Between 0 and 64: 64 for a single value (a flat image:
    /// every |H(k)| is equal), 0 for counts spread perfectly evenly over all
    /// 256 values (only H(0) is not 0); random noise lies in between, nearer
    /// 0 the more samples there are. 0 for an empty histogram.
    public static func centreOfMass(histogram: [Int]) -> Double {
        var weighted = 0.0, total = 0.0
        for k in 0...128 {
            var real = 0.0, imaginary = 0.0
            for value in 0..<min(256, histogram.count) where histogram[value] != 0 {
                let count = Double(histogram[value])
                let angle = (k * value) & 255
                real += count * Fourier.cosine[angle]
                imaginary -= count * Fourier.sine[angle]
            }
            let magnitude = (real * real + imaginary * imaginary).squareRoot()
            weighted += Double(k) * magnitude
            total += magnitude
        }
        return total > 0 ? weighted / total : 0
    }

    /// Histograms of R, G and B.
    static func channelHistograms(_ pixels: [UInt8]) -> [[Int]] {
        var counts = [Int](repeating: 0, count: 3 * 256)
        pixels.withUnsafeBufferPointer { pixels in
            counts.withUnsafeMutableBufferPointer { counts in
                for pixel in 0..<pixels.count / 4 {
                    let offset = pixel &* 4
                    counts[Int(pixels[offset])] &+= 1
                    counts[256 &+ Int(pixels[offset &+ 1])] &+= 1
                    counts[512 &+ Int(pixels[offset &+ 2])] &+= 1
                }
            }
        }
        return (0..<3).map { Array(counts[$0 * 256..<($0 + 1) * 256]) }
    }

    /// Histograms of R, G and B of the image averaged over 2x2 blocks (Ker's
    /// downsampling: the floor of the block's mean), without making the image.
    static func downsampledHistograms(_ pixels: [UInt8], width: Int, height: Int) -> [[Int]] {
        var counts = [Int](repeating: 0, count: 3 * 256)
        pixels.withUnsafeBufferPointer { pixels in
            counts.withUnsafeMutableBufferPointer { counts in
                let stride = width &* 4
                for y in 0..<height / 2 {
                    let top = 2 &* y &* stride, bottom = top &+ stride
                    for x in 0..<width / 2 {
                        let left = x &* 8
                        for channel in 0..<3 {
                            let a = top &+ left &+ channel, b = bottom &+ left &+ channel
                            let sum = Int(pixels[a]) &+ Int(pixels[a &+ 4]) &+ Int(pixels[b]) &+ Int(pixels[b &+ 4])
                            counts[channel &* 256 &+ sum >> 2] &+= 1
                        }
                    }
                }
            }
        }
        return (0..<3).map { Array(counts[$0 * 256..<($0 + 1) * 256]) }
    }

    /// cos and sin of 2 pi n / 256.
    private enum Fourier {
        static let cosine = (0..<256).map { cos(2 * Double.pi * Double($0) / 256) }
        static let sine = (0..<256).map { sin(2 * Double.pi * Double($0) / 256) }
    }
}
