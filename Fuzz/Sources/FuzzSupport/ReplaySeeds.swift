/// Seeds of the `replay` target (`ReplayFuzzCheck`'s event format): counters
/// in order, replayed, far behind and far ahead; boots that change and go
/// back; wrong echoes; strangers; and rate-limited floods from one source,
/// from many, and with the clock stepping back.
public enum ReplaySeeds {
    /// A `ReplayGuard` event: sender, boot (4-7), echo right or wrong, counter mode and value.
    static func replay(sender: UInt8, boot: UInt8 = 1, wrongEcho: Bool = false, mode: UInt32, value: UInt32) -> [UInt8] {
        let raw = mode << 30 | value & 0x3FFF_FFFF
        return [0, sender, boot, wrongEcho ? 8 : 1, UInt8(raw >> 24), UInt8(raw >> 16 & 0xFF), UInt8(raw >> 8 & 0xFF), UInt8(raw & 0xFF)]
    }

    /// A `RateLimiter` event: source, cost, time step.
    static func limit(source: UInt8, cost: UInt8, step: UInt8) -> [UInt8] { [1, source, cost, step] }

    public static func all() -> [(name: String, bytes: [UInt8])] {
        var seeds: [(name: String, bytes: [UInt8])] = []
        seeds.append(("in-order", (1...40).flatMap { _ in replay(sender: 1, mode: 0, value: 1) }))
        let reordered: [UInt32] = [5, 3, 9, 3, 4, 2, 9, 1], back: [UInt32] = [4, 6, 1]
        seeds.append(("replayed-and-reordered", reordered.flatMap { replay(sender: 2, mode: 0, value: $0) }
            + back.flatMap { replay(sender: 2, mode: 1, value: $0) }))
        seeds.append(("window-edges", [replay(sender: 1, mode: 0, value: 2_000), replay(sender: 1, mode: 1, value: 1_023),
                                       replay(sender: 1, mode: 1, value: 1), replay(sender: 1, mode: 0, value: 1_025),
                                       replay(sender: 1, mode: 1, value: 1_024), replay(sender: 1, mode: 3, value: 5)].flatMap { $0 }))
        seeds.append(("boots-and-echoes", [replay(sender: 3, boot: 2, mode: 0, value: 3), replay(sender: 3, boot: 1, mode: 0, value: 1),
                                           replay(sender: 3, boot: 3, wrongEcho: true, mode: 0, value: 1),
                                           replay(sender: 3, boot: 3, mode: 2, value: 1), replay(sender: 3, boot: 3, mode: 2, value: 1),
                                           replay(sender: 0, mode: 0, value: 1), replay(sender: 4, mode: 0, value: 1)].flatMap { $0 }))
        seeds.append(("one-source-flood", (0..<60).flatMap { _ in limit(source: 1, cost: 100, step: 20) }))
        seeds.append(("many-sources", (0..<60).flatMap { (index: Int) -> [UInt8] in
            limit(source: UInt8(index % 16), cost: 60, step: index % 3 == 0 ? 210 : 1)
        }))
        seeds.append(("clock-steps-back", (0..<30).flatMap { (index: Int) -> [UInt8] in
            limit(source: UInt8(index % 4), cost: 200, step: index % 5 == 0 ? 255 : 199)
        }))
        var both: [UInt8] = []
        for index in 0..<20 {
            both += replay(sender: UInt8(1 + index % 3), mode: UInt32(index % 3), value: UInt32(index * 37))
            both += limit(source: UInt8(index), cost: 255, step: 100)
        }
        seeds.append(("both", both))
        return seeds
    }
}
