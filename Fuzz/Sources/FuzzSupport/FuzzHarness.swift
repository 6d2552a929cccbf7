#if canImport(Glibc)
import Glibc
#endif
import FuzzChecks

/// libFuzzer's driver, which `-sanitize=fuzzer` links in.
@_silgen_name("LLVMFuzzerRunDriver")
func LLVMFuzzerRunDriver(
    _ argc: UnsafeMutablePointer<CInt>, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>,
    _ testOneInput: @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt
) -> CInt

/// What every fuzz target shares: running a check on one input, and the
/// program's entry point.
///
/// SwiftPM links an executable with `main` defined as `<Module>_main`, which
/// `-parse-as-library` leaves undefined, so each target defines that symbol
/// (with `@_cdecl`) and calls `main` here, which hands the arguments to
/// libFuzzer's driver; or, with `--write-seeds FOLDER`, writes the target's
/// seed inputs there instead.
public enum FuzzHarness {
    /// Runs `check` on the input; a violation stops the process (a crash libFuzzer saves).
    public static func run(_ data: UnsafePointer<UInt8>?, _ size: Int, _ check: ([UInt8]) throws(FuzzViolation) -> Void) -> CInt {
        let input = data.map { Array(UnsafeBufferPointer(start: $0, count: size)) } ?? []
        do {
            try check(input)
        } catch {
            fatalError("fuzz check failed (\(error.code)): \(error)")
        }
        return 0
    }

    public static func main(
        _ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?,
        testOneInput: @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt, seeds: () -> [(name: String, bytes: [UInt8])]
    ) -> CInt {
        if argc == 3, let argv, let flag = argv[1], String(cString: flag) == "--write-seeds", let folder = argv[2] {
            return write(seeds(), to: String(cString: folder))
        }
        var count = argc
        var vector = argv
        return LLVMFuzzerRunDriver(&count, &vector, testOneInput)
    }

    /// Writes each seed to `folder/name` (the folder must exist).
    static func write(_ seeds: [(name: String, bytes: [UInt8])], to folder: String) -> CInt {
        for seed in seeds {
            let path = folder + "/" + seed.name
            guard let file = fopen(path, "wb") else {
                print("cannot write \(path)")
                return 1
            }
            let written = seed.bytes.withUnsafeBytes { fwrite($0.baseAddress, 1, $0.count, file) }
            fclose(file)
            guard written == seed.bytes.count else {
                print("cannot write \(path)")
                return 1
            }
        }
        print("wrote \(seeds.count) seeds to \(folder)")
        return 0
    }
}
