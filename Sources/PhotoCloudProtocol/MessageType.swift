/// The kind of a datagram. Numbers are grouped by protocol (docs/protocol.md
/// keeps the table); a number not listed here is refused by the decoder.
public enum MessageType: UInt8, Sendable, CaseIterable {
    // 0x01-0x0F: liveness and diagnostics
    case ping = 0x01
    case pong = 0x02
    /// Server -> client: ask again with this cookie (`AddressCheck`).
    case addressCheck = 0x03

    // 0x10-0x1F: work token and membership (docs/protocol.md, "Work token")
    case ringHeartbeat = 0x10
    case ringToken = 0x11
    case ringTokenAck = 0x12
    case ringClaimed = 0x13
    case ringCompleted = 0x14
    case offlineToken = 0x15
    case offlineTokenAck = 0x16
    case statusRequest = 0x18
    case statusReply = 0x19

    // 0x20-0x27: reliable transfer (docs/protocol.md, "Transfer")
    case transferChunk = 0x20
    case transferAck = 0x21
    case transferEnd = 0x22
    case transferDone = 0x23

    // 0x28-0x2F: encryption service (docs/protocol.md, "Encryption request")
    case encryptRequest = 0x28
    case encryptAccepted = 0x29
    case encryptRefused = 0x2A
    /// Server data endpoint -> client data endpoint: an answer that fits one datagram (the answer object itself).
    case encryptAnswer = 0x2B
    /// Client data endpoint -> server control endpoint: the inline answer arrived (stop resending it).
    case encryptAnswerReceived = 0x2C

    // 0x30-0x3F: directory (docs/protocol.md, "Directory")
    case directoryRegister = 0x30
    case directoryRegistered = 0x31
    case whoRequest = 0x32
    case whoReply = 0x33
    case directorySyncRequest = 0x34
    case directorySync = 0x35
    /// Anyone -> a server: one user's record (its keys and endpoints).
    case lookupRequest = 0x36
    case lookupReply = 0x37

    // 0x50-0x5F: mailbox (docs/protocol.md, "Mailbox")
    case mailStore = 0x50
    case mailStatus = 0x51
    case mailFetch = 0x52
    case mailList = 0x53
    case mailFetchObject = 0x54
    case mailAcknowledge = 0x55
    case mailAcknowledged = 0x56
    case mailSyncRequest = 0x57
    case mailSyncList = 0x58
    case mailSyncFetch = 0x59
    case mailSyncItems = 0x5A
    case mailSyncObject = 0x5B

    // 0x40-0x4F: peer to peer (docs/protocol.md, "Peers")
    /// A `PeerEnvelope`, signed by the user that sent it.
    case peerMessage = 0x40
}
