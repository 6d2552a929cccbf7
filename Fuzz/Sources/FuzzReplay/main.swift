import FuzzChecks
import FuzzSupport

// The `replay` target: ReplayGuard and RateLimiter against their models (ReplayFuzzCheck).

@_cdecl("LLVMFuzzerTestOneInput")
public func testOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    FuzzHarness.run(data, size, ReplayFuzzCheck.check)
}

// The entry point SwiftPM links as `main` (see FuzzHarness).
@_cdecl("FuzzReplay_main")
public func entryPoint(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    FuzzHarness.main(argc, argv, testOneInput: testOneInput, seeds: ReplaySeeds.all)
}
