import AsyncUDP
import Logging
import PhotoCloudProtocol

/// The work token of one server: the thin shell around `TokenRing` and the
/// epoch file it must write before the token moves. It runs on the server's
/// event loop (the executor it shares with `ServerActor`, `DirectoryActor`
/// and `MailboxActor`), so the server calls it synchronously
/// (`assumeIsolated`): no thread hop, no suspension between a datagram and
/// the ring's answer to it.
actor TokenRingActor {
    nonisolated let loop: EventLoop
    nonisolated var unownedExecutor: UnownedSerialExecutor { loop.asUnownedSerialExecutor() }
    private(set) var ring: TokenRing
    private let dataDirectory: String
    private let logger: Logger

    init(ring: TokenRing, dataDirectory: String, loop: EventLoop, logger: Logger) {
        self.ring = ring
        self.dataDirectory = dataDirectory
        self.loop = loop
        self.logger = logger
    }

    /// Feeds the machine one event; writes a new epoch (before anything else
    /// happens) and returns the rest of its directives for the server to carry out.
    func step(_ event: @Sendable (inout TokenRing) -> [RingDirective]) throws -> [RingDirective] {
        var rest: [RingDirective] = []
        for directive in event(&ring) {
            if case .persist(let epoch) = directive {
                try ServerState.persist(epoch, in: dataDirectory)
                logger.info("server \(ring.id) generated the work token, epoch \(epoch)")
            } else {
                rest.append(directive)
            }
        }
        return rest
    }

    /// Back from an outage (the offline token): the ring starts over as after a restart.
    func restart(now: Instant) throws -> [RingDirective] {
        ring = TokenRing(id: ring.id, members: ring.membership.members, persisted: ring.seen.epoch, configuration: ring.configuration, now: now)
        return try step { $0.start(now: now) }
    }

    func status(now: Instant) -> ClusterStatus { ring.status(now: now) }
}
