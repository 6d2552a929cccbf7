/// The kind of a datagram. Numbers are grouped by protocol (docs/protocol.md
/// keeps the table); a number not listed here is refused by the decoder.
public enum MessageType: UInt8, Sendable, CaseIterable {
    // 0x01-0x0F: liveness and diagnostics
    case ping = 0x01
    case pong = 0x02
}
