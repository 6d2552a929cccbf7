import Crypto
import Foundation

/// Who may use a daemon's web page, as a pure value: the checks every
/// request passes before a handler sees it (`WebAlbum` applies them).
///
/// - The daemon binds 127.0.0.1 only, and answers only to a host name of
///   its own, `pc-LABEL.localhost:PORT` (browsers send every `*.localhost`
///   to the loopback), with LABEL random per daemon. A browser keeps
///   cookies per host name but not per port: a cookie of `127.0.0.1` would
///   go to any program another user of the machine listens with on another
///   port of 127.0.0.1, once the browser visits it. Nobody can send the
///   browser to this name without knowing LABEL, and any other `Host` is
///   refused (a name of an attacker's that resolves to 127.0.0.1, DNS
///   rebinding, gets nothing).
/// - The URL the daemon prints carries a random token too (32 bytes, as
///   Jupyter does). Opened once, it becomes an HttpOnly, SameSite=Strict,
///   host-only cookie, and the browser is sent on to the same path without
///   it (the token leaves the address bar and the history).
/// - Every other request needs that cookie: 401 without it.
/// - A request that changes anything (anything but GET and HEAD) must say
///   where it comes from (`Origin`) and come from the page itself; and a
///   request the browser says another site made (`Sec-Fetch-Site`) is
///   refused, whatever its method: a page elsewhere cannot make the daemon
///   share, grant, approve or browse.
public struct WebAccess: Sendable {
    public let token: String
    public let port: Int
    /// The host name's random part: `pc-LABEL.localhost`.
    public let label: String

    public init(token: String, label: String, port: Int) {
        self.token = token
        self.label = label
        self.port = port
    }

    /// 8 random bytes, in hex: the host name's own part.
    public static func newLabel() -> String { String(newToken().prefix(16)) }

    /// 32 random bytes, in hex.
    public static func newToken() -> String {
        SymmetricKey(size: .bits256).withUnsafeBytes { $0.map { String(format: "%02x", $0) }.joined() }
    }

    public var cookieName: String { "photocloud" }

    /// The page's host and port, as a browser sends it in `Host`.
    public var host: String { "pc-\(label).localhost:\(port)" }

    /// The page's origin.
    public var origin: String { "http://\(host)" }

    /// The URL to open: the page, with the token.
    public var url: String { "\(origin)/?token=\(token)" }

    /// The `Set-Cookie` value that holds the token (host-only: no Domain).
    public var cookie: String { "\(cookieName)=\(token); Path=/; HttpOnly; SameSite=Strict" }

    public enum Decision: Sendable, Equatable {
        case allow
        /// The token came in the URL: set the cookie and send the browser on to `location`.
        case admit(location: String)
        case unauthorized(String)
        case forbidden(String)
    }

    /// What becomes of a request to `path` (with `query`, undecoded) carrying these headers.
    public func decide(method: String, path: String, query: String?, host: String?, cookie: String?, origin: String?,
                       fetchSite: String? = nil) -> Decision {
        guard let host, host.lowercased() == self.host else {
            return .forbidden("this page answers only at \(self.origin), the address `photocloud peer --web` printed")
        }
        if let fetchSite, fetchSite != "same-origin", fetchSite != "none" {
            return .forbidden("a request another site made (\(fetchSite.prefix(20))) is not served here")
        }
        let changes = method != "GET" && method != "HEAD"
        if changes {
            guard let origin else { return .forbidden("a request that changes something must say where it comes from (Origin)") }
            guard origin.lowercased() == self.origin else {
                return .forbidden("a request from \(origin.prefix(80)) may not change anything here")
            }
        }
        if !changes, let offered = Self.parameter("token", in: query) {
            guard Self.same(offered, token) else { return .unauthorized("that link's token is not this page's; open the URL the daemon printed") }
            let rest = Self.removing("token", from: query)
            // Only a path of this page: "//host" would send the browser to another site.
            let here = path.hasPrefix("/") && !path.hasPrefix("//") && !path.contains("\\") ? path : "/"
            return .admit(location: here + (rest.isEmpty ? "" : "?" + rest))
        }
        guard Self.cookieValues(cookieName, in: cookie).contains(where: { Self.same($0, token) }) else {
            return .unauthorized("open the URL that `photocloud peer --web` printed (it carries this page's token)")
        }
        return .allow
    }

    /// Compared in time that does not depend on where they differ.
    static func same(_ a: String, _ b: String) -> Bool {
        let x = Array(a.utf8), y = Array(b.utf8)
        guard x.count == y.count else { return false }
        return zip(x, y).reduce(UInt8(0)) { $0 | ($1.0 ^ $1.1) } == 0
    }

    /// Every value of the cookie `name` (a browser sends several of one name when their paths differ).
    static func cookieValues(_ name: String, in header: String?) -> [String] {
        guard let header else { return [] }
        return header.split(separator: ";").compactMap { part in
            let pair = part.trimmingCharacters(in: .whitespaces)
            guard let equals = pair.firstIndex(of: "="), pair[..<equals] == name else { return nil }
            return String(pair[pair.index(after: equals)...])
        }
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
