import AsyncUDP
import PhotoCloudProtocol
import PhotoCloudTestKit
import Testing

@Suite("Mailbox simulation: crashes, restarts and partitions over many seeds")
struct MailboxSimulationTests {
    @Test("every item reported stored is applied once in effect, and nothing acknowledged comes back", arguments: 0..<12)
    func invariantsHold(batch: Int) async {
        var stored = 0, applied = 0
        for seed in UInt64(batch * 4)..<UInt64(batch * 4 + 4) {
            let outcome = await offThePool {
                var simulation = MailboxSimulation(seed: seed)
                return simulation.run()
            }
            #expect(outcome.violations.isEmpty, "seed \(seed): \(outcome.violations.prefix(5))")
            stored += outcome.stored
            applied += outcome.applied
        }
        // The faults must not make every run trivial: items are stored and picked up.
        #expect(stored > 50 && applied >= stored, "\(stored) stored, \(applied) applied")
    }
}
