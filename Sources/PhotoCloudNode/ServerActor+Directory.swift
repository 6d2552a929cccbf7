import AsyncUDP
import PhotoCloudProtocol

/// The directory of a server: registrations and `who` from anyone (records
/// are signed by their owners), and the copy a restarted server asks the
/// others for (cluster scheme). The logic is `Directory`'s.
extension ServerActor {
    func handleDirectory(_ message: DirectoryMessage, from address: SocketAddress, fromServer: Bool) {
        let at = now()
        switch message {
        case .register(let record):
            let outcome = directory.register(record, now: at)
            let refusal: String? = if case .refused(let why) = outcome { why } else { nil }
            if case .accepted = outcome, record.leaving { logger.info("server \(id): \(record.name) left") }
            sendDirectory(.registered(name: record.name, refusal: refusal), auth: .open, to: address)
        case .whoRequest(let offset):
            let (online, offline) = directory.who(now: at)
            let users = (online.map { DirectoryMessage.User(name: $0, online: true) } + offline.map { .init(name: $0, online: false) })
                .sorted { $0.name < $1.name }
            let start = min(Int(offset), users.count)
            let page = Array(users[start..<min(start + DirectoryMessage.usersPerReply, users.count)])
            sendDirectory(.whoReply(total: UInt32(users.count), offset: UInt32(start), users: page), auth: .open, to: address)
        case .syncRequest:
            guard fromServer else { return }
            let held = directory.entries.values.sorted { $0.record.name < $1.record.name }.map {
                DirectoryMessage.Held(record: $0.record,
                                      ageMilliseconds: $0.lastHeard.map { UInt32(clamping: at.since($0).nanoseconds / 1_000_000) } ?? .max)
            }
            for start in stride(from: 0, to: held.count, by: DirectoryMessage.recordsPerSync) {
                sendDirectory(.sync(Array(held[start..<min(start + DirectoryMessage.recordsPerSync, held.count)])), auth: .cluster, to: address)
            }
        case .sync(let held):
            guard fromServer else { return }
            for entry in held { directory.merge(entry.record, age: .milliseconds(Int64(entry.ageMilliseconds)), now: at) }
        case .registered, .whoReply:
            return
        }
    }

    /// At start: the others' records, so that `who` is right before the peers' next heartbeats.
    func askForDirectory() {
        for address in otherServers { sendDirectory(.syncRequest, auth: .cluster, to: address) }
    }

    private func sendDirectory(_ message: DirectoryMessage, auth: AuthScheme, to address: SocketAddress) {
        send(message.type, message.encoded(), auth: auth, to: address)
    }
}
