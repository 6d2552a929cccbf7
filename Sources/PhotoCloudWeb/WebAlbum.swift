import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdCore
import Logging
import NIOCore
import PNGCodec
import PhotoCloudNode
import PhotoCloudProtocol
import PhotoCloudStore
import Synchronization

/// `photocloud peer --web`: the user's own daemon serves its album, people,
/// inbox, requests and a viewer on 127.0.0.1, to the browser of whoever
/// holds the URL it prints (`WebAccess`).
///
/// One code path: every page and form calls the `PeerActor` operation the
/// CLI's command calls (share, grant, browse, request, approve, deny, view,
/// inbox, album, requests), and `WhoQuery` as `photocloud who` does; this
/// type only turns their results into HTML. A decrypted photo, and every
/// preview, goes from memory into the response, never to a file, and no
/// response may be cached (`Cache-Control: no-store`).
public final class WebAlbum: Sendable {
    public let peer: PeerActor
    private let token: String
    private let label: String
    private let requestedPort: Int
    /// Set once the server listens (the port is the kernel's choice with `--web-port 0`).
    private let bound = Mutex<WebAccess?>(nil)

    public init(peer: PeerActor, port: Int, token: String = WebAccess.newToken(), label: String = WebAccess.newLabel()) {
        self.peer = peer
        self.requestedPort = port
        self.token = token
        self.label = label
    }

    /// At most this many connections at once (each page open holds one for its live updates).
    static let maxConnections = 64

    /// The access rules once listening (nil before).
    public var access: WebAccess? { bound.withLock { $0 } }

    /// Serves until cancelled; `listening` is called with the access rules (and so the URL) once the port is bound.
    public func run(listening: @escaping @Sendable (WebAccess) async -> Void) async throws {
        var logger = Logger(label: "photocloud.web")
        logger.logLevel = .warning
        let app = Application(
            router: router(),
            // A connection idle between requests for 30 s is closed, and there are never more than 64:
            // whoever opens connections without the token ties up nothing of the daemon's.
            server: .http1(configuration: .init(idleTimeout: .seconds(30))),
            configuration: .init(address: .hostname("127.0.0.1", port: requestedPort), serverName: nil,
                                 availableConnectionsDelegate: MaximumAvailableConnections(Self.maxConnections)),
            onServerRunning: { [self] channel in
                let access = WebAccess(token: token, label: label, port: channel.localAddress?.port ?? requestedPort)
                bound.withLock { $0 = access }
                await listening(access)
            },
            logger: logger
        )
        try await app.run()
    }

    // MARK: Routes

    func router() -> Router<BasicRequestContext> {
        let router = Router()
        router.add(middleware: Guard(album: self))
        router.get("/") { _, _ in Self.redirect("/album") }
        router.get("/app.css") { _, _ in Self.asset(WebAssets.css, type: "text/css; charset=utf-8") }
        router.get("/app.js") { _, _ in Self.asset(WebAssets.js, type: "text/javascript; charset=utf-8") }
        router.get("/events") { [self] _, _ in events() }

        router.get("/album") { [self] request, _ in
            var photos: [WebPages.AlbumPhoto] = []
            for entry in try await peer.album().reversed() {
                photos.append(WebPages.AlbumPhoto(entry: entry, holders: try await peer.holders(of: entry.photo)))
            }
            return html(WebPages.album(user: user, photos: photos, note: Self.note(request)))
        }
        router.get("/album/:photo/preview") { [self] _, context in
            let photo = try Self.photo(context)
            guard let preview = try await peer.preview(of: photo) else { throw HTTPError(.notFound, message: "no photo \(photo) in the album") }
            return Self.bytes(preview, type: "image/png")
        }
        router.post("/album/share") { [self] request, _ in
            let body: ByteBuffer
            do { body = try await request.body.collect(upTo: PeerLimits.photoBytes) } catch is NIOTooManyBytesError {
                throw HTTPError(.contentTooLarge, message: "a photo is at most \(PeerLimits.photoBytes >> 20) MB")
            }
            let file = Array(buffer: body)
            let title = request.uri.queryParameters["title"].map(String.init) ?? ""
            return try await act(.album) {
                let (photo, added) = try await peer.share(file: file, title: title.isEmpty ? "photo" : title)
                return "/album?note=" + Self.query(added ? "Shared \(title.isEmpty ? "the photo" : title)." : "Already in the album: \(photo).")
            }
        }
        router.post("/album/:photo/grant") { [self] request, context in
            let photo = try Self.photo(context)
            let form = try await Self.form(request)
            return try await act(.album) {
                let receiver = try Self.field("to", in: form)
                let views = try Self.views(form, allowZero: true)
                let (_, queued) = try await peer.grant(photo, to: receiver, views: views)
                let said = views == 0 ? "Revoked \(receiver)'s views." : "\(receiver) may view it \(views) more time\(views == 1 ? "" : "s")."
                return "/album?note=" + Self.query(said + (queued ? " Queued: \(receiver) is offline." : ""))
            }
        }

        router.get("/people") { [self] request, _ in
            let who = try await WhoQuery.run(config: peer.config, loop: peer.loop)
            return html(WebPages.people(user: user, online: who.online, offline: who.offline, note: Self.note(request)))
        }
        router.get("/people/:user") { [self] request, context in
            let owner = try context.parameters.require("user")
            return try await show(.people) {
                WebPages.previews(user: user, owner: owner, items: try await peer.browse(owner), note: Self.note(request))
            }
        }
        router.post("/people/:user/request") { [self] request, context in
            let owner = try context.parameters.require("user")
            let form = try await Self.form(request)
            return try await act(.people) {
                guard let photo = PhotoID(try Self.field("photo", in: form)) else { throw BadInput("not a photo id") }
                let views = try Self.views(form, allowZero: false)
                let (_, queued) = try await peer.request(photo, from: owner, views: views)
                return "/requests?note=" + Self.query("Asked \(owner) for \(views) view\(views == 1 ? "" : "s").\(queued ? " Queued: \(owner) is offline." : "")")
            }
        }

        router.get("/inbox") { [self] request, _ in
            html(WebPages.inbox(user: user, entries: try await peer.inbox().reversed(), note: Self.note(request)))
        }
        router.post("/inbox/:photo/view") { [self] _, context in
            let photo = try Self.photo(context)
            return try await show(.inbox, refusal: .forbidden) {
                let viewed = try await peer.view(photo)
                return WebPages.viewer(user: user, title: viewed.title, owner: viewed.owner, file: viewed.file, viewsLeft: viewed.viewsLeft)
            }
        }

        router.get("/requests") { [self] request, _ in
            let titles = Dictionary(try await peer.album().map { ($0.photo, $0.title) }, uniquingKeysWith: { a, _ in a })
            return html(WebPages.requests(user: user, incoming: try await peer.requests(.incoming, state: .pending),
                                          outgoing: try await peer.requests(.outgoing), titles: titles, note: Self.note(request)))
        }
        router.post("/requests/:request/approve") { [self] request, context in
            let id = try Self.requestKey(context)
            let form = try await Self.form(request)
            return try await act(.requests) {
                let views = try Self.views(form, allowZero: false)
                let (done, queued) = try await peer.approve(id, views: views)
                return "/requests?note=" + Self.query("Sent the photo to \(done.peer) with \(views) view\(views == 1 ? "" : "s").\(queued ? " Queued: \(done.peer) is offline." : "")")
            }
        }
        router.post("/requests/:request/deny") { [self] _, context in
            let id = try Self.requestKey(context)
            return try await act(.requests) {
                let (done, _) = try await peer.deny(id)
                return "/requests?note=" + Self.query("Denied \(done.peer)'s request.")
            }
        }
        return router
    }

    private var user: String { peer.identity.user }

    // MARK: Live updates

    /// Server-sent events: one per change in the store (`StoreChange`), and a comment every 15 s so that a
    /// connection through anything that drops idle ones stays up.
    private func events() -> Response {
        let changes = peer.store.changes.listen()
        let body = ResponseBody { writer in
            try await writer.write(ByteBuffer(string: "retry: 2000\n\n"))
            try await withThrowingTaskGroup(of: Void.self) { group in
                let (ticks, tick) = AsyncStream<String>.makeStream(bufferingPolicy: .bufferingNewest(64))
                group.addTask {
                    while !Task.isCancelled {
                        try await Task.sleep(for: .seconds(15))
                        tick.yield(": still here\n\n")
                    }
                }
                group.addTask {
                    for await change in changes { tick.yield(Self.event(change)) }
                    tick.finish()
                }
                for await text in ticks { try await writer.write(ByteBuffer(string: text)) }
                group.cancelAll()
            }
            try await writer.finish(nil)
        }
        var headers = HTTPFields()
        headers[.contentType] = "text/event-stream"
        return Response(status: .ok, headers: headers, body: body)
    }

    struct EventData: Encodable {
        var photo: String?
        var request: String?
        var from: String?
        var state: String?
    }

    static func event(_ change: StoreChange) -> String {
        let data = switch change {
        case .photoReceived(let photo, let from): EventData(photo: "\(photo)", from: from)
        case .requestReceived(let id, let from): EventData(request: "\(id)", from: from)
        case .viewsChanged(let photo): EventData(photo: "\(photo)")
        case .requestAnswered(let id, let state): EventData(request: "\(id)", state: state.rawValue)
        }
        // JSON escapes any line break, so the event stays one `data:` line.
        let json = (try? JSONEncoder().encode(data)).map { String(decoding: $0, as: UTF8.self) } ?? "{}"
        return "event: \(change.name)\ndata: \(json)\n\n"
    }

    // MARK: Responses

    /// A page drawn by `draw`; a refusal of the daemon (an unknown user, no views left) is the page's message, with `refusal`.
    private func show(_ section: WebPages.Section, refusal: HTTPResponse.Status = .conflict,
                      _ draw: () async throws -> String) async throws -> Response {
        try await refusing(section, status: refusal) { html(try await draw()) }
    }

    /// A form's action: on success the browser goes where `perform` says (303); a refusal is shown.
    private func act(_ section: WebPages.Section, _ perform: () async throws -> String) async throws -> Response {
        try await refusing(section, status: .conflict) { Self.redirect(try await perform()) }
    }

    /// `answer`, or the page that says why not: a form this page cannot use (400), or the daemon's refusal (`status`).
    private func refusing(_ section: WebPages.Section, status: HTTPResponse.Status,
                          _ answer: () async throws -> Response) async throws -> Response {
        let message: String, code: HTTPResponse.Status
        do { return try await answer() } catch let error as BadInput {
            (message, code) = (error.message, .badRequest)
        } catch let error where Self.message(error) != nil {
            (message, code) = (Self.message(error)!, status)
        }
        return html(WebPages.refused(user: user, section: section, message: message), status: code)
    }

    /// A form or address this page cannot use (400), as against a refusal of the daemon (409).
    struct BadInput: Error {
        let message: String
        init(_ message: String) { self.message = message }
    }

    /// The one line the CLI would print after `error:`, for the errors the daemon's operations throw.
    static func message(_ error: any Error) -> String? {
        switch error {
        case let error as NodeError: error.message
        case let error as PeerError: error.message
        case let error as StoreError: error.message
        case let error as PNGError: error.message
        default: nil
        }
    }

    private func html(_ text: String, status: HTTPResponse.Status = .ok) -> Response {
        Self.bytes(Array(text.utf8), type: "text/html; charset=utf-8", status: status)
    }

    /// A plain page (`WebPages.bare`) for what does not reach a handler, or fails in one.
    static func bare(_ heading: String, _ message: String, status: HTTPResponse.Status) -> Response {
        bytes(Array(WebPages.bare(heading, message).utf8), type: "text/html; charset=utf-8", status: status)
    }

    static func bytes(_ bytes: [UInt8], type: String, status: HTTPResponse.Status = .ok) -> Response {
        var headers = HTTPFields()
        headers[.contentType] = type
        return Response(status: status, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(bytes: bytes)))
    }

    static func asset(_ text: String, type: String) -> Response { bytes(Array(text.utf8), type: type) }

    static func redirect(_ location: String) -> Response {
        Response(status: .seeOther, headers: [.location: location])
    }

    // MARK: Reading requests

    /// The note of the last action (the query's values arrive decoded).
    static func note(_ request: Request) -> String? {
        request.uri.queryParameters["note"].map { String($0.prefix(500)) }
    }

    /// `text` as a query value: everything but ASCII letters and digits percent-encoded.
    static func query(_ text: String) -> String {
        text.addingPercentEncoding(withAllowedCharacters: CharacterSet(charactersIn: "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")) ?? ""
    }

    static func photo(_ context: BasicRequestContext) throws -> PhotoID {
        guard let photo = PhotoID(try context.parameters.require("photo")) else { throw HTTPError(.notFound, message: "no such photo here") }
        return photo
    }

    static func requestKey(_ context: BasicRequestContext) throws -> RequestKey {
        guard let id = RequestKey(try context.parameters.require("request")) else { throw HTTPError(.notFound, message: "no such request here") }
        return id
    }

    /// A urlencoded form's fields (a form's body is small: 64 KB at most).
    static func form(_ request: Request) async throws -> [String: String] {
        let body = try await request.body.collect(upTo: 64 << 10)
        var fields: [String: String] = [:]
        for pair in String(buffer: body).split(separator: "&") {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            func decode(_ text: Substring) -> String { String(text).replacingOccurrences(of: "+", with: " ").removingPercentEncoding ?? "" }
            fields[decode(parts[0])] = parts.count > 1 ? decode(parts[1]) : ""
        }
        return fields
    }

    static func field(_ name: String, in form: [String: String]) throws -> String {
        guard let value = form[name]?.trimmingCharacters(in: .whitespaces), !value.isEmpty else { throw BadInput("the form needs \(name)") }
        return value
    }

    static func views(_ form: [String: String], allowZero: Bool) throws -> UInt32 {
        guard let views = UInt32(try field("views", in: form)), views <= PeerLimits.maxViews, allowZero || views > 0 else {
            throw BadInput("views take \(allowZero ? 0 : 1) to \(PeerLimits.maxViews)")
        }
        return views
    }

    // MARK: Access

    /// `WebAccess` before every handler, and the headers every answer carries.
    struct Guard: RouterMiddleware {
        typealias Context = BasicRequestContext
        let album: WebAlbum
        static let fetchSite = HTTPField.Name("Sec-Fetch-Site")!

        func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
            var response: Response
            if let access = album.access {
                let decision = access.decide(method: request.method.rawValue, path: request.uri.path, query: request.uri.query,
                                             host: request.head.authority, cookie: request.headers[values: .cookie].joined(separator: "; "),
                                             origin: request.headers[.origin], fetchSite: request.headers[Self.fetchSite])
                switch decision {
                case .allow:
                    do { response = try await next(request, context) } catch let error as HTTPError {
                        response = WebAlbum.bare(error.status == .notFound ? "Not found" : "Not done", error.body ?? "\(error.status)", status: error.status)
                    } catch {
                        // The daemon could not do it (its store, the network): said, with the headers every answer carries.
                        let message = WebAlbum.message(error) ?? "\(error)"
                        response = WebAlbum.bare("Not done", String(message.prefix(300)), status: .internalServerError)
                    }
                case .admit(let location):
                    response = WebAlbum.redirect(location)
                    response.headers[.setCookie] = access.cookie
                case .unauthorized(let why):
                    response = WebAlbum.bare("Not signed in", why, status: .unauthorized)
                case .forbidden(let why):
                    response = WebAlbum.bare("Not allowed", why, status: .forbidden)
                }
            } else {
                response = Response(status: .serviceUnavailable)
            }
            response.headers[.cacheControl] = "no-store"
            response.headers[.contentSecurityPolicy] = "default-src 'none'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
                + "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
            response.headers[.xContentTypeOptions] = "nosniff"
            return response
        }
    }
}
