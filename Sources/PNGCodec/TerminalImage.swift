#if canImport(Glibc)
import Glibc
#endif

/// Pictures in a truecolor terminal: each character cell shows two pixels,
/// one above the other, as the upper half block '▀' (U+2580) in the upper
/// pixel's colour on the lower pixel's colour (24-bit ANSI escapes). A cell is
/// about twice as tall as wide, so the two halves are about square.
public enum TerminalImage {
    static let escape = "\u{1B}["
    static let upperHalf = "\u{2580}"

    /// The pixel size an image of `width` x `height` is shown at in `columns`
    /// x `rows` cells (`columns` x 2`rows` pixels): its aspect ratio kept, the
    /// limiting side filled, the other rounded to the nearest pixel (at least
    /// 1); an image that fits keeps its size, nothing is enlarged.
    public static func fittedSize(width: Int, height: Int, columns: Int, rows: Int) -> (width: Int, height: Int) {
        let boxWidth = max(columns, 1), boxHeight = max(rows, 1) * 2
        guard width > boxWidth || height > boxHeight else { return (width, height) }
        if width * boxHeight >= height * boxWidth {   // the width limits
            return (boxWidth, max(1, (height * boxWidth * 2 + width) / (width * 2)))
        }
        return (max(1, (width * boxHeight * 2 + height) / (height * 2)), boxHeight)
    }

    /// The image fitted into `columns` x `rows` cells (area averaging when it
    /// is larger) as lines of half blocks. Each cell sets its foreground to the
    /// upper pixel (`ESC[38;2;R;G;Bm`) and its background to the lower one
    /// (`ESC[48;2;R;G;Bm`); a last pixel row without a partner sets only the
    /// foreground. Every line ends with a reset (`ESC[0m`) and a newline.
    /// Transparent pixels are composited over black. Empty for fewer than one
    /// column or row.
    public static func render(_ image: RGBAImage, columns: Int, rows: Int) -> String {
        guard columns >= 1, rows >= 1 else { return "" }
        let size = fittedSize(width: image.width, height: image.height, columns: columns, rows: rows)
        guard let shown = try? image.downsized(width: size.width, height: size.height) else { return "" }
        var text = ""
        text.reserveCapacity(shown.width * ((shown.height + 1) / 2) * 40)
        for top in stride(from: 0, to: shown.height, by: 2) {
            for x in 0..<shown.width {
                text += colour(shown, x: x, y: top, code: 38)
                if top + 1 < shown.height { text += colour(shown, x: x, y: top + 1, code: 48) }
                text += upperHalf
            }
            text += escape + "0m\n"
        }
        return text
    }

    /// `ESC[38;2;R;G;Bm` (code 38, foreground) or `ESC[48;2;...m` (48, background)
    /// for the pixel at (x, y), its alpha composited over black.
    static func colour(_ image: RGBAImage, x: Int, y: Int, code: Int) -> String {
        let pixel = image[x, y]
        let alpha = Int(pixel.a)
        let over = { (channel: UInt8) in (Int(channel) * alpha + 127) / 255 }
        return "\(escape)\(code);2;\(over(pixel.r));\(over(pixel.g));\(over(pixel.b))m"
    }

    /// The size of the terminal `descriptor` (standard output by default) is
    /// showing, from ioctl TIOCGWINSZ; 80 x 24 when it is no terminal or says 0.
    public static func terminalSize(descriptor: Int32 = STDOUT_FILENO) -> (columns: Int, rows: Int) {
        var size = winsize()
        guard ioctl(descriptor, UInt(TIOCGWINSZ), &size) == 0, size.ws_col > 0, size.ws_row > 0 else { return (80, 24) }
        return (Int(size.ws_col), Int(size.ws_row))
    }
}
