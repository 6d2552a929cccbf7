import Foundation
import PNGCodec
import PhotoCloudTestKit
import Testing

/// PNG or JPEG told apart by their first bytes, decoded alike.
@Suite("Image files")
struct ImageFileTests {
    static func png() throws -> [UInt8] { try PNGCodec().encode(PhotoFixtures.photo(width: 40, height: 30)) }
    static func jpeg() throws -> [UInt8] { try JPEGEncoder().encode(PhotoFixtures.photo(width: 40, height: 30)) }

    @Test func sniffsFormats() throws {
        #expect(ImageFile.format(of: try Self.png()) == .png)
        #expect(ImageFile.format(of: try Self.jpeg()) == .jpeg)
        #expect(ImageFile.format(of: []) == nil)
        #expect(ImageFile.format(of: Array("GIF89a and so on".utf8)) == nil)
        #expect(ImageFile.format(of: [0xFF, 0xD8]) == nil)   // too short to tell
        #expect(ImageFile.format(of: Array(try Self.png().prefix(7))) == nil)
        #expect(ImageFile.format(of: Array(try Self.jpeg().prefix(3))) == .jpeg)
    }

    @Test("neither PNG nor JPEG is a clear notImage error", arguments: [[], Array("<html>hello</html>".utf8), [0x00], [0x47, 0x49, 0x46, 0x38, 0x39, 0x61]])
    func notAPhoto(bytes: [UInt8]) {
        let notImage = { (error: any Error) in
            let error = error as? PNGError
            return error?.code == .notImage && error?.message.contains(bytes.isEmpty ? "empty" : "neither PNG nor JPEG") == true
        }
        #expect { try ImageFile.decode(bytes) } throws: { notImage($0) }
        #expect { try ImageFile.dimensions(of: bytes) } throws: { notImage($0) }
        #expect { try Preview.make(from: bytes) } throws: { notImage($0) }
    }

    @Test func decodesBoth() throws {
        let photo = try PhotoFixtures.photo(width: 40, height: 30)
        #expect(try ImageFile.decode(Self.png()) == photo)
        let fromJPEG = try ImageFile.decode(Self.jpeg())
        #expect(fromJPEG.width == 40 && fromJPEG.height == 30)
        #expect(PhotoFixtures.psnr(fromJPEG, photo) > 30)
        #expect(try ImageFile.dimensions(of: Self.png()) == (40, 30))
        #expect(try ImageFile.dimensions(of: Self.jpeg()) == (40, 30))
    }

    @Test("the pixel limit applies to both formats", arguments: [ImageFormat.png, .jpeg])
    func limitApplies(format: ImageFormat) throws {
        let bytes = try format == .png ? Self.png() : Self.jpeg()
        #expect { try ImageFile.decode(bytes, maxPixels: 40 * 30 - 1) } throws: { ($0 as? PNGError)?.code == .tooLarge }
        #expect { try ImageFile.dimensions(of: bytes, maxPixels: 100) } throws: { ($0 as? PNGError)?.code == .tooLarge }
        #expect(try ImageFile.decode(bytes, maxPixels: 40 * 30).width == 40)
    }

    @Test func decodesFilesNamingThemInErrors() async throws {
        let jpeg = try Self.jpeg()
        try await withTemporaryFolder { folder in
            let good = folder + "/photo.jpg", bad = folder + "/notes.txt"
            #expect(FileManager.default.createFile(atPath: good, contents: Data(jpeg)))
            #expect(FileManager.default.createFile(atPath: bad, contents: Data("hello".utf8)))
            let image = try ImageFile.decode(file: good)
            #expect(image.width == 40)
            #expect { try ImageFile.decode(file: bad) } throws: { error in
                (error as? PNGError)?.code == .notImage && (error as? PNGError)?.message.hasPrefix(bad) == true
            }
        }
    }
}
