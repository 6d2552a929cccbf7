import PhotoCloudSimulation
import PhotoCloudTestKit
import Testing

@Suite("photocloud simulate: the protocol machines from a seed")
struct SystemSimulationTests {
    @Test("every invariant holds", arguments: [UInt64(1), 2, 3])
    func invariantsHold(seed: UInt64) async {
        let report = await offThePool { SystemSimulation.run(seed: seed, steps: 2_000) }
        #expect(report.violation == nil, "\(report.lines.joined(separator: "\n"))")
        #expect(report.lines.last?.contains("invariants held") == true)
    }

    @Test func theSameSeedGivesTheSameReportAndAnotherSeedAnother() async {
        let (first, again, other) = await offThePool {
            (SystemSimulation.run(seed: 11, steps: 1_000).lines, SystemSimulation.run(seed: 11, steps: 1_000).lines,
             SystemSimulation.run(seed: 12, steps: 1_000).lines)
        }
        #expect(again == first)
        #expect(other != first)
    }

    /// Each planted bug, the invariant that must catch it at seed 1, and words its report must hold.
    static let caughtAtSeedOne: [(SystemSimulation.Bug, invariant: String, detail: String)] = [
        (.doubleToken, "one token holder per epoch", "both hold epoch"),          // a server keeps the token it passed on
        (.ignoredDigest, "no transfer delivers other bytes", "differ from"),     // a receiver ignores the digest
        (.staleGrant, "views change only by viewing or a newer grant", "not newer than"),   // a replayed grant applied
        (.nameTheft, "a name stays its owner's", "is not"),                       // servers let a name be taken
    ]

    @Test("a planted bug is caught at seed 1 by the invariant it breaks", arguments: SystemSimulationTests.caughtAtSeedOne)
    func aPlantedBugIsCaught(bug: SystemSimulation.Bug, invariant: String, detail: String) async throws {
        let violation = try #require(await offThePool { SystemSimulation.run(seed: 1, steps: 2_000, bug: bug).violation })
        #expect(violation.invariant == invariant)
        #expect(violation.detail.contains(detail), "\(violation.detail)")
    }

    @Test func mailSaidStoredBeforeItIsWrittenIsCaughtWithinAFewSeeds() async throws {
        // The loss needs a crash between the report and the write on two servers: seed 5 has one.
        let caught = await offThePool { (UInt64(1)...8).lazy.compactMap { SystemSimulation.run(seed: $0, steps: 2_000, bug: .earlyStored).violation }.first }
        let violation = try #require(caught, "no seed of 1-8 caught mail reported stored before it was written")
        #expect(violation.invariant == "mail reported stored is applied")
    }
}
