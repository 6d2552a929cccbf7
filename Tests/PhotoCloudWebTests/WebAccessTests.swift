@testable import PhotoCloudWeb
import Testing

@Suite("The web album's access rules: token, cookie, Host and Origin")
struct WebAccessTests {
    let access = WebAccess(token: String(repeating: "ab", count: 32), port: 8123)
    var cookie: String { "other=1; photocloud-8123=\(access.token)" }

    @Test func theTokenInTheURLBecomesACookieAndLeavesTheAddress() {
        let decision = access.decide(method: "GET", path: "/inbox", query: "token=\(access.token)&note=hi", host: "127.0.0.1:8123", cookie: nil, origin: nil)
        #expect(decision == .admit(location: "/inbox?note=hi"))
        #expect(access.cookie.contains("HttpOnly") && access.cookie.contains("SameSite=Strict"))
        #expect(access.cookie.hasPrefix("photocloud-8123=\(access.token);"))
    }

    @Test func withoutTheTokenOrWithAnotherNothingIsServed() {
        #expect(access.decide(method: "GET", path: "/album", query: nil, host: "127.0.0.1:8123", cookie: nil, origin: nil).isUnauthorized)
        let wrong = String(repeating: "ac", count: 32)
        #expect(access.decide(method: "GET", path: "/", query: "token=\(wrong)", host: "127.0.0.1:8123", cookie: nil, origin: nil).isUnauthorized)
        #expect(access.decide(method: "GET", path: "/album", query: nil, host: "127.0.0.1:8123", cookie: "photocloud-8123=\(wrong)", origin: nil).isUnauthorized)
        // Another port's cookie (another user's page on this machine) is not this page's.
        #expect(access.decide(method: "GET", path: "/album", query: nil, host: "127.0.0.1:8123", cookie: "photocloud-8124=\(access.token)", origin: nil).isUnauthorized)
        #expect(access.decide(method: "GET", path: "/album", query: nil, host: "localhost:8123", cookie: cookie, origin: nil) == .allow)
    }

    @Test func aNameThatIsNotThisMachinesLoopbackIsRefusedEvenWithTheCookie() {
        // DNS rebinding: evil.example resolving to 127.0.0.1 carries no cookie of ours, and its Host gives it away.
        #expect(access.decide(method: "GET", path: "/album", query: nil, host: "evil.example:8123", cookie: cookie, origin: nil).isForbidden)
        #expect(access.decide(method: "GET", path: "/album", query: nil, host: nil, cookie: cookie, origin: nil).isForbidden)
    }

    @Test func aChangeMustComeFromThePageItself() {
        let post = { (origin: String?) in access.decide(method: "POST", path: "/album/share", query: nil, host: "127.0.0.1:8123", cookie: cookie, origin: origin) }
        #expect(post("http://127.0.0.1:8123") == .allow)
        #expect(post("http://localhost:8123") == .allow)
        #expect(post(nil).isForbidden)
        #expect(post("http://evil.example").isForbidden)
        #expect(post("http://127.0.0.1:8124").isForbidden)
        // A token in a POST's URL admits nothing: only the cookie counts there.
        let tokenOnly = access.decide(method: "POST", path: "/album/share", query: "token=\(access.token)", host: "127.0.0.1:8123", cookie: nil,
                                      origin: "http://127.0.0.1:8123")
        #expect(tokenOnly.isUnauthorized)
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
}

extension WebAccess.Decision {
    var isUnauthorized: Bool { if case .unauthorized = self { true } else { false } }
    var isForbidden: Bool { if case .forbidden = self { true } else { false } }
}
