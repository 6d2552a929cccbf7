import Foundation
import PNGCodec
import PhotoCloudNode
import PhotoCloudTestKit
import Testing

extension ServerProcesses {
    /// `photocloud peer --web` over HTTP, on the real binary: 3 servers, alice
    /// and bob each with their page; every request as a browser (or another
    /// site, or another user of the machine) would send it.
    @Suite("photocloud peer --web: the album in a browser, over HTTP")
    struct WebAlbumTests {
        static let binary = BinaryRunner.locate()

        /// One user's page: its port, and the cookie its token became.
        struct Page {
            let http: LoopbackHTTP
            let cookie: String
            var origin: String { "http://\(http.host)" }

            func get(_ path: String) throws -> LoopbackHTTP.Response { try http.send("GET", path, headers: ["Cookie": cookie]) }

            func post(_ path: String, form: [String: String] = [:], body: [UInt8]? = nil) throws -> LoopbackHTTP.Response {
                let encoded = form.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? "")" }
                    .joined(separator: "&")
                return try http.send("POST", path, headers: ["Cookie": cookie, "Origin": origin,
                                                             "Content-Type": body == nil ? "application/x-www-form-urlencoded" : "application/octet-stream"],
                                     body: body ?? Array(encoded.utf8))
            }
        }

        @Test func theStoryInPagesWithTheTokenAndOriginChecked() async throws {
            let binary = try #require(Self.binary, "build the photocloud binary first (make test does)")
            try await withTemporaryFolder { folder in
                let base = TestPorts.cluster()
                let cluster = folder + "/cluster.toml", home = folder + "/home"
                _ = try await binary.run(["cluster", "init", "--servers", "3", "--base-port", "\(base)", "--out", cluster])
                let servers = try (1...3).map { try binary.startServer(id: $0, cluster: cluster, data: folder + "/s\($0)", log: folder + "/server\($0).log") }
                var peers: [Process] = []
                defer { for process in servers + peers where process.isRunning { kill(process.processIdentifier, SIGKILL) } }
                let environment = ["PHOTOCLOUD_HOME": home, "PHOTOCLOUD_CLUSTER": cluster]
                for user in ["alice", "bob"] {
                    peers.append(try binary.start(["peer", "--user", user, "--web"], log: folder + "/\(user).log", environment: environment))
                }
                // Each daemon writes its URL (with the token) for its user alone, and prints it.
                var urls: [String: String] = [:]
                let deadline = ContinuousClock.now + .seconds(20)
                while ContinuousClock.now < deadline, urls.count < 2 {
                    for user in ["alice", "bob"] {
                        urls[user] = (try? String(contentsOfFile: home + "/\(user)/web-url", encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines)
                    }
                    try await Task.sleep(for: .milliseconds(100))
                }
                for user in ["alice", "bob"] {
                    let url = try #require(urls[user], "\(user)'s daemon wrote no web-url")
                    #expect(url.hasPrefix("http://pc-") && url.contains(".localhost:") && url.contains("/?token="))
                    let mode = try FileManager.default.attributesOfItem(atPath: home + "/\(user)/web-url")[.posixPermissions] as? Int
                    #expect(mode == 0o600)
                    let log = try String(contentsOfFile: folder + "/\(user).log", encoding: .utf8)
                    #expect(log.contains("web album: \(url)"))
                }
                // Until both are online: the servers hold their records (a page can be up before its daemon registered).
                try await binary.waitForWho("online:  alice, bob", cluster: cluster, environment: environment)
                let alice = try Self.signIn(urls["alice"]!), bob = try Self.signIn(urls["bob"]!)

                // Without the token, or with another page's, nothing is served.
                #expect(try alice.http.send("GET", "/album").status == 401)
                #expect(try alice.http.send("GET", "/inbox", headers: ["Cookie": bob.cookie]).status == 401)
                #expect(try alice.http.send("GET", "/?token=" + String(repeating: "0", count: 64)).status == 401)
                // Only at the page's own host name: not 127.0.0.1 (whose cookies every port shares), not a rebound name.
                for host in ["evil.example:\(alice.http.port)", "127.0.0.1:\(alice.http.port)", "localhost:\(alice.http.port)"] {
                    #expect(try alice.http.send("GET", "/album", headers: ["Cookie": alice.cookie], host: host).status == 403)
                }
                // What the browser says another site asked for is refused, even a GET.
                #expect(try alice.http.send("GET", "/people/bob", headers: ["Cookie": alice.cookie, "Sec-Fetch-Site": "same-site"]).status == 403)

                // A change from another site, or without saying where from, is refused and changes nothing.
                let photoFile = try SyntheticPhoto.png(seed: 7, width: 320, height: 240)
                let path = "/album/share?title=harbour%20100%25"
                #expect(try alice.http.send("POST", path, headers: ["Cookie": alice.cookie, "Origin": "http://evil.example"], body: photoFile).status == 403)
                #expect(try alice.http.send("POST", path, headers: ["Cookie": alice.cookie], body: photoFile).status == 403)
                #expect(try alice.get("/album").text.contains("No photos yet"))

                // alice shares from the page.
                let shared = try alice.post(path, body: photoFile)
                #expect(shared.status == 303 && shared.header("Location")?.hasPrefix("/album?note=") == true)
                let albumPage = try alice.get("/album")
                #expect(albumPage.text.contains("<h2>harbour 100%</h2>"))
                #expect(try alice.get(try #require(shared.header("Location"))).text.contains("Shared harbour 100%."))
                #expect(albumPage.status == 200 && albumPage.header("Cache-Control") == "no-store")
                let photo = try #require(Self.first(#"id="photo-([0-9a-f]{32})""#, in: albumPage.text), "no photo on alice's album page")
                let preview = try alice.get("/album/\(photo)/preview")
                #expect(preview.status == 200 && preview.header("Content-Type") == "image/png" && preview.header("Cache-Control") == "no-store")
                #expect(try PNGCodec().dimensions(of: preview.body).width == 256)
                // Not a photo: one clear refusal, nothing added.
                let junk = try alice.post("/album/share?title=junk", body: Array("not a photo".utf8))
                #expect(junk.status == 409 && junk.text.contains("not a photo"))
                // A form this page cannot use is the user's mistake (400), not the daemon's refusal.
                #expect(try alice.post("/album/0123456789abcdef0123456789abcdef/grant", form: ["to": "bob", "views": "many"]).status == 400)

                // bob sees alice online, her previews, and asks for 2 views.
                let people = try bob.get("/people").text
                #expect(people.contains(#"<a href="/people/alice">alice</a>"#))
                let previews = try bob.get("/people/alice")
                #expect(previews.status == 200 && previews.text.contains("harbour") && previews.text.contains("data:image/png;base64,"))
                let asked = try bob.post("/people/alice/request", form: ["photo": photo, "views": "2"])
                #expect(asked.status == 303, "\(asked.text)")

                // alice approves with 2 views; bob's page hears of the photo as it arrives.
                let requests = try alice.get("/requests").text
                #expect(requests.contains("<strong>bob</strong> asks for 2 views"))
                let request = try #require(Self.first(#"id="request-([0-9a-f]{16})""#, in: requests), "no request on alice's page")
                var approved: LoopbackHTTP.Response?
                let heard = try bob.http.awaitEvent(containing: "event: photo", headers: ["Cookie": bob.cookie], within: .seconds(60)) {
                    approved = try alice.post("/requests/\(request)/approve", form: ["views": "2"])
                }
                #expect(approved?.status == 303, "\(approved?.text ?? "")")
                #expect(heard, "bob's page heard no event of the photo")
                #expect(try bob.get("/inbox").text.contains(#"<span class="views-left">2</span> views left"#))

                // Viewing shows the original bytes from memory, and counts: 1 left, 0 left, then refused.
                let before = Self.files(under: home + "/bob")
                for left in [1, 0] {
                    let viewed = try bob.post("/inbox/\(photo)/view")
                    #expect(viewed.status == 200 && viewed.header("Cache-Control") == "no-store")
                    #expect(viewed.text.contains(#"<span id="views-left">\#(left)</span>"#))
                    let shown = try #require(Self.first(#"data:image/png;base64,([A-Za-z0-9+/=]+)"#, in: viewed.text))
                    #expect(Data(base64Encoded: shown).map(Array.init) == photoFile, "the page does not show the photo alice shared")
                }
                let refused = try bob.post("/inbox/\(photo)/view")
                #expect(refused.status == 403 && refused.text.contains("no views left"))
                #expect(!refused.text.contains("base64"))
                // Nothing was written to show it: the same files as before (the store's own aside).
                #expect(Self.files(under: home + "/bob") == before)

                // alice grants one more; bob views once again.
                let granted = try alice.post("/album/\(photo)/grant", form: ["to": "bob", "views": "1"])
                #expect(granted.status == 303)
                #expect(try alice.get("/album").text.contains(#"<tr class="holder" data-user="bob"><td>bob</td><td class="views">1</td>"#))
                var again = try bob.post("/inbox/\(photo)/view")
                for _ in 0..<50 where again.status != 200 {
                    try await Task.sleep(for: .milliseconds(100))
                    again = try bob.post("/inbox/\(photo)/view")
                }
                #expect(again.status == 200 && again.text.contains(#"<span id="views-left">0</span>"#))

                // Revoke: alice grants 3, then takes them back; bob's view is refused once the revocation is in.
                #expect(try alice.post("/album/\(photo)/grant", form: ["to": "bob", "views": "3"]).status == 303)
                #expect(try alice.post("/album/\(photo)/grant", form: ["to": "bob", "views": "0"]).status == 303)
                #expect(try alice.get("/album").text.contains(#"<td class="views">0</td>"#))
                #expect(try bob.get("/inbox").text.contains(#"<span class="views-left">0</span> views left"#))
                #expect(try bob.post("/inbox/\(photo)/view").status == 403)

                // A JPEG shares as well, with a preview; bob asks for it and alice denies.
                let jpeg = try JPEGEncoder(quality: 85).encode(try PNGCodec().decode(SyntheticPhoto.png(seed: 8, width: 400, height: 300)))
                #expect(try alice.post("/album/share?title=market", body: jpeg).status == 303)
                let market = try #require(Self.first(#"id="photo-([0-9a-f]{32})"[^>]*>\s*<img[^>]*alt="market""#, in: try alice.get("/album").text))
                #expect(try PNGCodec().dimensions(of: try alice.get("/album/\(market)/preview").body).width == 256)
                #expect(try bob.post("/people/alice/request", form: ["photo": market, "views": "1"]).status == 303)
                let second = try #require(Self.first(#"id="request-([0-9a-f]{16})""#, in: try alice.get("/requests").text))
                #expect(try alice.post("/requests/\(second)/deny").status == 303)
                #expect(!(try alice.get("/requests").text.contains(second)))
                var answered = ""
                for _ in 0..<50 {
                    answered = try bob.get("/requests").text
                    if answered.contains("<strong>denied</strong>") { break }
                    try await Task.sleep(for: .milliseconds(100))
                }
                #expect(answered.contains("<strong>denied</strong>") && answered.contains("<strong>approved</strong>"))
                // Approving what was denied is refused, with the daemon's own words.
                let late = try alice.post("/requests/\(second)/approve", form: ["views": "1"])
                #expect(late.status == 409 && late.text.contains("was denied already"))
            }
        }

        /// Opens the printed URL: the token comes back as an HttpOnly, SameSite=Strict cookie and a redirect without it.
        static func signIn(_ url: String) throws -> Page {
            let host = try #require(url.split(separator: "/").dropFirst().first.map(String.init))   // "pc-LABEL.localhost:PORT"
            let port = try #require(Int(host.split(separator: ":")[1]))
            let http = LoopbackHTTP(port: port, host: host)
            let admitted = try http.send("GET", String(url.dropFirst("http://\(host)".count)))
            #expect(admitted.status == 303 && admitted.header("Location") == "/")
            let cookie = try #require(admitted.header("Set-Cookie"))
            #expect(cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"))
            return Page(http: http, cookie: String(cookie.split(separator: ";")[0]))
        }

        static func first(_ pattern: String, in text: String) -> String? {
            guard let regex = try? NSRegularExpression(pattern: pattern),
                  let match = regex.firstMatch(in: text, range: NSRange(text.startIndex..., in: text)),
                  let range = Range(match.range(at: 1), in: text) else { return nil }
            return String(text[range])
        }

        /// Every file under `folder` but the store's database and its journal.
        static func files(under folder: String) -> Set<String> {
            Set((FileManager.default.enumerator(atPath: folder)?.allObjects as? [String] ?? []).filter { !$0.contains("peer.sqlite") })
        }
    }
}
