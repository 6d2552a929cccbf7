import PNGCodec
import Testing

/// Area averaging (`RGBAImage.downsized`): exact means, edges, alpha.
@Suite("Box filter")
struct BoxFilterTests {
    static func image(_ width: Int, _ height: Int, _ pixels: [[UInt8]]) throws -> RGBAImage {
        try RGBAImage(width: width, height: height, pixels: pixels.flatMap { $0 })
    }

    @Test func halvesIntoExactMeans() throws {
        let gray = { (value: UInt8) in [value, value, value, 255] }
        let source = try Self.image(4, 4, [
            gray(10), gray(20), gray(0), gray(0),
            gray(30), gray(40), gray(0), gray(3),
            gray(100), gray(100), gray(255), gray(255),
            gray(100), gray(101), gray(255), gray(254),
        ])
        let half = try source.downsized(width: 2, height: 2)
        #expect(half.pixels == [gray(25), gray(1), gray(100), gray(255)].flatMap { $0 })   // 0.75 -> 1, 100.25 -> 100, 254.75 -> 255
    }

    @Test func partialPixelsAtTheEdgesCountForTheirPart() throws {
        let gray = { (value: UInt8) in [value, value, value, 255] }
        let source = try Self.image(3, 1, [gray(0), gray(90), gray(180)])
        // Result pixel 0 covers source 0 and half of source 1; pixel 1 the other half and source 2.
        #expect(try source.downsized(width: 2, height: 1).pixels == [gray(30), gray(150)].flatMap { $0 })
        let column = try Self.image(1, 3, [gray(0), gray(90), gray(180)])
        #expect(try column.downsized(width: 1, height: 2).pixels == [gray(30), gray(150)].flatMap { $0 })
    }

    @Test("a uniform image stays uniform at every size", arguments: [(7, 5), (13, 11), (4_000, 3), (1, 1)])
    func uniformStaysUniform(width: Int, height: Int) throws {
        let colour: [UInt8] = [12, 200, 77, 255]
        let source = try PhotoFixtures.repeatedRow((0..<width).flatMap { _ in colour }, height: height)
        for (newWidth, newHeight) in [(1, 1), (max(1, width / 3), max(1, height / 2)), (width, max(1, height - 1))] {
            let shrunk = try source.downsized(width: newWidth, height: newHeight)
            #expect(shrunk.pixels == (0..<(newWidth * newHeight)).flatMap { _ in colour }, "\(newWidth)x\(newHeight)")
        }
    }

    @Test func transparentPixelsLendNoColour() throws {
        let source = try Self.image(2, 1, [[255, 0, 0, 255], [0, 0, 255, 0]])
        #expect(try source.downsized(width: 1, height: 1).pixels == [255, 0, 0, 128])
        let clear = try Self.image(2, 1, [[255, 0, 0, 0], [0, 0, 255, 0]])
        #expect(try clear.downsized(width: 1, height: 1).pixels == [0, 0, 0, 0])
    }

    @Test func enlargingIsRefused() throws {
        let source = try Self.image(2, 1, [[1, 2, 3, 4], [5, 6, 7, 8]])
        #expect { try source.downsized(width: 3, height: 1) } throws: { ($0 as? PNGError)?.code == .invalidImage }
        #expect { try source.downsized(width: 0, height: 1) } throws: { ($0 as? PNGError)?.code == .invalidImage }
        #expect(try source.downsized(width: 2, height: 1) == source)
    }
}
