import FuzzChecks
import PhotoCloudTestKit
import Testing

/// The PNG fuzz target's seeds and findings (Fuzz/corpus/png,
/// Fuzz/regressions/png; docs/fuzzing.md), replayed through its check.
@Suite("PNG fuzz regressions")
struct PNGFuzzRegressionTests {
    @Test func thePNGSeedFolderIsFoundAndNotEmpty() {
        #expect(FuzzInputs.all("png").count >= 5, "no inputs under \(FuzzInputs.folder.path)/{corpus,regressions}/png")
    }

    @Test("a saved PNG input decodes within the memory plan to libpng's pixels, or decode and dimensions refuse it alike",
          arguments: FuzzInputs.all("png"))
    func png(_ input: FuzzInput) {
        #expect(throws: Never.self) { try PNGFuzzCheck.check(input.bytes, reference: LibpngReference.decode) }
    }
}
