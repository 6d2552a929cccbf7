import FuzzChecks
import FuzzSupport

// The `wire` target: framing and every message decoder (WireFuzzCheck).

@_cdecl("LLVMFuzzerTestOneInput")
public func testOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    FuzzHarness.run(data, size, WireFuzzCheck.check)
}

// The entry point SwiftPM links as `main` (see FuzzHarness).
@_cdecl("FuzzWire_main")
public func entryPoint(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    FuzzHarness.main(argc, argv, testOneInput: testOneInput, seeds: WireSeeds.all)
}
