/// Which servers of the ring are alive, judged by heartbeats: a server is
/// alive while it has been heard from within `suspectAfter`, or within five
/// of its heartbeat intervals if its heartbeats say they come further apart
/// (a quiet ring's), so that four lost in a row never make a live server
/// dead. Pure: time is passed in. The ring order is the servers' ids, ascending.
public struct Membership: Sendable {
    public let me: UInt64
    /// Every server of the cluster, this one included, ascending.
    public let members: [UInt64]
    public let suspectAfter: Duration
    private var lastHeard: [UInt64: Instant] = [:]
    /// Each server's allowed silence, from the interval its last heartbeat gave (`suspectAfter` until one does).
    private var allowed: [UInt64: Duration] = [:]

    public init(me: UInt64, members: [UInt64], suspectAfter: Duration) {
        self.me = me
        self.members = Array(Set(members + [me])).sorted()
        self.suspectAfter = suspectAfter
    }

    public mutating func heard(from server: UInt64, now: Instant) {
        guard server != me, members.contains(server) else { return }
        lastHeard[server] = max(lastHeard[server] ?? now, now)
    }

    /// A heartbeat from `server`, whose next comes within `interval`.
    public mutating func heard(from server: UInt64, now: Instant, interval: Duration) {
        guard server != me, members.contains(server) else { return }
        heard(from: server, now: now)
        allowed[server] = max(suspectAfter, interval * 5)
    }

    /// How long `server` may be silent and still count as alive.
    public func allowedSilence(of server: UInt64) -> Duration { allowed[server] ?? suspectAfter }

    /// This server did not run from `start` to `end` (its process was not
    /// scheduled, or its event loop was busy): the silence of that pause is
    /// its own, not the others'. Those alive when it began are treated as heard
    /// that much later; those already dead stay dead.
    public mutating func excusePause(from start: Instant, to end: Instant) {
        let pause = end.since(start)
        for (server, heard) in lastHeard where start.since(heard) < allowedSilence(of: server) {
            lastHeard[server] = heard + pause
        }
    }

    public func isAlive(_ server: UInt64, now: Instant) -> Bool {
        if server == me { return true }
        guard let heard = lastHeard[server] else { return false }
        return now.since(heard) < allowedSilence(of: server)
    }

    public func alive(now: Instant) -> [UInt64] { members.filter { isAlive($0, now: now) } }

    /// The next alive server after `server` in ring order, skipping `excluding`;
    /// nil when no other server is alive.
    public func nextAlive(after server: UInt64, excluding: Set<UInt64> = [], now: Instant) -> UInt64? {
        guard let index = members.firstIndex(of: server) else { return nil }
        for step in 1..<max(members.count, 1) {
            let candidate = members[(index + step) % members.count]
            if candidate != me, !excluding.contains(candidate), isAlive(candidate, now: now) { return candidate }
        }
        return nil
    }

    /// The lowest id among the servers alive now (the one that regenerates a lost token).
    public func lowestAlive(now: Instant) -> UInt64 { alive(now: now).first ?? me }

    /// When the next alive server will be suspected if it stays silent.
    public func nextExpiry(now: Instant) -> Instant? {
        lastHeard.map { $0.value + allowedSilence(of: $0.key) }.filter { $0 > now }.min()
    }
}
