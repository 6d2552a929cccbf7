/// How much embedding changed an image.
public enum ImageQuality {
    /// Peak signal-to-noise ratio over the colour channels (alpha ignored), in dB;
    /// infinity for identical images.
    public static func psnr(_ a: [UInt8], _ b: [UInt8]) -> Double {
        precondition(a.count == b.count && a.count % 4 == 0, "PSNR compares RGBA buffers of one size")
        var squared = 0
        a.withUnsafeBufferPointer { a in
            b.withUnsafeBufferPointer { b in
                for index in 0..<a.count where index & 3 != 3 {
                    let difference = Int(a[index]) - Int(b[index])
                    squared += difference * difference
                }
            }
        }
        guard squared > 0 else { return .infinity }
        let mse = Double(squared) / Double(a.count / 4 * 3)
        return 10 * log10(255 * 255 / mse)
    }
}

#if canImport(Glibc)
import Glibc
#endif
