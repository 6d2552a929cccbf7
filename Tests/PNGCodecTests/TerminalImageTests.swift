import PNGCodec
import Testing

/// Half-block truecolor rendering.
@Suite("Terminal images")
struct TerminalImageTests {
    static let esc = "\u{1B}["

    @Test func twoByTwo() throws {
        let image = try RGBAImage(width: 2, height: 2, pixels: [255, 0, 0, 255, 0, 255, 0, 255,
                                                              0, 0, 255, 255, 255, 255, 255, 255])
        let expected = "\(Self.esc)38;2;255;0;0m\(Self.esc)48;2;0;0;255m\u{2580}"
            + "\(Self.esc)38;2;0;255;0m\(Self.esc)48;2;255;255;255m\u{2580}"
            + "\(Self.esc)0m\n"
        #expect(TerminalImage.render(image, columns: 80, rows: 24) == expected)
    }

    @Test func oddHeightLastRowHasNoBackground() throws {
        let image = try RGBAImage(width: 1, height: 3, pixels: [1, 2, 3, 255, 4, 5, 6, 255, 7, 8, 9, 255])
        let expected = "\(Self.esc)38;2;1;2;3m\(Self.esc)48;2;4;5;6m\u{2580}\(Self.esc)0m\n"
            + "\(Self.esc)38;2;7;8;9m\u{2580}\(Self.esc)0m\n"
        #expect(TerminalImage.render(image, columns: 10, rows: 10) == expected)
    }

    @Test func transparencyOverBlack() throws {
        let image = try RGBAImage(width: 1, height: 1, pixels: [200, 100, 50, 128])
        #expect(TerminalImage.render(image, columns: 1, rows: 1) == "\(Self.esc)38;2;100;50;25m\u{2580}\(Self.esc)0m\n")
    }

    @Test("fitting keeps the aspect ratio in columns x twice the rows of pixels", arguments: [
        (4_000, 3_000, 80, 24, 64, 48), (3_000, 1_000, 80, 24, 80, 27), (2, 2, 80, 24, 2, 2), (100, 48, 80, 24, 80, 38), (5, 500, 80, 24, 1, 48),
    ])
    func fitting(width: Int, height: Int, columns: Int, rows: Int, expectedWidth: Int, expectedHeight: Int) {
        #expect(TerminalImage.fittedSize(width: width, height: height, columns: columns, rows: rows) == (expectedWidth, expectedHeight))
    }

    @Test func largeImageFillsItsBox() throws {
        let image = try PhotoFixtures.repeatedRow(PhotoFixtures.splitRow(width: 400, left: [255, 0, 0, 255], right: [0, 0, 255, 255]), height: 300)
        let text = TerminalImage.render(image, columns: 80, rows: 24)
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        #expect(lines.count == 25 && lines.last == "")   // 24 lines, each ending in a newline
        #expect(lines.dropLast().allSatisfy { $0.filter { $0 == "\u{2580}" }.count == 64 && $0.hasSuffix("\(Self.esc)0m") })
        #expect(lines[0].hasPrefix("\(Self.esc)38;2;255;0;0m\(Self.esc)48;2;255;0;0m"))
    }

    @Test func nothingForNoRoom() throws {
        let image = try RGBAImage(width: 3, height: 3)
        #expect(TerminalImage.render(image, columns: 0, rows: 5).isEmpty)
        #expect(TerminalImage.render(image, columns: 5, rows: 0).isEmpty)
    }

    @Test func terminalSizeFallsBack() {
        // The test runner's output is a pipe or a file: no terminal size, so 80 x 24.
        let size = TerminalImage.terminalSize(descriptor: -1)
        #expect(size.columns == 80 && size.rows == 24)
    }
}
