import AsyncUDP
import Crypto
import PhotoCloudProtocol

/// `photocloud simulate`: the cloud's protocol machines run from one seed on
/// a simulated network and clock, with crashes, restarts, partitions, loss,
/// duplication, reordering, delay and bit flips, checking invariants as they
/// go. The worlds, each seeded from the run's seed (the ring, the mailbox
/// and the directory going through one cloud's faults, `CloudFaults`):
///
/// - the work-token ring: three `TokenRing` servers and a client that retries
///   (`RingSimulation`); at most one live holder per epoch after every step,
///   every request answered, persisted epochs only growing;
/// - the mailbox: three servers' `Mailbox` machines with a sender and an
///   offline recipient (`MailboxSimulation`); every message reported stored
///   is applied exactly once in effect, nothing acknowledged comes back;
/// - transfers: `TransferSender` and `TransferReceiver` (`TransferSimulation`)
///   under faults that include bits flipped past the datagram check; no
///   transfer delivers bytes other than those sent, and each ends;
/// - a photo's view rights (`GrantSimulation`): signed, versioned grants from
///   the owner, forgeries and replays, views, crashes of the receiver; views
///   change only by viewing or by a newer grant the owner signed;
/// - photos from peer to peer (`OfferSimulation`): offers through the real
///   peer conversation, transfers on the real machines, the receiver
///   crashing; a call handled once, a photo stored only as sent and
///   reported stored only when held, every send ending;
/// - who is online (`DirectorySimulation`): three servers' directories, users'
///   heartbeats, a thief's records and replays, merges between servers,
///   crashes; a name stays bound to its owner's key, and after healing every
///   server sees the users who register as online.
///
/// The same seed gives the same report, byte for byte. A planted bug (`Bug`)
/// shows the checker catching a known mistake.
public enum SystemSimulation {
    public enum Bug: String, CaseIterable, Sendable {
        /// A server keeps the token it handed on (once).
        case doubleToken = "double-token"
        /// Mail servers say stored before the write is on disk.
        case earlyStored = "early-stored"
        /// A transfer receiver hands over its bytes though the digest disagrees.
        case ignoredDigest = "ignored-digest"
        /// A receiver applies any grant the owner signed, newer or not (a replay resets its views).
        case staleGrant = "stale-grant"
        /// Servers let a record signed by its own key take a name another key holds.
        case nameTheft = "name-theft"
        /// A server draws an answer's nonce itself instead of from the request (two servers that both serve a
        /// request answer it differently).
        case serverNonce = "server-nonce"
        /// A peer handles a repeated call again instead of answering it from the reply it gave.
        case handledTwice = "handled-twice"
    }

    public struct Violation: Sendable, Equatable {
        public var invariant: String
        public var at: String
        public var detail: String
    }

    public struct Report: Sendable {
        public var lines: [String]
        public var violation: Violation?
    }

    /// One run. `steps` sizes the work: the ring's requests (steps / 10), the
    /// transfers (one per 400 steps, at least two) and the grants (steps / 20).
    public static func run(seed: UInt64, steps: Int, bug: Bug? = nil) -> Report {
        var lines = ["simulate: seed \(seed), \(steps) steps, " + (bug.map { "planted bug \($0.rawValue)" } ?? "no planted bug")]
        var violation: Violation?
        func found(_ invariant: String, _ at: String, _ detail: String) {
            if violation == nil { violation = Violation(invariant: invariant, at: at, detail: detail) }
        }
        var seeds = SeededRandom(seed: seed)

        // One cloud: three servers whose crashes and cut links are the same in the ring, the mailbox and the
        // directory (a server's three machines share its process and its links).
        let seconds = max(10, steps / 100)
        let cloud = CloudFaults(seed: seeds.next(), servers: 3, horizon: .seconds(Int64(seconds)))
        lines.append("  cloud      \(cloud.summary); the ring, the mailbox and the directory below run on each server through these faults")

        // The work-token ring.
        var ring = RingSimulation.Options()
        ring.requests = max(20, steps / 10)
        ring.requestInterval = cloud.horizon / ring.requests
        ring.cloudFaults = cloud
        ring.faults = FaultProfile(drop: 0.05, duplicate: 0.02, reorder: 0.05, delay: .microseconds(200), jitter: .microseconds(300))
        ring.keepPassedToken = bug == .doubleToken
        ring.serverChosenNonce = bug == .serverNonce
        let rung = RingSimulation.run(seed: seeds.next(), options: ring)
        lines.append("  ring       a client's \(ring.requests) requests over \(seconds) s, \(rung.crashes) crashes: "
                     + "\(rung.answered) answered, \(rung.epochs.count) epochs, \(rung.acceptedTwice) accepted twice, "
                     + "\(rung.answersCompared) later answers compared with the first (\(rung.answersComparedAcrossServers) from another server), "
                     + "\(rung.steps) steps")
        for problem in rung.violations {
            let invariant = problem.contains("both hold") ? "one token holder per epoch"
                : problem.contains("never answered") ? "every request answered"
                : problem.contains("persisted") ? "epochs only grow"
                : problem.contains("different results") ? "never two different results for one request" : "the ring ends"
            found(invariant, "ring step \(rung.firstViolationStep ?? rung.steps)", problem)
        }

        // The mailbox.
        var mailbox = MailboxSimulation(seed: seeds.next())
        mailbox.reportBeforeWrite = bug == .earlyStored
        mailbox.cloudFaults = cloud
        let mail = mailbox.run()
        lines.append("  mailbox    a sender for \(seconds / 2) s and a recipient who comes and goes, 20 s to settle after the faults: "
                     + "\(mail.stored) reported stored, \(mail.applied) applied, \(mail.handedOutTwice) handed out twice (applied once)")
        for problem in mail.violations {
            let invariant = problem.contains("never applied") ? "mail reported stored is applied"
                : problem.contains("acknowledged") ? "nothing acknowledged comes back" : "a server holds only what it wrote"
            let when = mailbox.firstViolationStep.map { $0 < mailbox.steps ? "mailbox step \($0)" : "mailbox, at the end of the run (step \($0))" } ?? "mailbox"
            found(invariant, when, problem)
        }

        // Transfers, with bits flipped that a datagram check would miss.
        let faults = FaultProfile(drop: 0.05, duplicate: 0.02, reorder: 0.05, corrupt: 0.003, delay: .milliseconds(1), jitter: .milliseconds(1))
        let count = max(2, steps / 400)
        var intact = 0, failed = 0, other = 0, events = 0
        for index in 0..<count {
            var simulation = TransferSimulation(seed: seeds.next(), faults: faults)
            simulation.deliverDespiteDigest = bug == .ignoredDigest
            var bytes = SeededRandom(seed: seeds.next())
            let data = bytes.bytes(20_000 + Int(bytes.next() % 180_000))
            let id = UInt64(index + 1)
            guard let sender = try? TransferSender(transferID: id, data: data, configuration: .init(chunkSize: 1_200, idleTimeout: .seconds(5))) else {
                found("a transfer starts", "transfer \(id)", "the sender refused \(data.count) bytes")
                continue
            }
            simulation.add(sender)
            let outcome = simulation.run(limit: .seconds(600))
            events += outcome.events
            if let delivered = outcome.delivered[id], delivered != data {
                other += 1
                found("no transfer delivers other bytes", "transfer \(id), event \(outcome.events)",
                      "transfer \(id) delivered \(delivered.count) bytes that differ from the \(data.count) sent")
            } else if outcome.completed[id] != nil, outcome.delivered[id] == data {
                intact += 1
            } else if outcome.failed[id] != nil {
                failed += 1
            } else {
                found("every transfer ends", "transfer \(id)", "transfer \(id) neither completed nor failed")
            }
        }
        lines.append("  transfers  \(count) objects of 20-200 kB (loss 5%, duplication 2%, reordering 5%, bits flipped 0.3%): "
                     + "\(intact) intact, \(failed) failed clearly, \(other) delivered other bytes, \(events) events")

        // A photo's view rights.
        var rights = GrantSimulation(seed: seeds.next())
        rights.applyOlderGrants = bug == .staleGrant
        let grants = max(50, steps / 20)
        let granted = rights.run(grants: grants)
        lines.append("  views      \(granted.issued) grants from alice to bob (resent, lost, duplicated, reordered, bits flipped), forgeries and replays, "
                     + "\(granted.crashes) crashes of bob: \(granted.applied) applied, \(granted.stale) stale, \(granted.refused) refused, "
                     + "\(granted.views) views, \(granted.viewsRefused) refused at zero")
        for problem in granted.violations {
            found("views change only by viewing or a newer grant", "views step \(granted.firstViolationStep ?? granted.steps)", problem)
        }

        // Photos from peer to peer.
        var offers = OfferSimulation(seed: seeds.next())
        offers.handleRepeats = bug == .handledTwice
        let sent = offers.run(photos: max(10, steps / 100), seconds: seconds)
        lines.append("  offers     alice sends \(sent.sends) photos to bob over \(seconds) s (calls and transfers lost, duplicated, reordered, "
                     + "bits flipped), \(sent.crashes) crashes of bob: \(sent.stored) stored, \(sent.failed) failed clearly, "
                     + "\(sent.handled) calls handled, \(sent.repeats) repeats answered, \(sent.transfers) transfers, "
                     + "\(sent.statusHeld) status calls held while opening")
        for problem in sent.violations {
            found(String(problem.prefix { $0 != ":" }), "offers step \(sent.firstViolationStep ?? sent.steps)", String(problem.drop { $0 != ":" }.dropFirst(2)))
        }

        // Who is online.
        var directory = DirectorySimulation(seed: seeds.next())
        directory.letNamesBeTaken = bug == .nameTheft
        directory.cloudFaults = cloud
        let known = directory.run(seconds: seconds)
        lines.append("  directory  alice, bob and carol every second for \(seconds) s, coming and going, a thief, 10 s to settle: "
                     + "\(known.records) records, \(known.bound) taken, \(known.stale) stale, \(known.refused) refused, \(known.crashes) crashes")
        for problem in known.violations {
            found(problem.contains("after healing") ? "every registering user is seen online" : "a name stays its owner's",
                  "directory step \(known.firstViolationStep ?? known.steps)", problem)
        }

        if let violation {
            lines.append("violation: \(violation.invariant), at \(violation.at): \(violation.detail)")
        } else {
            lines.append("  invariants held: one token holder per epoch, every request answered, never two different results for one request, "
                         + "epochs only grow, "
                         + "mail reported stored applied once, nothing acknowledged comes back, no transfer delivered other bytes, "
                         + "views changed only by viewing or a newer grant, a call handled once, photos stored as sent and only reported "
                         + "stored when held, every send ended, names stayed their owners', users seen online")
        }
        return Report(lines: lines, violation: violation)
    }
}

extension SeededRandom {
    /// An Ed25519 key drawn from the seed (any 32 bytes are a key), so a run's signers are the same every time.
    mutating func signingKey() -> Curve25519.Signing.PrivateKey {
        try! Curve25519.Signing.PrivateKey(rawRepresentation: bytes(32))
    }
}
