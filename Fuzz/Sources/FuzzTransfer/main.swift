import FuzzChecks
import FuzzSupport

// The `transfer` target: receivers, admission and a sender driven by decoded datagrams (TransferFuzzCheck).

@_cdecl("LLVMFuzzerTestOneInput")
public func testOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    FuzzHarness.run(data, size, TransferFuzzCheck.check)
}

// The entry point SwiftPM links as `main` (see FuzzHarness).
@_cdecl("FuzzTransfer_main")
public func entryPoint(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    FuzzHarness.main(argc, argv, testOneInput: testOneInput, seeds: TransferSeeds.all)
}
