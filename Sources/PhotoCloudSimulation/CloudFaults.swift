import AsyncUDP
import PhotoCloudProtocol

/// One cloud's faults, drawn once from a seed: which server crashes when and
/// comes back when, which link is cut when and healed when. In a real server
/// the work-token ring, the mailbox and the directory share nothing but the
/// process and its links, so a kill -9 takes all three down at once and a
/// cut link silences all three. `photocloud simulate` gives the same plan to
/// each of those worlds: server 2 down from 3.41 s to 5.02 s is the same
/// outage for its ring, its mailbox and its directory.
///
/// At most two of three servers are down at once (two may fall together, as
/// after kill -9 of both); at `horizon` every server is up and every link
/// healed.
public struct CloudFaults: Sendable {
    /// A link that can be cut: between two servers, or between a server and
    /// every client or user of the world (each world knows its own).
    public enum Link: Sendable, Hashable, CustomStringConvertible {
        case servers(Int, Int)
        case clients(Int)

        public var description: String {
            switch self {
            case .servers(let a, let b): "servers \(a) and \(b)"
            case .clients(let server): "server \(server) and its clients"
            }
        }
    }

    public enum Event: Sendable, Hashable {
        case crash(Int)
        case restart(Int)
        case cut(Link)
        case heal(Link)
    }

    public struct Entry: Sendable {
        public var at: Instant
        public var event: Event
    }

    /// Servers are numbered 1...servers.
    public let servers: Int
    public let horizon: Duration
    /// In time order (events at the same moment in the order drawn).
    public private(set) var entries: [Entry] = []
    public private(set) var crashes = 0
    /// Crashes that took a second server down at the same moment.
    public private(set) var pairCrashes = 0
    public private(set) var cuts = 0

    public init(seed: UInt64, servers: Int = 3, horizon: Duration) {
        precondition(servers >= 2, "faults need at least two servers")
        self.servers = servers
        self.horizon = horizon
        var random = SeededRandom(seed: seed ^ 0xC10D_FA17)
        let end = Instant.zero + horizon
        func draw(_ range: ClosedRange<Int>) -> Duration {
            .milliseconds(Int64(range.lowerBound) + Int64(random.next() % UInt64(range.upperBound - range.lowerBound + 1)))
        }
        var upAgain = [Instant](repeating: .zero, count: servers + 1)
        var healed: [Link: Instant] = [:]
        var drawn: [Entry] = []
        func down(at time: Instant, _ server: Int) {
            let back = min(time + draw(200...2_000), end)
            upAgain[server] = back
            drawn.append(Entry(at: time, event: .crash(server)))
            drawn.append(Entry(at: back, event: .restart(server)))
            crashes += 1
        }
        var time = Instant.zero + draw(50...500)
        while time < end {
            let up = (1...servers).filter { upAgain[$0] <= time }
            switch random.next() % 5 {
            case 0:
                // One server killed, while another is up.
                if up.count >= 2 { down(at: time, up[Int(random.next() % UInt64(up.count))]) }
            case 1:
                // Two killed together.
                if up.count == servers, servers >= 3 {
                    let first = up[Int(random.next() % UInt64(up.count))]
                    let rest = up.filter { $0 != first }
                    down(at: time, first)
                    down(at: time, rest[Int(random.next() % UInt64(rest.count))])
                    pairCrashes += 1
                }
            default:
                let a = 1 + Int(random.next() % UInt64(servers))
                let link: Link
                if random.next() % 2 == 0 {
                    var b = a
                    while b == a { b = 1 + Int(random.next() % UInt64(servers)) }
                    link = .servers(min(a, b), max(a, b))
                } else {
                    link = .clients(a)
                }
                guard healed[link, default: .zero] <= time else { break }
                let heal = min(time + draw(100...2_000), end)
                healed[link] = heal
                drawn.append(Entry(at: time, event: .cut(link)))
                drawn.append(Entry(at: heal, event: .heal(link)))
                cuts += 1
            }
            time = time + draw(100...800)
        }
        // Stable: a restart at the same moment as the crash drawn after it stays before it.
        entries = drawn.enumerated().sorted { ($0.element.at, $0.offset) < ($1.element.at, $1.offset) }.map(\.element)
    }

    /// Whether `server` is up at `time` by this plan.
    public func isUp(_ server: Int, at time: Instant) -> Bool {
        var up = true
        for entry in entries where entry.at <= time {
            if case .crash(server) = entry.event { up = false }
            if case .restart(server) = entry.event { up = true }
        }
        return up
    }

    /// The most servers down at one moment.
    public var mostDown: Int {
        var down: Set<Int> = [], most = 0
        for entry in entries {
            if case .crash(let server) = entry.event { down.insert(server) }
            if case .restart(let server) = entry.event { down.remove(server) }
            most = max(most, down.count)
        }
        return most
    }

    public var summary: String {
        let seconds = horizon.components.seconds
        return "\(servers) servers over \(seconds) s: \(crashes) crashes (\(pairCrashes) of two servers together), "
            + "\(cuts) links cut, every one restarted or healed by \(seconds) s"
    }
}

extension CloudFaults {
    /// The plan's events due by `now`, each once: `next` is where the world's reading stands.
    public func due(by now: Instant, next: inout Int) -> ArraySlice<Entry> {
        let start = next
        while next < entries.count, entries[next].at <= now { next += 1 }
        return entries[start..<next]
    }

    /// The pairs of nodes a link joins in a world where server n is node n - 1
    /// and `clients` are the nodes of its clients and users.
    public static func nodePairs(_ link: Link, clients: [Int]) -> [(Int, Int)] {
        switch link {
        case .servers(let a, let b): [(a - 1, b - 1)]
        case .clients(let server): clients.map { (server - 1, $0) }
        }
    }
}
