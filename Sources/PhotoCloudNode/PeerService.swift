import Foundation
import PNGCodec
import PhotoCloudProtocol
import PhotoCloudStore

/// The daemon's side of the one-shot commands: each `LocalRequest` from the
/// local control socket becomes a call on the `PeerActor`, and its result
/// the lines (or JSON) the command prints. Paths arrive absolute (the
/// command resolves them where it runs); files are read and written here,
/// by the same user.
public struct PeerService: Sendable {
    public let peer: PeerActor

    public init(peer: PeerActor) { self.peer = peer }

    public func handle(_ request: LocalRequest, progress: ProgressSink) async -> LocalReply {
        do {
            return try await perform(request, progress: progress)
        } catch let error as NodeError {
            return .failure(error.message)
        } catch let error as PeerError {
            return .failure(error.message)
        } catch let error as StoreError {
            return .failure(error.message)
        } catch let error as PNGError {
            return .failure(error.message)
        } catch {
            return .failure("\(error)")
        }
    }

    private func perform(_ request: LocalRequest, progress: ProgressSink) async throws -> LocalReply {
        let user = peer.identity.user
        let json = request.flag("json")
        if let cluster = request.string("cluster"), cluster != peer.config.source {
            throw NodeError(.clusterFile, "\(user)'s daemon runs with the cloud of \(peer.config.source), not \(cluster); restart it with --cluster \(cluster)")
        }
        switch request.command {
        case "share":
            let path = try request.required("file")
            let file = try Self.readPhoto(path)
            let title = request.string("title") ?? Self.title(of: path)
            let (photo, added) = try await peer.share(file: file, title: title)
            return .success(lines: ["\(added ? "shared" : "already in the album:") \(title) (\(Self.size(file.count))) as \(photo)"])
        case "album":
            let entries = try await peer.album()
            if json {
                return .success(json: try Self.json(entries.map { AlbumItem(photo: "\($0.photo)", title: $0.title, bytes: $0.bytes, added_at: Self.date($0.addedAt)) }))
            }
            return .success(lines: entries.isEmpty ? ["\(user)'s album is empty; add a photo with `photocloud share IMG`"]
                                : entries.map { "\($0.photo)  \($0.title)  \(Self.size($0.bytes))" })
        case "browse":
            let owner = try request.required("owner")
            progress.report(label: "asking \(owner)", done: 0, total: 0)
            let items = try await peer.browse(owner)
            var lines: [String] = []
            var listed: [PreviewItem] = []
            let out = request.string("out")
            if let out { try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true) }
            for item in items {
                let size = try? PNGCodec().dimensions(of: item.png)
                var written: String?
                if let out {
                    let path = (out as NSString).appendingPathComponent("\(item.photo).png")
                    try FileBytes.writeAtomically(item.png, to: path)
                    written = path
                }
                listed.append(PreviewItem(photo: "\(item.photo)", title: item.title, width: size?.width ?? 0, height: size?.height ?? 0, file: written))
                lines.append("\(item.photo)  \(item.title)  \(size.map { "\($0.width)x\($0.height)" } ?? "?")\(written.map { "  \($0)" } ?? "")")
                if let terminal = request.terminalSize, let image = try? PNGCodec().decode(item.png) {
                    lines += TerminalDrawing.lines(image, columns: min(terminal.columns, 40), rows: min(terminal.rows, 20))
                }
            }
            if json { return .success(json: try Self.json(listed)) }
            return .success(lines: lines.isEmpty ? ["\(owner)'s album is empty"] : lines)
        case "request":
            let target = try request.required("photo")
            guard let slash = target.firstIndex(of: "/"), let photo = PhotoID(target[target.index(after: slash)...]) else {
                throw NodeError(.io, "name the photo as OWNER/PHOTO (the id `photocloud browse OWNER` lists), not \(target.prefix(80))")
            }
            let owner = String(target[..<slash])
            let views = try request.views(default: 1)
            let (id, queued) = try await peer.request(photo, from: owner, views: views)
            return .success(lines: Self.queued(queued, for: owner) + ["asked \(owner) for \(views) view\(views == 1 ? "" : "s") of \(photo): request \(id)"])
        case "requests":
            let pending = try await peer.requests(.incoming, state: .pending)
            if json {
                return .success(json: try Self.json(pending.map { RequestItem(request: "\($0.id)", from: $0.peer, photo: "\($0.photo)", views: Int($0.views)) }))
            }
            return .success(lines: pending.isEmpty ? ["no requests waiting for \(user)'s photos"]
                                : pending.map { "\($0.id)  \($0.peer) asks for \($0.views) view\($0.views == 1 ? "" : "s") of \($0.photo)" })
        case "approve":
            let id = try request.requestKey()
            let views = try request.string("views").map { _ in try request.views(default: 1) }
            let (done, queued) = try await peer.approve(id, views: views) { progress.report(label: "sending", done: Int64($0), total: Int64($1)) }
            let given = views ?? done.views
            return .success(lines: Self.queued(queued, for: done.peer)
                            + ["sent \(done.photo) to \(done.peer) with \(given) view\(given == 1 ? "" : "s") (request \(id))"])
        case "deny":
            let id = try request.requestKey()
            let (done, queued) = try await peer.deny(id)
            return .success(lines: Self.queued(queued, for: done.peer) + ["denied request \(id) from \(done.peer)"])
        case "send":
            let path = try request.required("file"), receiver = try request.required("to")
            let file = try Self.readPhoto(path)
            let views = try request.views(default: 1)
            let (photo, queued) = try await peer.send(file: file, title: request.string("title") ?? Self.title(of: path), to: receiver, views: views) {
                progress.report(label: "sending \((path as NSString).lastPathComponent)", done: Int64($0), total: Int64($1))
            }
            return .success(lines: Self.queued(queued, for: receiver)
                            + ["sent \((path as NSString).lastPathComponent) to \(receiver) with \(views) view\(views == 1 ? "" : "s"): \(photo)"])
        case "inbox":
            let entries = try await peer.inbox()
            if json {
                return .success(json: try Self.json(entries.map {
                    InboxItem(photo: "\($0.photo)", owner: $0.owner, title: $0.title, views_left: Int($0.rights.viewsLeft), received_at: Self.date($0.receivedAt))
                }))
            }
            return .success(lines: entries.isEmpty ? ["\(user)'s inbox is empty"]
                                : entries.map { "\($0.photo)  \($0.title) from \($0.owner)  \($0.rights.viewsLeft) view\($0.rights.viewsLeft == 1 ? "" : "s") left" })
        case "view":
            guard let photo = PhotoID(try request.required("photo")) else { throw NodeError(.io, "a photo id is 32 hex digits (see `photocloud inbox`)") }
            let viewed = try await peer.view(photo)
            var lines: [String] = []
            if let out = request.string("out") {
                try FileBytes.writeAtomically(viewed.file, to: out)
                lines.append("wrote \(viewed.title) from \(viewed.owner) to \(out)")
            } else if let terminal = request.terminalSize {
                lines += (try? TerminalDrawing.lines(PhotoImages.decode(viewed.file), columns: terminal.columns, rows: terminal.rows - 2)) ?? []
            }
            lines.append("\(viewed.title) from \(viewed.owner): \(viewed.viewsLeft) view\(viewed.viewsLeft == 1 ? "" : "s") left")
            return .success(lines: lines)
        case "grant":
            guard let photo = PhotoID(try request.required("photo")) else { throw NodeError(.io, "a photo id is 32 hex digits (see `photocloud album`)") }
            let receiver = try request.required("to")
            guard let text = request.string("views"), let views = UInt32(text), views <= PeerLimits.maxViews else {
                throw NodeError(.io, "--views takes 0 (revoke) to \(PeerLimits.maxViews)")
            }
            let (_, queued) = try await peer.grant(photo, to: receiver, views: views)
            return .success(lines: Self.queued(queued, for: receiver) + [views == 0 ? "revoked \(receiver)'s views of \(photo)"
                                    : "\(receiver) may view \(photo) \(views) more time\(views == 1 ? "" : "s")"])
        default:
            throw NodeError(.localControl, "the daemon does not know the command \(request.command.prefix(40))")
        }
    }

    /// The line that says a message waits in the mailbox (stored on a majority of the servers).
    static func queued(_ queued: Bool, for user: String) -> [String] { queued ? ["queued for \(user) (offline)"] : [] }

    // MARK: Documents

    struct AlbumItem: Encodable { let photo: String; let title: String; let bytes: Int; let added_at: String }
    struct PreviewItem: Encodable { let photo: String; let title: String; let width: Int; let height: Int; let file: String? }
    struct RequestItem: Encodable { let request: String; let from: String; let photo: String; let views: Int }
    struct InboxItem: Encodable { let photo: String; let owner: String; let title: String; let views_left: Int; let received_at: String }

    static func json(_ value: some Encodable) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return String(decoding: try encoder.encode(value), as: UTF8.self)
    }

    static func date(_ date: Date) -> String { ISO8601DateFormatter().string(from: date) }

    /// A file's size as the commands and the web album print it: "241 kB", "4.3 MB".
    public static func size(_ bytes: Int) -> String {
        bytes >= 1_000_000 ? String(format: "%.1f MB", Double(bytes) / 1e6) : "\(max(1, (bytes + 500) / 1_000)) kB"
    }

    static func title(of path: String) -> String { ((path as NSString).lastPathComponent as NSString).deletingPathExtension }

    /// The file at `path` if it is a photo (PNG or JPEG) of at most `PeerLimits.photoBytes`.
    static func readPhoto(_ path: String) throws -> [UInt8] {
        let file = try FileBytes.read(path, limit: PeerLimits.photoBytes)
        guard PhotoImages.isPhoto(file) else {
            throw NodeError(.io, "\(path) is not a photo (PNG or JPEG)")
        }
        return file
    }
}

extension LocalRequest {
    func required(_ name: String) throws -> String {
        guard let value = string(name), !value.isEmpty else { throw NodeError(.localControl, "the command needs \(name)") }
        return value
    }

    func views(default value: UInt32) throws -> UInt32 {
        guard let text = string("views") else { return value }
        guard let views = UInt32(text), (1...PeerLimits.maxViews).contains(views) else {
            throw NodeError(.io, "--views takes 1 to \(PeerLimits.maxViews)")
        }
        return views
    }

    func requestKey() throws -> RequestKey {
        guard let id = RequestKey(try required("request")) else {
            throw NodeError(.io, "a request id is 16 hex digits (see `photocloud requests`)")
        }
        return id
    }

    /// The command's terminal (columns x rows) when its output is one, to draw photos in.
    var terminalSize: (columns: Int, rows: Int)? {
        guard let text = string("terminal"), let x = text.firstIndex(of: "x"),
              let columns = Int(text[..<x]), let rows = Int(text[text.index(after: x)...]),
              (10...1_000).contains(columns), (4...1_000).contains(rows) else { return nil }
        return (columns, rows)
    }
}
