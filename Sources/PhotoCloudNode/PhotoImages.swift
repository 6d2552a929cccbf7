import PNGCodec
import PhotoCloudProtocol

/// Photos as files: which are photos, and their previews.
enum PhotoImages {
    static let previewSide = 256

    static func isPhoto(_ file: [UInt8]) -> Bool {
        (try? PNGCodec().dimensions(of: file)) != nil
    }

    static func decode(_ file: [UInt8]) throws -> RGBAImage { try PNGCodec().decode(file) }

    /// A PNG preview of `file` whose longest side is at most 256 pixels.
    static func previewPNG(of file: [UInt8]) throws -> [UInt8] {
        let codec = PNGCodec()
        let image = try codec.decode(file)
        let scale = max(1, (max(image.width, image.height) + previewSide - 1) / previewSide)
        let width = max(1, image.width / scale), height = max(1, image.height / scale)
        var small = try RGBAImage(width: width, height: height)
        for y in 0..<height {
            for x in 0..<width {
                let from = ((y * scale) * image.width + x * scale) * 4, to = (y * width + x) * 4
                for c in 0..<4 { small.pixels[to + c] = image.pixels[from + c] }
            }
        }
        return try codec.encode(small)
    }
}

/// Images drawn in a terminal: truecolor half blocks, two pixel rows a line.
enum TerminalDrawing {
    static func lines(_ image: RGBAImage, columns: Int, rows: Int) -> [String] {
        let scale = max(Double(image.width) / Double(columns), Double(image.height) / Double(rows * 2), 1)
        let width = max(1, Int(Double(image.width) / scale)), height = max(2, Int(Double(image.height) / scale))
        var lines: [String] = []
        for row in stride(from: 0, to: height - 1, by: 2) {
            var line = ""
            for column in 0..<width {
                let x = min(image.width - 1, Int(Double(column) * scale))
                let top = image[x, min(image.height - 1, Int(Double(row) * scale))]
                let bottom = image[x, min(image.height - 1, Int(Double(row + 1) * scale))]
                line += "\u{1B}[38;2;\(top.r);\(top.g);\(top.b)m\u{1B}[48;2;\(bottom.r);\(bottom.g);\(bottom.b)m\u{2580}"
            }
            lines.append(line + "\u{1B}[0m")
        }
        return lines
    }
}
