import ArgumentParser
import Foundation
import PhotoCloudSimulation

extension SystemSimulation.Bug: ExpressibleByArgument {}

struct SimulateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "simulate",
        abstract: "Run the cloud's protocol machines from a seed with faults, checking invariants (deterministic).",
        discussion: """
            The work-token ring, the mailbox and the directory (one cloud: the same servers' crashes and cut links in each), transfers, \
            a photo's view rights and photos sent from peer to peer run on a simulated network and clock, with crashes, \
            restarts, partitions, loss, duplication, reordering, delay and flipped bits, all drawn from the seed; \
            the same seed prints the same report. A broken invariant exits 1, naming it, where it broke and the \
            command that replays it. --bug plants a known mistake, to watch the checker catch it: double-token \
            (a server keeps the token it passed on), early-stored (mail said stored before it is written), \
            ignored-digest (a transfer delivered though its digest disagrees), stale-grant (a replayed older grant \
            applied), name-theft (a name given to another key), server-nonce (two servers answer one request \
            differently), handled-twice (a peer handles a repeated call again).
            """
    )

    @Option(help: "The seed everything is drawn from.") var seed: UInt64 = 1
    @Option(help: "The size of the run: the ring's requests are steps / 10, one transfer per 400, grants steps / 20, photos and seconds steps / 100.")
    var steps: Int = 2_000
    @Option(help: "Run this many seeds from --seed on (one line each; stops at the first violation).") var count: Int = 1
    @Option(help: "Plant a known bug: double-token, early-stored, ignored-digest, stale-grant, name-theft, server-nonce or handled-twice.")
    var bug: SystemSimulation.Bug?

    func validate() throws {
        guard (100...1_000_000).contains(steps) else { throw ValidationError("--steps takes 100 to 1,000,000") }
        guard (1...100_000).contains(count) else { throw ValidationError("--count takes 1 to 100,000") }
    }

    func run() throws {
        for offset in 0..<UInt64(count) {
            let seed = self.seed &+ offset
            let report = SystemSimulation.run(seed: seed, steps: steps, bug: bug)
            if count == 1 || report.violation != nil {
                for line in report.lines { print(line) }
            } else {
                print("seed \(seed): invariants held")
            }
            if report.violation != nil {
                let replay = "photocloud simulate --seed \(seed) --steps \(steps)" + (bug.map { " --bug \($0.rawValue)" } ?? "")
                print("replay: \(replay)")
                throw ExitCode(1)
            }
        }
        if count > 1 { print("\(count) seeds from \(seed), \(steps) steps each: every invariant held") }
    }
}
