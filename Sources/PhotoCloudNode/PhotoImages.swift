import PNGCodec
import PhotoCloudProtocol

/// Photos as files (PNG or JPEG, their bytes never changed): which files are
/// photos, their previews, and how they look in a terminal.
enum PhotoImages {
    /// A photo is a PNG or JPEG whose header reads and whose size is within the decode limit.
    static func isPhoto(_ file: [UInt8]) -> Bool {
        (try? ImageFile.dimensions(of: file)) != nil
    }

    /// A PNG preview whose longest side is at most 256 pixels (a large JPEG is never decoded whole).
    static func previewPNG(of file: [UInt8]) throws -> [UInt8] {
        try Preview.previewPNG(from: file)
    }

    static func decode(_ file: [UInt8]) throws -> RGBAImage { try ImageFile.decode(file) }
}

/// Images drawn in a terminal: truecolor half blocks, two pixel rows a line.
enum TerminalDrawing {
    static func lines(_ image: RGBAImage, columns: Int, rows: Int) -> [String] {
        TerminalImage.render(image, columns: columns, rows: rows).split(separator: "\n", omittingEmptySubsequences: true).map(String.init)
    }
}
