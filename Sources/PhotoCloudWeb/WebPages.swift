import Foundation
import PNGCodec
import PhotoCloudNode
import PhotoCloudProtocol
import PhotoCloudStore

/// The web album's pages as HTML, from what the daemon's operations return:
/// pure functions of their values (`WebAlbum` fetches, these draw). Every
/// text that comes from a user (titles, names, notes) is escaped.
enum WebPages {
    enum Section: String, CaseIterable {
        case album = "Album", people = "People", inbox = "Inbox", requests = "Requests"
        var path: String { "/" + rawValue.lowercased() }
    }

    struct AlbumPhoto: Sendable {
        var entry: PeerStore.AlbumEntry
        /// Who was granted views, and how many (`PeerActor.holders(of:)`).
        var holders: [(receiver: String, views: UInt32)]
    }

    // MARK: Pages

    static func album(user: String, photos: [AlbumPhoto], note: String?) -> String {
        var body = """
            <h1>\(escape(user))'s album</h1>
            <form id="share" class="card" action="/album/share" method="post">
              <h2>Share a photo</h2>
              <label for="file">Photo (PNG or JPEG)</label>
              <input id="file" name="file" type="file" accept="image/png,image/jpeg" required>
              <label for="title">Title</label>
              <input id="title" name="title" type="text" maxlength="200" placeholder="the file's name">
              <button type="submit">Share</button>
            </form>
            """
        if photos.isEmpty { body += "<p class=\"empty\">No photos yet: share one above.</p>" }
        body += "<ul class=\"grid\">"
        for photo in photos {
            let id = "\(photo.entry.photo)"
            body += """
                <li class="card photo" id="photo-\(id)">
                  <img src="/album/\(id)/preview" alt="\(escape(photo.entry.title))" width="256">
                  <h2>\(escape(photo.entry.title))</h2>
                  <p class="meta">\(PeerService.size(photo.entry.bytes)) · <code>\(id.prefix(8))</code></p>
                """
            if photo.holders.isEmpty {
                body += "<p class=\"meta\">Nobody holds it yet.</p>"
            } else {
                body += "<table><caption>Who holds it</caption><tr><th scope=\"col\">Who</th><th scope=\"col\">Views granted</th><th scope=\"col\"></th></tr>"
                for holder in photo.holders {
                    body += """
                        <tr class="holder" data-user="\(escape(holder.receiver))"><td>\(escape(holder.receiver))</td><td class="views">\(holder.views)</td>
                        <td>\(holder.views == 0 ? "revoked" : """
                        <form action="/album/\(id)/grant" method="post"><input type="hidden" name="to" value="\(escape(holder.receiver))">\
                        <input type="hidden" name="views" value="0"><button type="submit" class="quiet">Revoke</button></form>
                        """)</td></tr>
                        """
                }
                body += "</table>"
            }
            body += """
                <form class="grant" action="/album/\(id)/grant" method="post">
                  <label for="to-\(id)">Grant</label>
                  <input id="to-\(id)" name="to" type="text" required placeholder="user" autocomplete="off" pattern="[a-z0-9._-]{1,32}">
                  \(viewsField(id: id, label: "views", min: 0, value: 1))
                  <button type="submit">Grant</button>
                </form>
                </li>
                """
        }
        body += "</ul>"
        return page(user: user, section: .album, title: "Album", note: note, body: body)
    }

    static func people(user: String, online: [String], offline: [String], note: String?) -> String {
        var body = "<h1>People</h1><section class=\"card\"><h2>Online</h2>"
        let others = online.filter { $0 != user }
        body += others.isEmpty ? "<p class=\"empty\">Nobody else is online.</p>" : "<ul class=\"people\">"
            + others.map { "<li class=\"online\"><a href=\"/people/\(escape($0))\">\(escape($0))</a> <span class=\"meta\">see previews</span></li>" }.joined()
            + "</ul>"
        body += "</section><section class=\"card\"><h2>Offline</h2>"
        body += offline.isEmpty ? "<p class=\"empty\">Nobody is offline.</p>"
            : "<ul class=\"people\">" + offline.map { "<li class=\"offline\">\(escape($0))</li>" }.joined() + "</ul>"
        body += "<p class=\"meta\">Photos and grants for someone offline wait in the cloud's mailbox until they return.</p></section>"
        return page(user: user, section: .people, title: "People", note: note, body: body)
    }

    static func previews(user: String, owner: String, items: [PreviewBundle.Item], note: String?) -> String {
        var body = "<h1>\(escape(owner))'s photos</h1>"
        if items.isEmpty { body += "<p class=\"empty\">\(escape(owner))'s album is empty.</p>" }
        body += "<ul class=\"grid\">"
        for item in items {
            let id = "\(item.photo)"
            body += """
                <li class="card photo" id="photo-\(id)">
                  <img src="\(dataURL(item.png))" alt="\(escape(item.title)), a preview" width="256">
                  <h2>\(escape(item.title))</h2>
                  <form action="/people/\(escape(owner))/request" method="post">
                    <input type="hidden" name="photo" value="\(id)">
                    \(viewsField(id: id, label: "Views", min: 1, value: 1))
                    <button type="submit">Request</button>
                  </form>
                </li>
                """
        }
        body += "</ul>"
        return page(user: user, section: .people, title: "\(owner)'s photos", note: note, body: body)
    }

    static func inbox(user: String, entries: [PeerStore.InboxEntry], note: String?) -> String {
        var body = "<h1>Inbox</h1>"
        if entries.isEmpty { body += "<p class=\"empty\">No photos received yet: request one from someone on the People page.</p>" }
        body += "<ul class=\"list\">"
        for entry in entries {
            let id = "\(entry.photo)", left = entry.rights.viewsLeft
            body += """
                <li class="card received" id="photo-\(id)">
                  <h2>\(escape(entry.title))</h2>
                  <p class="meta">from \(escape(entry.owner)) · <span class="views-left">\(left)</span> view\(left == 1 ? "" : "s") left</p>
                  <form action="/inbox/\(id)/view" method="post"><button type="submit"\(left == 0 ? " class=\"quiet\"" : "")>View</button></form>
                </li>
                """
        }
        body += "</ul>"
        return page(user: user, section: .inbox, title: "Inbox", note: note, body: body)
    }

    static func viewer(user: String, title: String, owner: String, file: [UInt8], viewsLeft: UInt32) -> String {
        let body = """
            <h1>\(escape(title))</h1>
            <p class="meta">from \(escape(owner)) · <span id="views-left">\(viewsLeft)</span> view\(viewsLeft == 1 ? "" : "s") left</p>
            <figure class="viewer"><img id="photo" src="\(dataURL(file))" alt="\(escape(title)) from \(escape(owner))"></figure>
            <p><a href="/inbox">Back to the inbox</a></p>
            """
        return page(user: user, section: .inbox, title: title, note: nil, body: body, live: false)
    }

    static func refused(user: String, section: Section, message: String) -> String {
        page(user: user, section: section, title: "Not done", note: nil,
             body: "<h1>Not done</h1><p class=\"refused\" role=\"alert\">\(escape(message))</p><p><a href=\"\(section.path)\">Back</a></p>")
    }

    static func requests(user: String, incoming: [PeerStore.PhotoRequest], outgoing: [PeerStore.PhotoRequest], titles: [PhotoID: String],
                         note: String?) -> String {
        var body = "<h1>Requests</h1><section class=\"card\"><h2>For your photos</h2>"
        if incoming.isEmpty { body += "<p class=\"empty\">No requests waiting.</p>" }
        body += "<ul class=\"list\">"
        for request in incoming {
            let id = "\(request.id)"
            body += """
                <li class="request" id="request-\(id)">
                  <p><strong>\(escape(request.peer))</strong> asks for \(request.views) view\(request.views == 1 ? "" : "s") of
                  <em>\(escape(titles[request.photo] ?? "\(request.photo)"))</em></p>
                  <form action="/requests/\(id)/approve" method="post">
                    \(viewsField(id: id, label: "Views", min: 1, value: request.views))
                    <button type="submit">Approve</button>
                  </form>
                  <form action="/requests/\(id)/deny" method="post"><button type="submit" class="quiet">Deny</button></form>
                </li>
                """
        }
        body += "</ul></section><section class=\"card\"><h2>You asked</h2>"
        if outgoing.isEmpty { body += "<p class=\"empty\">You have asked for nothing yet.</p>" }
        body += "<ul class=\"list\">"
        for request in outgoing.reversed() {
            body += "<li class=\"asked \(request.state.rawValue)\">\(request.views) view\(request.views == 1 ? "" : "s") of <code>\(request.photo.description.prefix(8))</code> "
                + "from \(escape(request.peer)): <strong>\(request.state.rawValue)</strong></li>"
        }
        body += "</ul></section>"
        return page(user: user, section: .requests, title: "Requests", note: note, body: body)
    }

    /// A page for a request that did not pass `WebAccess` (or asked for nothing there is): plain, without the album's frame.
    static func bare(_ heading: String, _ message: String) -> String {
        """
        <!doctype html><html lang="en"><head><meta charset="utf-8"><title>photocloud: \(escape(heading.lowercased()))</title></head>
        <body><h1>\(escape(heading))</h1><p>\(escape(message))</p></body></html>
        """
    }

    // MARK: Parts

    /// The frame of every page: navigation, the note of the last action, a live region for news.
    static func page(user: String, section: Section, title: String, note: String?, body: String, live: Bool = true) -> String {
        let nav = Section.allCases.map { item in
            "<a href=\"\(item.path)\"\(item == section ? " aria-current=\"page\"" : "")>\(item.rawValue)</a>"
        }.joined()
        return """
            <!doctype html>
            <html lang="en"><head><meta charset="utf-8">
            <meta name="viewport" content="width=device-width, initial-scale=1"><meta name="referrer" content="same-origin">
            <title>\(escape(title)) · photocloud · \(escape(user))</title>
            <link rel="stylesheet" href="/app.css"><script src="/app.js" defer></script>
            </head><body data-live="\(live)">
            <a class="skip" href="#main">Skip to content</a>
            <header><span class="brand">photocloud</span><span class="who">\(escape(user))</span><nav aria-label="Sections">\(nav)</nav></header>
            <div id="news" role="status" aria-live="polite"></div>
            \(note.map { "<p class=\"note\" role=\"status\">\(escape($0))</p>" } ?? "")
            <main id="main" tabindex="-1">\(body)</main>
            </body></html>
            """
    }

    static func escape(_ text: String) -> String { MarkupText.escape(text) }

    /// A photo in the page itself, from memory: nothing to fetch again, nothing kept by a cache.
    static func dataURL(_ file: [UInt8]) -> String {
        "data:\(mediaType(of: file));base64," + Data(file).base64EncodedString()
    }

    static func mediaType(of file: [UInt8]) -> String {
        ImageFile.format(of: file) == .jpeg ? "image/jpeg" : "image/png"
    }

    /// The number field of a form that grants, asks for or approves views.
    static func viewsField(id: String, label: String, min: Int, value: UInt32) -> String {
        """
        <label for="views-\(id)">\(label)</label>
          <input id="views-\(id)" name="views" type="number" min="\(min)" max="\(PeerLimits.maxViews)" value="\(value)" required>
        """
    }
}
