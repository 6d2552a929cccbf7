import ArgumentParser
import AsyncUDP
import Foundation
import PhotoCloudNode
import PhotoCloudWeb
import PhotoCloudProtocol

/// The user's home: --home, else $PHOTOCLOUD_HOME, else ~/.photocloud.
struct HomeOptions: ParsableArguments {
    @Option(help: "The user (default: $PHOTOCLOUD_USER).") var user: String?
    @Option(help: "Folder of the user's keys and state (default: $PHOTOCLOUD_HOME, or ~/.photocloud).") var home: String?

    func resolve() throws -> (user: String, home: String) {
        let environment = ProcessInfo.processInfo.environment
        guard let user = user ?? environment["PHOTOCLOUD_USER"], !user.isEmpty else {
            throw ValidationError("no user: pass --user or set PHOTOCLOUD_USER")
        }
        // Checked before it becomes part of any path.
        guard Directory.Record.isValidName(user) else {
            throw ValidationError("\"\(user.prefix(40))\" is not a valid user name (1-32 of a-z 0-9 - _ .)")
        }
        return (user, home ?? ClusterFile.home(environment))
    }
}

struct PeerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "peer",
        abstract: "Run a user's daemon: register with every server and stay online until Ctrl-C.",
        discussion: """
            The user's keys (Ed25519 to sign, X25519 to receive sealed photos) are made on first use \
            in HOME/USER/identity.key. The first registration binds the name to the signing key; \
            the daemon re-registers every second with a fresh signed record that publishes its \
            peer-to-peer endpoints, and tells the servers when it leaves. It keeps the album, inbox, \
            requests and rights in HOME/USER/peer.sqlite, serves other peers (previews, requests, \
            photos), and answers the one-shot commands (share, send, view, ...) on HOME/USER/peer.sock.
            """
    )

    @OptionGroup var homeOptions: HomeOptions
    @Option(help: "Cluster file (default: $PHOTOCLOUD_CLUSTER, ./cluster.toml, built-in layout).") var cluster: String?
    @Option(help: "The address others reach this machine at, advertised with the peer's port (default: the address this machine sends from to the first server).")
    var advertise: String?
    @Flag(help: "Serve the web album on 127.0.0.1 (the URL to open, with its access token, is printed and kept in HOME/USER/web-url).")
    var web = false
    @Option(help: "The web album's port, with --web (default: any free one).") var webPort: Int?

    func validate() throws {
        guard let webPort else { return }
        // Said rather than ignored: without --web there is no page on any port.
        guard web else { throw ValidationError("--web-port needs --web (the web album is served only with --web)") }
        guard (0...65_535).contains(webPort) else { throw ValidationError("--web-port takes 0 to 65535") }
    }

    func run() async throws {
        let (user, home) = try homeOptions.resolve()
        let config = try ClusterFile.resolve(explicit: cluster)
        let identity = try PeerIdentity.loadOrCreate(user: user, home: home)
        let host = try advertise ?? Self.sendingAddress(toward: config)
        let peer = try PeerActor(identity: identity, config: config, home: home, host: host)
        // The one-shot commands' way in: a socket only this user can open.
        let service = PeerService(peer: peer)
        let control = LocalControlServer(path: LocalControl.socketPath(home: home, user: user)) { request, progress in
            await service.handle(request, progress: progress)
        }
        try control.start()
        defer { control.stop() }
        FileHandle.standardOutput.write(Data("\(user) online at \(peer.endpoints), registering with \(config.servers.count) servers of \(config.source)\n".utf8))
        let running = Task { try await peer.run { server in
            FileHandle.standardOutput.write(Data("registered with server \(server)\n".utf8))
        } }
        let page = web ? startWeb(peer: peer, home: home, user: user) : nil
        defer { page?.cancel() }
        let interruption = Interruption { running.cancel() }
        let result = await running.result
        withExtendedLifetime(interruption) {}
        await peer.leave()
        if case .failure(let error) = result, !(error is CancellationError) { throw error }
        FileHandle.standardOutput.write(Data("\(user) left\n".utf8))
    }

    /// The web album, serving until cancelled; its URL is printed and written to HOME/USER/web-url (for this user only).
    private func startWeb(peer: PeerActor, home: String, user: String) -> Task<Void, Never> {
        let album = WebAlbum(peer: peer, port: webPort ?? 0)
        let urlFile = ((home as NSString).appendingPathComponent(user) as NSString).appendingPathComponent("web-url")
        return Task {
            do {
                try await album.run { access in
                    try? PrivateFile.write(Array((access.url + "\n").utf8), to: urlFile, what: "the web album's URL")
                    FileHandle.standardOutput.write(Data("web album: \(access.url)\n".utf8))
                }
            } catch is CancellationError {
            } catch {
                FileHandle.standardError.write(Data("error: the web album stopped: \(error)\n".utf8))
            }
        }
    }

    /// The address the routing table sends from toward the first server: what
    /// the servers, and peers on their network, reach this machine at
    /// (127.0.0.1 for a cloud on this machine).
    static func sendingAddress(toward config: ClusterConfig) throws -> String {
        guard let first = config.servers.first else { return "127.0.0.1" }
        do {
            return try SocketAddress.localAddress(toward: first.control).hostString
        } catch {
            throw NodeError(.network, "cannot tell which address reaches server \(first.id) at \(first.control): \(error); give one with --advertise")
        }
    }
}

struct WhoCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "who",
        abstract: "Who is online and who is offline, as the servers know it."
    )

    @OptionGroup var query: ServerQueryOptions
    @Flag(help: "Print one JSON document: {\"online\": [...], \"offline\": [...]}.") var json = false

    func run() async throws {
        let config = try query.config()
        let answer = try await WhoQuery.run(config: config, timeout: query.timeout)
        guard !answer.answered.isEmpty else { throw query.nobodyAnswered(config) }
        if json {
            struct Document: Encodable { let online: [String]; let offline: [String] }
            try JSONOutput.print(Document(online: answer.online, offline: answer.offline))
            return
        }
        print("online:  \(answer.online.isEmpty ? "(nobody)" : answer.online.joined(separator: ", "))")
        print("offline: \(answer.offline.isEmpty ? "(nobody)" : answer.offline.joined(separator: ", "))")
    }
}
