@testable import PhotoCloudWeb
import Testing

@Suite("The web album's access rules: token, cookie, host name, Origin")
struct WebAccessTests {
    let access = WebAccess(token: String(repeating: "ab", count: 32), label: "0123456789abcdef", port: 8123)
    let host = "pc-0123456789abcdef.localhost:8123"
    var cookie: String { "other=1; photocloud=\(access.token)" }

    func decide(_ method: String = "GET", _ path: String = "/album", query: String? = nil, host: String? = nil, cookie: String?,
                origin: String? = nil, fetchSite: String? = nil) -> WebAccess.Decision {
        access.decide(method: method, path: path, query: query, host: host ?? self.host, cookie: cookie, origin: origin, fetchSite: fetchSite)
    }

    @Test func theURLNamesAHostOfItsOwn() {
        #expect(access.url == "http://pc-0123456789abcdef.localhost:8123/?token=\(access.token)")
        let a = WebAccess.newLabel(), b = WebAccess.newLabel()
        #expect(a != b && a.count == 16)
    }

    @Test func theTokenInTheURLBecomesACookieAndLeavesTheAddress() {
        #expect(decide("GET", "/inbox", query: "token=\(access.token)&note=hi", cookie: nil) == .admit(location: "/inbox?note=hi"))
        #expect(access.cookie == "photocloud=\(access.token); Path=/; HttpOnly; SameSite=Strict")
        #expect(!access.cookie.contains("Domain"))
        // Never on to another site.
        #expect(decide("GET", "//evil.example/x", query: "token=\(access.token)", cookie: nil) == .admit(location: "/"))
    }

    @Test func withoutTheTokenOrWithAnotherNothingIsServed() {
        #expect(decide(cookie: nil).isUnauthorized)
        let wrong = String(repeating: "ac", count: 32)
        #expect(decide("GET", "/", query: "token=\(wrong)", cookie: nil).isUnauthorized)
        #expect(decide(cookie: "photocloud=\(wrong)").isUnauthorized)
        #expect(decide(cookie: cookie) == .allow)
        // A second cookie of the name (set for a narrower path by someone else) locks nobody out.
        #expect(decide(cookie: "photocloud=\(wrong); photocloud=\(access.token)") == .allow)
    }

    @Test func onlyThePagesOwnHostNameIsServedEvenWithTheCookie() {
        // 127.0.0.1 would share its cookies with every port; evil.example resolving to 127.0.0.1 is DNS rebinding.
        for other in ["127.0.0.1:8123", "localhost:8123", "evil.example:8123", "pc-0123456789abcdee.localhost:8123", "pc-0123456789abcdef.localhost:8124"] {
            #expect(decide(host: other, cookie: cookie).isForbidden, "\(other)")
        }
        #expect(access.decide(method: "GET", path: "/album", query: nil, host: nil, cookie: cookie, origin: nil).isForbidden)
        #expect(decide(host: host.uppercased(), cookie: cookie) == .allow)
        // The refusal names the page's own address (not the request's Origin, which a plain GET lacks).
        #expect(decide(host: "127.0.0.1:8123", cookie: cookie, origin: "http://evil.example")
                == .forbidden("this page answers only at http://\(host), the address `photocloud peer --web` printed"))
    }

    @Test func aChangeMustComeFromThePageItself() {
        let post = { (origin: String?) in decide("POST", "/album/share", cookie: cookie, origin: origin) }
        #expect(post("http://\(host)") == .allow)
        #expect(post(nil).isForbidden)
        #expect(post("http://evil.example").isForbidden)
        #expect(post("http://127.0.0.1:8123").isForbidden)
        #expect(post("null").isForbidden)
        // A token in a POST's URL admits nothing: only the cookie counts there.
        #expect(decide("POST", "/album/share", query: "token=\(access.token)", cookie: nil, origin: "http://\(host)").isUnauthorized)
    }

    @Test func whatABrowserSaysAnotherSiteAskedIsRefusedEvenAGet() {
        #expect(decide(cookie: cookie, fetchSite: "same-origin") == .allow)
        #expect(decide(cookie: cookie, fetchSite: "none") == .allow)
        #expect(decide("GET", "/people/alice", cookie: cookie, fetchSite: "same-site").isForbidden)
        #expect(decide(cookie: cookie, fetchSite: "cross-site").isForbidden)
    }

    @Test func tokensAreFreshAndLong() {
        let a = WebAccess.newToken(), b = WebAccess.newToken()
        #expect(a != b)
        #expect(a.count == 64 && a.allSatisfy(\.isHexDigit))
    }

    @Test func textFromUsersIsEscapedInPages() {
        let page = WebPages.people(user: "alice", online: ["<script>x</script>"], offline: ["a\"b"], note: "<b>")
        #expect(!page.contains("<script>x") && page.contains("&lt;script&gt;x"))
        #expect(page.contains("a&quot;b") && page.contains("&lt;b&gt;"))
    }

    @Test func aQuoteWithACombiningMarkAfterItStillCannotEndAnAttribute() {
        let title = "x\u{0022}\u{0301} srcset=data:,y"   // one Character that is not `"`, whose first scalar is
        #expect(!WebPages.escape(title).unicodeScalars.contains("\""))
        #expect(WebPages.escape(title).hasPrefix("x&quot;\u{0301}"))
    }

    @Test func anEventIsOneLineOfJSONWhateverTheNames() {
        let event = WebAlbum.event(.requestReceived(.init(bytes: Array(repeating: 1, count: 8))!, from: "a\"\nb"))
        #expect(event.hasPrefix("event: request\ndata: {"))
        #expect(event.split(separator: "\n").count == 2)
    }
}

extension WebAccess.Decision {
    var isUnauthorized: Bool { if case .unauthorized = self { true } else { false } }
    var isForbidden: Bool { if case .forbidden = self { true } else { false } }
}
