/// A generation of the work token. A server that regenerates the token (it
/// was lost, or the next server is dead) makes a new epoch with a counter
/// above every one it has seen and its own id, so no two servers ever make the
/// same epoch; the counter is persisted before use, so a restart cannot make
/// one twice either. Higher epochs win; a holder of a lower one drops it.
public struct Epoch: Sendable, Hashable, Comparable, CustomStringConvertible {
    public var counter: UInt64
    public var generator: UInt64

    public init(counter: UInt64, generator: UInt64) {
        self.counter = counter
        self.generator = generator
    }

    public static let none = Epoch(counter: 0, generator: 0)

    public static func < (a: Epoch, b: Epoch) -> Bool { (a.counter, a.generator) < (b.counter, b.generator) }

    public var description: String { "\(counter).\(generator)" }
}

/// Where the token is: an epoch and a hop count within it.
public struct TokenPosition: Sendable, Hashable, Comparable, CustomStringConvertible {
    public var epoch: Epoch
    public var hop: UInt64

    public init(epoch: Epoch, hop: UInt64) {
        self.epoch = epoch
        self.hop = hop
    }

    public static let none = TokenPosition(epoch: .none, hop: 0)

    public static func < (a: TokenPosition, b: TokenPosition) -> Bool { (a.epoch, a.hop) < (b.epoch, b.hop) }

    public var description: String { "\(epoch)#\(hop)" }
}

/// A client's request, named by the client: retries carry the same id.
public struct RequestID: Sendable, Hashable, Comparable, CustomStringConvertible {
    public var client: UInt64
    public var number: UInt64

    public init(client: UInt64, number: UInt64) {
        self.client = client
        self.number = number
    }

    public static func < (a: RequestID, b: RequestID) -> Bool { (a.client, a.number) < (b.client, b.number) }

    public var description: String { "\(client):\(number)" }
}

/// What servers of the ring tell each other.
public enum RingMessage: Sendable, Equatable {
    /// Every `heartbeatInterval` to every other server.
    case heartbeat(Heartbeat)
    /// The token handed to the next server, with the requests the previous
    /// holders claimed recently (so a lost `claimed` broadcast costs nothing).
    case token(Token)
    /// The next server has the token at `position`.
    case tokenAck(TokenPosition)
    /// `server` took these requests.
    case claimed(Claim)
    /// These requests are answered; nobody need reopen them.
    case completed([RequestID])

    public struct Heartbeat: Sendable, Equatable {
        /// The furthest token position this server has seen.
        public var seen: TokenPosition
        public var holding: Bool
        /// Requests the sender has accepted since it started, and has waiting (for `status`).
        public var accepted: UInt64
        public var pending: UInt32

        /// The sender's heartbeat interval now, in milliseconds (1-1,000): its
        /// silence is judged against it (`Membership.heard(from:now:interval:)`).
        public var intervalMilliseconds: UInt16

        public init(seen: TokenPosition, holding: Bool, accepted: UInt64 = 0, pending: UInt32 = 0, intervalMilliseconds: UInt16 = 30) {
            self.seen = seen
            self.holding = holding
            self.accepted = accepted
            self.pending = pending
            self.intervalMilliseconds = intervalMilliseconds
        }
    }

    public struct Token: Sendable, Equatable {
        public var position: TokenPosition
        public var recentClaims: [Claim]

        public init(position: TokenPosition, recentClaims: [Claim]) {
            self.position = position
            self.recentClaims = recentClaims
        }
    }

    public struct Claim: Sendable, Equatable {
        public var server: UInt64
        public var requests: [RequestID]

        public init(server: UInt64, requests: [RequestID]) {
            self.server = server
            self.requests = requests
        }
    }
}

/// What the ring asks its driver to do.
public enum RingDirective: Sendable, Equatable {
    case send(to: UInt64, RingMessage)
    /// To every other server of the cluster.
    case broadcast(RingMessage)
    /// This server serves the request: answer the client "accepted", do the
    /// work (again, if it was reopened or retried: the work is idempotent).
    case accept(RequestID)
    /// The request is another server's; the client may be told so.
    case claimedElsewhere(RequestID, by: UInt64)
    /// Write the epoch durably before anything else is sent.
    case persist(Epoch)
    /// Call `onTimer` at this time (replaces any earlier deadline).
    case armTimer(Instant)
}
