/// Who may make a node commit memory for an incoming transfer, as a pure
/// value (time injected): the first chunk of a transfer names an object size,
/// and the receiver would allocate for it.
///
/// A transfer is admitted when the node's own control plane announced it
/// (`expect`: the payload of a request it accepted, the photo it asked for),
/// up to the announced size; it counts against the cap on bytes in flight
/// by what has actually arrived (`charge`), since its buffer's pages are
/// committed only as data arrives: a claimed size pins nothing. Anything
/// else comes out of a small budget, counted at its claimed size: a few
/// transfers and bytes per source and in total. So one datagram from a
/// stranger can make a node set aside at most `unsolicitedBytes`, no flood
/// more than `unsolicitedTotal`, and all transfers together at most
/// `inFlightTotal` of what they were sent.
public struct TransferAdmission<Source: Hashable & Sendable>: Sendable {
    public struct Limits: Sendable, Equatable {
        /// The largest object a transfer nobody announced may carry (0: none is taken).
        public var unsolicitedBytes: Int
        /// Unannounced transfers open at once from one source address.
        public var unsolicitedPerSource: Int
        /// Bytes of unannounced transfers open at once, from all sources.
        public var unsolicitedTotal: Int
        /// Bytes in flight at once: what announced transfers have received, and
        /// the claimed sizes of unannounced ones.
        public var inFlightTotal: Int
        /// Announcements remembered at most (the oldest is forgotten first).
        public var maxExpected: Int

        public init(unsolicitedBytes: Int = 1 << 20, unsolicitedPerSource: Int = 4, unsolicitedTotal: Int = 16 << 20,
                    inFlightTotal: Int = 1 << 30, maxExpected: Int = 65_536) {
            self.unsolicitedBytes = unsolicitedBytes
            self.unsolicitedPerSource = unsolicitedPerSource
            self.unsolicitedTotal = unsolicitedTotal
            self.inFlightTotal = inFlightTotal
            self.maxExpected = maxExpected
        }

        /// Only announced transfers (a server: it asks for every object it takes).
        public static func announcedOnly(inFlightTotal: Int = 1 << 30) -> Limits {
            Limits(unsolicitedBytes: 0, unsolicitedPerSource: 0, unsolicitedTotal: 0, inFlightTotal: inFlightTotal)
        }
    }

    /// How a transfer was let in.
    public enum Grant: Sendable, Equatable {
        /// Announced: up to `maxBytes`.
        case expected(maxBytes: Int)
        /// Out of the budget for strangers.
        case unsolicited
    }

    private struct Expectation: Sendable {
        var maxBytes: Int
        var until: Instant
        var insertion: UInt64
    }

    private struct Open: Sendable {
        /// Counted against the cap: arrived so far (announced), or claimed (unsolicited).
        var bytes: Int
        var source: Source?   // set for unsolicited transfers
        var maxBytes: Int
    }

    public let limits: Limits
    private var expected: [UInt64: Expectation] = [:]
    /// Announcement order, oldest first from `expectedHead` (for the bound).
    private var expectedOrder: [(id: UInt64, insertion: UInt64)] = []
    private var expectedHead = 0
    private var insertions: UInt64 = 0
    private var open: [UInt64: Open] = [:]
    private var openPerSource: [Source: Int] = [:]
    public private(set) var inFlightBytes = 0
    public private(set) var unsolicitedInFlight = 0

    public init(limits: Limits = Limits()) { self.limits = limits }

    public var expectedCount: Int { expected.count }
    public var openCount: Int { open.count }

    /// The control plane asked for the object `id`, of at most `maxBytes`, to arrive by `until`.
    public mutating func expect(_ id: UInt64, maxBytes: Int, until: Instant) {
        insertions += 1
        expected[id] = Expectation(maxBytes: max(0, maxBytes), until: until, insertion: insertions)
        expectedOrder.append((id, insertions))
        while expected.count > limits.maxExpected, expectedHead < expectedOrder.count {
            let oldest = expectedOrder[expectedHead]
            if expected[oldest.id]?.insertion == oldest.insertion { expected[oldest.id] = nil }
            expectedHead += 1
        }
        if expectedHead > 1_024, expectedHead * 2 > expectedOrder.count {
            expectedOrder.removeFirst(expectedHead)
            expectedHead = 0
        }
    }

    /// Whether `id` is announced (and not yet taken).
    public func isExpected(_ id: UInt64, now: Instant) -> Bool {
        guard let expectation = expected[id] else { return false }
        return expectation.until >= now && open[id] == nil
    }

    /// The object is no longer wanted (its request ended).
    public mutating func forget(_ id: UInt64) { expected[id] = nil }

    /// Whether a transfer of `totalBytes` (as its first chunk claims) may open;
    /// on success it counts until `close`.
    public mutating func admit(_ id: UInt64, totalBytes: UInt64, from source: Source, now: Instant) -> Result<Grant, TransferMessage.Done.Status> {
        if let known = open[id] { return .success(known.source == nil ? .expected(maxBytes: known.maxBytes) : .unsolicited) }
        if let expectation = expected[id], expectation.until >= now {
            guard totalBytes <= UInt64(expectation.maxBytes) else { return .failure(.tooLarge) }
            guard inFlightBytes < limits.inFlightTotal else { return .failure(.busy) }
            open[id] = Open(bytes: 0, source: nil, maxBytes: expectation.maxBytes)   // charged as data arrives
            return .success(.expected(maxBytes: expectation.maxBytes))
        }
        guard limits.unsolicitedBytes > 0 else { return .failure(.unexpected) }
        guard totalBytes <= UInt64(limits.unsolicitedBytes) else { return .failure(.tooLarge) }
        let bytes = Int(totalBytes)
        guard openPerSource[source, default: 0] < limits.unsolicitedPerSource,
              unsolicitedInFlight + bytes <= limits.unsolicitedTotal,
              inFlightBytes + bytes <= limits.inFlightTotal else { return .failure(.busy) }
        open[id] = Open(bytes: bytes, source: source, maxBytes: bytes)
        openPerSource[source, default: 0] += 1
        unsolicitedInFlight += bytes
        inFlightBytes += bytes
        return .success(.unsolicited)
    }

    /// Whether `bytes` more may arrive for an announced transfer now.
    public func hasRoom(for bytes: Int) -> Bool { inFlightBytes + bytes <= limits.inFlightTotal }

    /// `bytes` more of announced transfer `id` arrived.
    public mutating func charge(_ id: UInt64, bytes: Int) {
        guard bytes > 0, let transfer = open[id], transfer.source == nil else { return }
        open[id]?.bytes += bytes
        inFlightBytes += bytes
    }

    /// The transfer ended (delivered, failed or dropped): its memory is free.
    public mutating func close(_ id: UInt64) {
        guard let transfer = open.removeValue(forKey: id) else { return }
        inFlightBytes -= transfer.bytes
        if let source = transfer.source {
            unsolicitedInFlight -= transfer.bytes
            openPerSource[source, default: 1] -= 1
            if openPerSource[source] == 0 { openPerSource[source] = nil }
        } else {
            expected[id] = nil   // delivered or given up: a new object needs a new announcement
        }
    }

    /// Forgets announcements past their time.
    public mutating func expire(now: Instant) {
        for (id, expectation) in expected where expectation.until < now && open[id] == nil { expected[id] = nil }
    }
}
