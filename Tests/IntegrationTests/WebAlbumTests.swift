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
            var origin: String { "http://127.0.0.1:\(http.port)" }

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
                    #expect(url.hasPrefix("http://127.0.0.1:") && url.contains("/?token="))
                    let mode = try FileManager.default.attributesOfItem(atPath: home + "/\(user)/web-url")[.posixPermissions] as? Int
                    #expect(mode == 0o600)
                    let log = try String(contentsOfFile: folder + "/\(user).log", encoding: .utf8)
                    #expect(log.contains("web album: \(url)"))
                }
                let alice = try Self.signIn(urls["alice"]!), bob = try Self.signIn(urls["bob"]!)

                // Without the token, or with another page's, nothing is served.
                #expect(try alice.http.send("GET", "/album").status == 401)
                #expect(try alice.http.send("GET", "/inbox", headers: ["Cookie": bob.cookie.replacingOccurrences(of: "-\(bob.http.port)=", with: "-\(alice.http.port)=")]).status == 401)
                #expect(try alice.http.send("GET", "/?token=" + String(repeating: "0", count: 64)).status == 401)
                #expect(try alice.http.send("GET", "/album", headers: ["Cookie": alice.cookie], host: "evil.example:\(alice.http.port)").status == 403)

                // A change from another site, or without saying where from, is refused and changes nothing.
                let photoFile = try SyntheticPhoto.png(seed: 7, width: 320, height: 240)
                let path = "/album/share?title=harbour"
                #expect(try alice.http.send("POST", path, headers: ["Cookie": alice.cookie, "Origin": "http://evil.example"], body: photoFile).status == 403)
                #expect(try alice.http.send("POST", path, headers: ["Cookie": alice.cookie], body: photoFile).status == 403)
                #expect(try alice.get("/album").text.contains("No photos yet"))

                // alice shares from the page.
                let shared = try alice.post(path, body: photoFile)
                #expect(shared.status == 303 && shared.header("Location")?.hasPrefix("/album?note=") == true)
                let albumPage = try alice.get("/album")
                #expect(albumPage.status == 200 && albumPage.header("Cache-Control") == "no-store")
                let photo = try #require(Self.first(#"id="photo-([0-9a-f]{32})""#, in: albumPage.text), "no photo on alice's album page")
                let preview = try alice.get("/album/\(photo)/preview")
                #expect(preview.status == 200 && preview.header("Content-Type") == "image/png" && preview.header("Cache-Control") == "no-store")
                #expect(try PNGCodec().dimensions(of: preview.body).width == 256)
                // Not a photo: one clear refusal, nothing added.
                let junk = try alice.post("/album/share?title=junk", body: Array("not a photo".utf8))
                #expect(junk.status == 409 && junk.text.contains("not a photo"))

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
            }
        }

        /// Opens the printed URL: the token comes back as an HttpOnly, SameSite=Strict cookie and a redirect without it.
        static func signIn(_ url: String) throws -> Page {
            let port = try #require(Int(url.split(separator: ":")[2].split(separator: "/")[0]))
            let http = LoopbackHTTP(port: port)
            let admitted = try http.send("GET", String(url.dropFirst("http://127.0.0.1:\(port)".count)))
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
