/// What a node stamps on every datagram it sends: its id, its boot (the
/// incarnation: a server's grows with every restart, see `nextBoot`) and a
/// counter that is never reused within the boot, as QUIC's packet numbers.
public struct WireOrigin: Sendable {
    public let sender: UInt64
    public let boot: UInt64
    public private(set) var counter: UInt64 = 0

    public init(sender: UInt64, boot: UInt64) {
        self.sender = sender
        self.boot = boot
    }

    /// A node without a persistent boot (a client): any random non-zero one.
    public init(sender: UInt64) {
        self.init(sender: sender, boot: UInt64.random(in: 1...UInt64.max))
    }

    /// The header of the next datagram; `echo` is the receiver's boot as this node heard it.
    public mutating func next(_ type: MessageType, echo: UInt64 = 0) -> Wire.Header {
        counter += 1
        return Wire.Header(type: type, sender: sender, boot: boot, counter: counter, echo: echo)
    }

    /// A boot above `persisted` (the last one used), from the wall clock when
    /// that is larger: a restarted server's messages are newer than any of
    /// its earlier incarnation's, even when its state folder was lost and the
    /// clock is right, or the clock went back and the folder is kept.
    public static func nextBoot(after persisted: UInt64?, wallClockMicroseconds: UInt64) -> UInt64 {
        max((persisted ?? 0) &+ 1, wallClockMicroseconds, 1)
    }
}

/// Replay protection for authenticated traffic between known nodes (the
/// servers of a cluster), as a pure value.
///
/// Each sender's datagrams carry its boot and a counter. A receiver keeps,
/// per sender, the highest boot it has authenticated and a window of the
/// last `windowSize` counters of that boot (IPsec's anti-replay window): a
/// counter seen before, or older than the window, or a boot below the
/// highest, is a replay. A datagram must also carry in `echo` this
/// receiver's own boot: one captured before the receiver restarted names its
/// old boot, so a restarted node, which has forgotten its windows, cannot be
/// fed the past either. Senders learn what to echo from the boots of the
/// datagrams they authenticate, so two restarted nodes agree within one
/// exchange of heartbeats.
public struct ReplayGuard: Sendable {
    public enum Verdict: Sendable, Equatable {
        case fresh
        /// Seen before, or older than the window.
        case replay
        /// From an earlier incarnation of the sender.
        case staleBoot
        /// Made for an earlier incarnation of this node (or before the sender heard of this one).
        case wrongEcho
        /// Not a sender this guard knows.
        case unknownSender
    }

    public static let windowSize: UInt64 = 1_024

    private struct Window: Sendable {
        var boot: UInt64
        var highest: UInt64 = 0
        /// Bit i: counter `highest - i` has been seen.
        var seen = [UInt64](repeating: 0, count: Int(ReplayGuard.windowSize / 64))

        init(boot: UInt64) { self.boot = boot }

        mutating func accept(_ counter: UInt64) -> Bool {
            guard counter > 0 else { return false }
            if counter > highest {
                shift(by: counter - highest)
                highest = counter
                seen[0] |= 1
                return true
            }
            let age = highest - counter
            guard age < ReplayGuard.windowSize else { return false }
            let word = Int(age / 64), bit = UInt64(1) << (age % 64)
            guard seen[word] & bit == 0 else { return false }
            seen[word] |= bit
            return true
        }

        /// Ages every mark by `distance` (bit i moves to bit i + distance).
        private mutating func shift(by distance: UInt64) {
            guard distance < ReplayGuard.windowSize else {
                for index in seen.indices { seen[index] = 0 }
                return
            }
            let words = Int(distance / 64), bits = distance % 64
            for index in stride(from: seen.count - 1, through: 0, by: -1) {
                let source = index - words
                var value: UInt64 = source >= 0 ? seen[source] << bits : 0
                if bits > 0, source - 1 >= 0 { value |= seen[source - 1] >> (64 - bits) }
                seen[index] = value
            }
        }
    }

    public let ownBoot: UInt64
    public let members: Set<UInt64>
    private var windows: [UInt64: Window] = [:]

    public init(ownBoot: UInt64, members: Set<UInt64>) {
        self.ownBoot = ownBoot
        self.members = members
    }

    /// What to put in `echo` when sending to `peer`: its boot as last authenticated here.
    public func echo(for peer: UInt64) -> UInt64 { windows[peer]?.boot ?? 0 }

    /// Judges an authenticated datagram's header; learns the sender's boot whatever the verdict.
    public mutating func check(sender: UInt64, boot: UInt64, counter: UInt64, echo: UInt64) -> Verdict {
        guard members.contains(sender) else { return .unknownSender }
        if let known = windows[sender] {
            if boot < known.boot { return .staleBoot }
            if boot > known.boot { windows[sender] = Window(boot: boot) }
        } else {
            windows[sender] = Window(boot: boot)
        }
        guard echo == ownBoot else { return .wrongEcho }
        return windows[sender]!.accept(counter) ? .fresh : .replay
    }
}
