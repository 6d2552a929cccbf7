import PhotoCloudProtocol
import PhotoCloudSimulation
import PhotoCloudTestKit
import Testing

@Suite("photocloud simulate: the protocol machines from a seed")
struct SystemSimulationTests {
    /// Seeds 1-3, and 5 (the planted bugs' seeds: without the bug, the same seed must be clean).
    static let cleanSeeds: [UInt64] = [1, 2, 3, 5]

    @Test("every invariant holds", arguments: SystemSimulationTests.cleanSeeds)
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

    @Test func oneCloudsFaultsAreTheSameInEveryWorldAndHealByTheHorizon() async {
        let plan = CloudFaults(seed: 7, horizon: .seconds(20))
        #expect(CloudFaults(seed: 7, horizon: .seconds(20)).entries.map(\.event) == plan.entries.map(\.event), "the same seed, the same plan")
        #expect(CloudFaults(seed: 8, horizon: .seconds(20)).entries.map(\.event) != plan.entries.map(\.event))
        // Two servers down together happens, three never: someone always serves.
        #expect(plan.pairCrashes > 0)
        #expect(plan.mostDown == 2)
        // Every crash is followed by its restart and every cut by its heal, all by the horizon.
        let end = Instant.zero + plan.horizon
        #expect(plan.entries.allSatisfy { $0.at <= end })
        #expect((1...3).allSatisfy { plan.isUp($0, at: end) })
        var cut: Set<CloudFaults.Link> = []
        for entry in plan.entries {
            if case .cut(let link) = entry.event { #expect(cut.insert(link).inserted, "\(link) cut twice") }
            if case .heal(let link) = entry.event { #expect(cut.remove(link) != nil, "\(link) healed uncut") }
        }
        #expect(cut.isEmpty)
        // The ring and the directory each go through exactly the plan's crashes.
        let (ringCrashes, directoryCrashes) = await offThePool {
            var ring = RingSimulation.Options()
            ring.requests = 100
            ring.requestInterval = .milliseconds(200)
            ring.cloudFaults = plan
            var directory = DirectorySimulation(seed: 7)
            directory.cloudFaults = plan
            return (RingSimulation.run(seed: 7, options: ring).crashes, directory.run(seconds: 20).crashes)
        }
        #expect(ringCrashes == plan.crashes)
        #expect(directoryCrashes == plan.crashes)
    }

    @Test func photosBetweenPeersAreStoredOrFailClearlyAndRepeatsAreAnsweredNotHandled() async {
        let outcome = await offThePool {
            var world = OfferSimulation(seed: 4)
            return world.run(photos: 20, seconds: 20)
        }
        #expect(outcome.violations.isEmpty, "\(outcome.violations)")
        #expect(outcome.stored + outcome.failed == outcome.sends, "every send ended, once")
        #expect(outcome.stored >= outcome.sends / 2, "most photos arrive despite the faults: \(outcome.stored) of \(outcome.sends)")
        #expect(outcome.crashes > 0 && outcome.transfers >= outcome.stored)
        #expect(outcome.repeats > 0, "calls were repeated, and answered from the reply given")
        #expect(outcome.statusHeld > 0, "status calls were held while bob opened a photo")
    }

    /// Each planted bug, the first seed that catches it, the invariant that must, and words its report must hold.
    static let plantedBugs: [(SystemSimulation.Bug, seed: UInt64, invariant: String, detail: String)] = [
        (.doubleToken, 1, "one token holder per epoch", "both hold epoch"),          // a server keeps the token it passed on
        // The loss needs a crash between the report and the write on two servers: seed 5 has one.
        (.earlyStored, 5, "mail reported stored is applied", "never applied"),
        (.ignoredDigest, 2, "no transfer delivers other bytes", "differ from"),     // a receiver ignores the digest
        (.staleGrant, 1, "views change only by viewing or a newer grant", "not newer than"),   // a replayed grant applied
        (.nameTheft, 1, "a name stays its owner's", "is not"),                       // servers let a name be taken
        // Needs a request that two servers both serve, and both answers reaching the client: seed 1 has one.
        (.serverNonce, 1, "never two different results for one request", "two different results"),
        (.handledTwice, 1, "a call is handled once", "twice in one run"),   // a repeated call handled again
    ]

    @Test func everyPlantedBugIsCheckedHere() {
        #expect(Set(Self.plantedBugs.map(\.0.rawValue)) == Set(SystemSimulation.Bug.allCases.map(\.rawValue)))
    }

    /// (The same seeds without the bug are clean: `invariantsHold` runs each of them.)
    @Test("a planted bug is caught by the invariant it breaks", arguments: SystemSimulationTests.plantedBugs)
    func aPlantedBugIsCaught(bug: SystemSimulation.Bug, seed: UInt64, invariant: String, detail: String) async throws {
        #expect(Self.cleanSeeds.contains(seed), "seed \(seed) is not among the seeds checked clean")
        let caught = await offThePool { SystemSimulation.run(seed: seed, steps: 2_000, bug: bug).violation }
        let violation = try #require(caught, "seed \(seed) did not catch \(bug.rawValue)")
        #expect(violation.invariant == invariant)
        #expect(violation.detail.contains(detail), "\(violation.detail)")
    }

}
