import AsyncUDP
import Foundation
import Logging
import PhotoCloudProtocol
import PhotoCloudStore

/// The directory of a server: the thin shell around `Directory`.
/// Registrations and `who` from anyone (records are signed by their
/// owners), the copy a restarted server asks the others for (cluster
/// scheme), and the bindings kept in the server's database, so that a full
/// restart of the cloud does not free every name. It runs on the server's
/// event loop, as `ServerActor` does, which calls it synchronously
/// (`assumeIsolated`); it answers through the server's control endpoint.
actor DirectoryActor {
    nonisolated let loop: EventLoop
    nonisolated var unownedExecutor: UnownedSerialExecutor { loop.asUnownedSerialExecutor() }
    private(set) var directory: Directory
    /// New directory names per host (a few a second, 50 a second from everyone).
    private var newNames = RateLimiter<SocketAddress>(limits: .init(perSource: .init(rate: 1, burst: 20), total: .init(rate: 50, burst: 200)))
    private let store: ServerStore
    private let clock: ProtocolClock
    private let logger: Logger
    let id: UInt64
    /// The server whose control endpoint carries the answers (set when it runs).
    weak var server: ServerActor?

    /// The bindings `store` saved (offline until heard again).
    init(id: UInt64, store: ServerStore, clock: ProtocolClock, loop: EventLoop, logger: Logger) {
        self.id = id
        self.store = store
        self.clock = clock
        self.loop = loop
        self.logger = logger
        directory = Self.restoredDirectory(from: store, server: Int(id), logger: logger)
    }

    func attach(_ server: ServerActor) { self.server = server }

    /// At start: the bindings this server saved (offline until heard again).
    static func restoredDirectory(from store: ServerStore, server id: Int, logger: Logger) -> Directory {
        var directory = Directory()
        do {
            for record in try store.records() { directory.restore(record) }
        } catch {
            logger.error("server \(id): the saved directory cannot be read (\(error.message)); names are learnt again from the others")
        }
        return directory
    }

    /// The record bound to `name`, if any.
    func record(of name: String) -> Directory.Record? { directory.entries[name]?.record }

    private func now() -> Instant { clock.now() }

    func register(_ record: Directory.Record, requestBytes: Int, from address: SocketAddress) {
        // New names are few in honest use and each is a disk write: a host binds a few a second at most.
        if directory.entries[record.name] == nil, !newNames.allow(address.with(port: 0), cost: 1, now: now()) {
            server?.assumeIsolated { $0.defences.rateLimited += 1 }
            confirm(record, refusal: .init("too many new names from \(address.hostString) just now; try again in a minute", permanent: false),
                    requestBytes: requestBytes, to: address)
            return
        }
        let outcome = directory.register(record, now: now(), wallClock: ProtocolClock.wallMilliseconds())
        if outcome.isTaken, record.leaving { logger.info("server \(id): \(record.name) left") }
        switch outcome {
        case .bound:
            // Told only once it is on disk: a confirmed name survives a full restart.
            let store = self.store
            Task(executorPreference: loop) { [weak self] in
                do {
                    try await store.save(record)
                    await self?.confirm(record, refusal: nil, requestBytes: requestBytes, to: address)
                } catch let error as StoreError {
                    await self?.bindingFailed(record, error, requestBytes: requestBytes, to: address)
                } catch {}
            }
        case .updated:
            save(record)
            confirm(record, refusal: nil, requestBytes: requestBytes, to: address)
        case .accepted, .stale:
            confirm(record, refusal: nil, requestBytes: requestBytes, to: address)
        case .refused(let why):
            confirm(record, refusal: .init(why, permanent: true), requestBytes: requestBytes, to: address)
        case .deferred(let why):
            confirm(record, refusal: .init(why, permanent: false), requestBytes: requestBytes, to: address)
        }
    }

    private func confirm(_ record: Directory.Record, refusal: DirectoryMessage.Refusal?, requestBytes: Int, to address: SocketAddress) {
        let message = DirectoryMessage.registered(name: record.name, sequence: record.sequence, digest: record.digest, refusal: refusal)
        server?.assumeIsolated { $0.sendSigned(message.type, message.encoded(), to: address, requestBytes: requestBytes) }
    }

    private func bindingFailed(_ record: Directory.Record, _ error: StoreError, requestBytes: Int, to address: SocketAddress) {
        directory.unbind(record.name, key: record.signingKey)
        logger.error("server \(id): cannot save the binding of \(record.name): \(error.message)")
        let why = "server \(id) cannot record the name now (\(error.code == .full ? "its disk is full" : "a storage error")); try again later"
        confirm(record, refusal: .init(why, permanent: false), requestBytes: requestBytes, to: address)
    }

    /// Saves a changed record in the background (its binding is on disk already).
    private func save(_ record: Directory.Record) {
        let store = self.store
        let logger = self.logger
        Task { do { try await store.save(record) } catch { logger.warning("cannot save \(record.name)'s record: \(error)") } }
    }

    func answerWho(_ query: QueryHeader, offset: UInt32, requestBytes: Int, from address: SocketAddress) {
        let at = now()
        let start = min(Int(offset), directory.names.count)
        let users = directory.page(from: start, limit: DirectoryMessage.usersPerReply, now: at).map { DirectoryMessage.User(name: $0.name, online: $0.online) }
        let reply = DirectoryMessage.whoReply(nonce: query.nonce, total: UInt32(clamping: directory.names.count), offset: UInt32(start), users: users)
        server?.assumeIsolated { $0.answer(reply.type, reply.encoded(), query: query, requestBytes: requestBytes, to: address) }
    }

    /// One user's record, as its owner signed it: the asker checks the
    /// signature itself (and pins the key), so a server can withhold a record
    /// or hand out an older one, but cannot make one up.
    func answerLookup(_ query: QueryHeader, name: String, requestBytes: Int, from address: SocketAddress) {
        let entry = directory.entries[name]
        let reply = DirectoryMessage.lookupReply(nonce: query.nonce, name: name, record: entry?.record,
                                                 online: directory.isOnline(name, now: now()))
        server?.assumeIsolated { $0.answer(reply.type, reply.encoded(), query: query, requestBytes: requestBytes, to: address) }
    }

    /// Another server asks for the records (it restarted), or sends them.
    func handleDirectorySync(_ message: DirectoryMessage, from server: UInt64) {
        let at = now()
        switch message {
        case .syncRequest:
            let held = directory.names.compactMap { directory.entries[$0] }.map {
                DirectoryMessage.Held(record: $0.record,
                                      ageMilliseconds: $0.lastHeard.map { UInt32(clamping: at.since($0).nanoseconds / 1_000_000) } ?? .max)
            }
            for start in stride(from: 0, to: held.count, by: DirectoryMessage.recordsPerSync) {
                let part = DirectoryMessage.sync(Array(held[start..<min(start + DirectoryMessage.recordsPerSync, held.count)]))
                self.server?.assumeIsolated { $0.sendToServer(server, part.type, part.encoded()) }
            }
        case .sync(let held):
            for entry in held {
                let outcome = directory.merge(entry.record, age: .milliseconds(Int64(entry.ageMilliseconds)), now: at)
                if outcome == .bound || outcome == .updated { save(entry.record) }
            }
        default:
            return
        }
    }

    /// At start: the others' records, so that `who` is right before the peers' next heartbeats.
    func askForDirectory() {
        server?.assumeIsolated { server in
            for other in server.otherServers { server.sendToServer(other.id, .directorySyncRequest, DirectoryMessage.syncRequest.encoded()) }
        }
    }
}
