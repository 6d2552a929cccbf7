import Crypto
import Foundation

/// Who may use a daemon's web page, as a pure value: the checks every
/// request passes before a handler sees it (`WebAlbum` applies them).
///
/// - The daemon binds 127.0.0.1 only; the page is reached as
///   `http://127.0.0.1:PORT` or `http://localhost:PORT` (any other `Host` is
///   refused: a name of an attacker's that resolves to 127.0.0.1, DNS
///   rebinding, gets nothing).
/// - The URL the daemon prints carries a random token (32 bytes, as
///   Jupyter does). Opened once, it becomes an HttpOnly, SameSite=Strict
///   cookie, and the browser is sent on to the same path without it (the
///   token leaves the address bar and the history).
/// - Every other request needs that cookie: 401 without it. Cookies of
///   127.0.0.1 are shared by every port, so the name carries the port:
///   alice's and bob's pages in one browser keep apart.
/// - A request that changes anything (anything but GET and HEAD) must say
///   where it comes from (`Origin`) and come from the page itself: a form on
///   another site cannot make the daemon share, grant or approve.
public struct WebAccess: Sendable {
    public let token: String
    public let port: Int

    public init(token: String, port: Int) {
        self.token = token
        self.port = port
    }

    /// 32 random bytes, in hex.
    public static func newToken() -> String {
        SymmetricKey(size: .bits256).withUnsafeBytes { $0.map { String(format: "%02x", $0) }.joined() }
    }

    public var cookieName: String { "photocloud-\(port)" }

    /// The URL to open: the page, with the token.
    public var url: String { "http://127.0.0.1:\(port)/?token=\(token)" }

    /// The `Set-Cookie` value that holds the token.
    public var cookie: String { "\(cookieName)=\(token); Path=/; HttpOnly; SameSite=Strict" }

    public enum Decision: Sendable, Equatable {
        case allow
        /// The token came in the URL: set the cookie and send the browser on to `location`.
        case admit(location: String)
        case unauthorized(String)
        case forbidden(String)
    }

    /// What becomes of a request to `path` (with `query`, undecoded) carrying these headers.
    public func decide(method: String, path: String, query: String?, host: String?, cookie: String?, origin: String?) -> Decision {
        guard let host, allowedHosts.contains(host.lowercased()) else {
            return .forbidden("this page answers only at 127.0.0.1:\(port) or localhost:\(port), not \(host.map { String($0.prefix(80)) } ?? "no host")")
        }
        let changes = method != "GET" && method != "HEAD"
        if changes {
            guard let origin else { return .forbidden("a request that changes something must say where it comes from (Origin)") }
            guard allowedOrigins.contains(origin.lowercased()) else {
                return .forbidden("a request from \(origin.prefix(80)) may not change anything here")
            }
        }
        if !changes, let offered = Self.parameter("token", in: query) {
            guard Self.same(offered, token) else { return .unauthorized("that link's token is not this page's; open the URL the daemon printed") }
            let rest = Self.removing("token", from: query)
            return .admit(location: path + (rest.isEmpty ? "" : "?" + rest))
        }
        guard let held = Self.cookieValue(cookieName, in: cookie), Self.same(held, token) else {
            return .unauthorized("open the URL that `photocloud peer --web` printed (it carries this page's token)")
        }
        return .allow
    }

    private var allowedHosts: Set<String> { ["127.0.0.1:\(port)", "localhost:\(port)"] }
    private var allowedOrigins: Set<String> { ["http://127.0.0.1:\(port)", "http://localhost:\(port)"] }

    /// Compared in time that does not depend on where they differ.
    static func same(_ a: String, _ b: String) -> Bool {
        let x = Array(a.utf8), y = Array(b.utf8)
        guard x.count == y.count else { return false }
        return zip(x, y).reduce(UInt8(0)) { $0 | ($1.0 ^ $1.1) } == 0
    }

    static func cookieValue(_ name: String, in header: String?) -> String? {
        guard let header else { return nil }
        for part in header.split(separator: ";") {
            let pair = part.trimmingCharacters(in: .whitespaces)
            guard let equals = pair.firstIndex(of: "=") else { continue }
            if pair[..<equals] == name { return String(pair[pair.index(after: equals)...]) }
        }
        return nil
    }

    static func parameter(_ name: String, in query: String?) -> String? {
        guard let query else { return nil }
        for part in query.split(separator: "&") where part.hasPrefix(name + "=") {
            return String(part.dropFirst(name.count + 1)).removingPercentEncoding
        }
        return nil
    }

    static func removing(_ name: String, from query: String?) -> String {
        (query ?? "").split(separator: "&").filter { !$0.hasPrefix(name + "=") && $0 != name }.joined(separator: "&")
    }
}
