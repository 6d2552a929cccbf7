/// Two classic detectors a warden could run on an image suspected of hiding
/// something in its low bits, so that photocloud can measure what its own
/// embedding shows to them (`photocloud bench bits`, docs/steganography.md).
/// They answer different questions:
///
/// - `chiSquare` (Westfeld and Pfitzmann, "Attacks on Steganographic
///   Systems", 1999) detects LSB *replacement*. Overwriting low bits with
///   random message bits makes the two values of each pair (2i, 2i + 1)
///   equally frequent; natural images have no such equality. photocloud
///   does not replace (it matches, ±1), so this detector should stay quiet on
///   its images; it is here to show that, and as the reference a replacing
///   tool fails.
/// - `calibratedHCF` (Harmsen and Pearlman's histogram characteristic
///   function, calibrated as in Ker, "Steganalysis of LSB matching in
///   grayscale images", 2005) is aimed at LSB *matching*, which is what
///   photocloud does: adding ±1 at random smooths the histogram, which damps
///   the high frequencies of its Fourier transform.
///
/// All of it is pure and total: RGBA8 buffers, alpha ignored, the three colour
/// channels as samples; an empty or tiny image gives a defined answer rather
/// than a trap. Neither detector is a proof of anything: each measures one
/// statistical trace, and a figure that does not flag an image only says this
/// detector does not see this embedding in this image.
public enum Steganalysis {
    /// The outcome of the chi-square attack on one set of samples.
    public struct ChiSquare: Sendable, Equatable {
        /// Westfeld and Pfitzmann's statistic: the sum over pairs of values of
        /// (n(2i) - e)^2 / e with e = (n(2i) + n(2i + 1)) / 2.
        public let statistic: Double
        /// Pairs with an expected count of at least `minimumExpected`, less one.
        public let degreesOfFreedom: Int
        /// The probability of embedding as the attack defines it: the chance
        /// that a chi-square variable with these degrees of freedom exceeds the
        /// statistic. Near 1: the pairs are as equal as random replacement of
        /// every low bit makes them. Near 0: they are as unequal as in a natural
        /// image. 0 when there are too few samples to test (fewer than two pairs).
        public let probability: Double
    }

    /// The chi-square attack at one prefix of the image in scan order.
    public struct PrefixChiSquare: Sendable, Equatable {
        /// The share of the image's colour samples looked at, in (0, 1].
        public let share: Double
        public let result: ChiSquare
    }

    /// Pairs whose expected count is below this are left out (Pearson's rule
    /// of thumb: the chi-square approximation needs about 5 per category).
    public static let minimumExpected = 5.0

    /// The chi-square attack on every colour sample of an RGBA8 buffer (a
    /// trailing partial pixel is ignored).
    public static func chiSquare(_ pixels: [UInt8]) -> ChiSquare {
        chiSquare(histogram: colourHistogram(pixels))
    }

    /// The chi-square attack on a histogram of 8-bit values (256 counts; a
    /// shorter one is read as padded with zeros, a longer one is cut at 256).
    public static func chiSquare(histogram: [Int]) -> ChiSquare {
        var statistic = 0.0
        var categories = 0
        for pair in 0..<128 {
            let even = Double(pair * 2 < histogram.count ? max(0, histogram[pair * 2]) : 0)
            let odd = Double(pair * 2 + 1 < histogram.count ? max(0, histogram[pair * 2 + 1]) : 0)
            let expected = (even + odd) / 2
            guard expected >= minimumExpected else { continue }
            statistic += (even - expected) * (even - expected) / expected
            categories += 1
        }
        let freedom = max(0, categories - 1)
        return ChiSquare(statistic: statistic, degreesOfFreedom: freedom,
                         probability: ChiSquareDistribution.upperTail(statistic, degreesOfFreedom: freedom))
    }

    /// The attack as Westfeld and Pfitzmann plot it: on growing prefixes of
    /// the image in scan order (1/steps of the colour samples, 2/steps, ...,
    /// all). A tool that writes its message from the top shows a high
    /// probability up to where the message ends and a falling one after. The
    /// attacker cannot follow photocloud's keyed order without the key, and
    /// the keyed order spreads the payload evenly, so every prefix carries
    /// the same share of changes. `steps` is clamped to 1...1000.
    public static func chiSquareProfile(_ pixels: [UInt8], steps: Int = 10) -> [PrefixChiSquare] {
        let steps = min(1_000, max(1, steps))
        let total = pixels.count / 4 * 3
        var histogram = [Int](repeating: 0, count: 256)
        var counted = 0
        var profile: [PrefixChiSquare] = []
        profile.reserveCapacity(steps)
        pixels.withUnsafeBufferPointer { pixels in
            for step in 1...steps {
                let end = total * step / steps
                while counted < end {
                    histogram[Int(pixels[counted / 3 * 4 + counted % 3])] += 1
                    counted += 1
                }
                profile.append(PrefixChiSquare(share: Double(step) / Double(steps), result: chiSquare(histogram: histogram)))
            }
        }
        return profile
    }

    /// Counts of each value over the colour samples (R, G and B of every whole
    /// pixel) of an RGBA8 buffer.
    static func colourHistogram(_ pixels: [UInt8]) -> [Int] {
        var histogram = [Int](repeating: 0, count: 256)
        let pixelCount = pixels.count / 4
        pixels.withUnsafeBufferPointer { pixels in
            histogram.withUnsafeMutableBufferPointer { histogram in
                for pixel in 0..<pixelCount {
                    let offset = pixel &* 4
                    histogram[Int(pixels[offset])] &+= 1
                    histogram[Int(pixels[offset &+ 1])] &+= 1
                    histogram[Int(pixels[offset &+ 2])] &+= 1
                }
            }
        }
        return histogram
    }
}
