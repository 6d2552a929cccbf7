import FuzzChecks
import PhotoCloudProtocol
import Testing

/// The inputs the fuzz targets start from and the ones they found
/// (Fuzz/corpus and Fuzz/regressions, docs/fuzzing.md), replayed through the
/// same checks as `make fuzz`, so that what was fixed stays fixed. A trap in
/// the code under test crashes this process, as it crashed the fuzzer.
@Suite("Fuzz regressions")
struct FuzzRegressionTests {
    @Test("the seed folders of the protocol's fuzz targets are found and not empty", arguments: ["wire", "transfer", "replay"])
    func inputsAreThere(target: String) {
        #expect(FuzzInputs.all(target).count >= 5, "no inputs under \(FuzzInputs.folder.path)/{corpus,regressions}/\(target)")
    }

    @Test("a saved wire input decodes or is refused with a WireError, and whatever decodes survives re-encoding",
          arguments: FuzzInputs.all("wire"))
    func wire(_ input: FuzzInput) {
        #expect(throws: Never.self) { try WireFuzzCheck.check(input.bytes) }
    }

    @Test("a saved transfer script keeps acks truthful, deliveries intact and admission within its limits",
          arguments: FuzzInputs.all("transfer"))
    func transfer(_ input: FuzzInput) {
        #expect(throws: Never.self) { try TransferFuzzCheck.check(input.bytes) }
    }

    @Test("a saved event sequence gets the replay model's verdicts and stays within the rate limits",
          arguments: FuzzInputs.all("replay"))
    func replay(_ input: FuzzInput) {
        #expect(throws: Never.self) { try ReplayFuzzCheck.check(input.bytes) }
    }

    // The seeds start the fuzzers past the first checks: these fail if a seed goes stale (a format change).

    @Test func theWireSeedDatagramsDecodeWithTheClustersKeys() throws {
        let datagrams = FuzzInputs.all("wire").filter { $0.name.hasPrefix("corpus/wire/datagram-") }
        #expect(datagrams.count == MessageType.allCases.count)
        for datagram in datagrams {
            #expect(throws: Never.self, "\(datagram)") { try Wire.decode(datagram.bytes, keys: WireFuzzCheck.keys) }
        }
    }

    @Test func theTransferSeedsReachDeliveryRefusalFailureAndBothEndsOfTheSender() throws {
        func summary(_ name: String) throws -> TransferFuzzCheck.Summary {
            let input = try #require(FuzzInputs.all("transfer").first { $0.name == "corpus/transfer/\(name)" })
            return try TransferFuzzCheck.run(input.bytes)
        }
        #expect(try summary("one-chunk-delivered").delivered == 1)
        #expect(try summary("three-chunks-delivered").delivered == 1)
        #expect(try summary("three-chunks-external-digest").delivered == 1)
        #expect(try summary("out-of-order-duplicates").delivered == 1)
        #expect(try summary("wrong-epoch-then-right").delivered == 1)
        #expect(try summary("announced").delivered == 1)
        let damaged = try summary("wrong-digest")
        #expect(damaged.delivered == 0 && damaged.failed == 1)
        #expect(try summary("too-large-and-busy").refused == 2)
        #expect(try summary("receiver-idle").failed == 1)
        #expect(try summary("sender-acknowledged").senderCompleted)
        #expect(try summary("sender-external-digest").senderCompleted)
        #expect(try summary("sender-receiver-restarted").senderCompleted)
        #expect(try summary("sender-losses-and-idle").senderFailed)
    }
}
