import FuzzChecks
import FuzzSupport

// The `png` target: PNGCodec's decode and dimensions on any bytes (PNGFuzzCheck).

@_cdecl("LLVMFuzzerTestOneInput")
public func testOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    FuzzHarness.run(data, size) { input throws(FuzzViolation) in try PNGFuzzCheck.check(input, reference: PNGReference.decode) }
}

// The entry point SwiftPM links as `main` (see FuzzHarness).
@_cdecl("FuzzPNG_main")
public func entryPoint(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    FuzzHarness.main(argc, argv, testOneInput: testOneInput, seeds: PNGSeeds.all)
}
