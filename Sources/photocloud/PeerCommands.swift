import ArgumentParser
import Foundation
import PNGCodec
import PhotoCloudNode

/// What every one-shot peer command takes: whose daemon, and which cloud.
struct DaemonOptions: ParsableArguments {
    @OptionGroup var homeOptions: HomeOptions
    @Option(help: "Cluster file (the daemon's is used; given here, it must be the same).") var cluster: String?

    /// Sends `command` to the user's daemon and prints its answer (its JSON with `json`).
    func call(_ command: String, _ arguments: [String: String?] = [:], json: Bool = false) async throws {
        let (user, home) = try homeOptions.resolve()
        var request = LocalRequest(command: command)
        for case let (name, value?) in arguments { request.arguments[name] = .string(value) }
        if json { request.arguments["json"] = .string("true") }
        if let cluster { request.arguments["cluster"] = .string(Self.absolute(cluster)) }
        if let size = TerminalSize.current() { request.arguments["terminal"] = .string("\(size.columns)x\(size.rows)") }
        let display = DaemonProgress()
        let reply = try await LocalControlClient.call(path: LocalControl.socketPath(home: home, user: user), user: user, request: request) {
            display.show($0)
        }
        display.finish()
        guard reply.ok else { throw CLIError(reply.error ?? "\(user)'s daemon could not do it") }
        if json, let document = reply.json {
            print(document)
        } else {
            for line in reply.lines ?? [] { print(line) }
        }
    }

    /// Paths go to the daemon, which runs elsewhere: made absolute here.
    static func absolute(_ path: String) -> String {
        let expanded = (path as NSString).expandingTildeInPath
        if expanded.hasPrefix("/") { return (expanded as NSString).standardizingPath }
        return ((FileManager.default.currentDirectoryPath as NSString).appendingPathComponent(expanded) as NSString).standardizingPath
    }
}

/// The terminal stdout is, if it is one.
enum TerminalSize {
    static func current() -> (columns: Int, rows: Int)? {
        isatty(STDOUT_FILENO) != 0 ? TerminalImage.terminalSize() : nil
    }
}

struct ShareCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "share", abstract: "Put a photo (PNG or JPEG) in your album; prints its photo id last.")
    @Argument(help: "The photo.") var image: String
    @Option(help: "Its title (default: the file name).") var title: String?
    @OptionGroup var daemon: DaemonOptions
    func run() async throws { try await daemon.call("share", ["file": DaemonOptions.absolute(image), "title": title]) }
}

struct AlbumCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "album", abstract: "Your photos.")
    @Flag(help: "Print one JSON document: [{photo, title, bytes, added_at}].") var json = false
    @OptionGroup var daemon: DaemonOptions
    func run() async throws { try await daemon.call("album", json: json) }
}

struct BrowseCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "browse", abstract: "See another user's album as low-resolution previews (fetched from their daemon).")
    @Argument(help: "Whose album.") var owner: String
    @Option(help: "Write the previews here, as PHOTO.png.") var out: String?
    @Flag(help: "Print one JSON document: [{photo, title, width, height, file}].") var json = false
    @OptionGroup var daemon: DaemonOptions
    func run() async throws { try await daemon.call("browse", ["owner": owner, "out": out.map(DaemonOptions.absolute)], json: json) }
}

struct RequestCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "request", abstract: "Ask an owner for views of a photo; prints the request id last.")
    @Argument(help: "OWNER/PHOTO, as `browse OWNER` lists it.") var photo: String
    @Option(help: "How many views to ask for.") var views: Int = 1
    @OptionGroup var daemon: DaemonOptions
    func run() async throws { try await daemon.call("request", ["photo": photo, "views": String(views)]) }
}

struct RequestsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "requests", abstract: "Requests waiting for your photos.")
    @Flag(help: "Print one JSON document: [{request, from, photo, views}].") var json = false
    @OptionGroup var daemon: DaemonOptions
    func run() async throws { try await daemon.call("requests", json: json) }
}

struct ApproveCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "approve", abstract: "Send the photo a request asks for (sealed, hidden by the cloud).")
    @Argument(help: "The request id.") var request: String
    @Option(help: "Views to give (default: as many as asked).") var views: Int?
    @OptionGroup var daemon: DaemonOptions
    func run() async throws { try await daemon.call("approve", ["request": request, "views": views.map(String.init)]) }
}

struct DenyCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "deny", abstract: "Turn a request down.")
    @Argument(help: "The request id.") var request: String
    @OptionGroup var daemon: DaemonOptions
    func run() async throws { try await daemon.call("deny", ["request": request]) }
}

struct SendCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "send", abstract: "Send a photo to a user directly (sealed for them, hidden by the cloud); prints its photo id last.")
    @Argument(help: "The photo (PNG or JPEG).") var image: String
    @Option(help: "The receiver.") var to: String
    @Option(help: "Views the receiver gets.") var views: Int = 1
    @Option(help: "Its title (default: the file name).") var title: String?
    @OptionGroup var daemon: DaemonOptions
    func run() async throws {
        try await daemon.call("send", ["file": DaemonOptions.absolute(image), "to": to, "views": String(views), "title": title])
    }
}

struct InboxCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "inbox", abstract: "Photos you received, with the views left.")
    @Flag(help: "Print one JSON document: [{photo, owner, title, views_left, received_at}].") var json = false
    @OptionGroup var daemon: DaemonOptions
    func run() async throws { try await daemon.call("inbox", json: json) }
}

struct ViewCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "view", abstract: "Open a received photo: draws it on a terminal, or writes the file as shared; counts one view.")
    @Argument(help: "The photo id.") var photo: String
    @Option(help: "Write the photo here, exactly the file that was shared.") var out: String?
    @OptionGroup var daemon: DaemonOptions
    func run() async throws { try await daemon.call("view", ["photo": photo, "out": out.map(DaemonOptions.absolute)]) }
}

struct GrantCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "grant", abstract: "Set how many views a receiver has of your photo (0 revokes).")
    @Argument(help: "The photo id.") var photo: String
    @Option(help: "The receiver.") var to: String
    @Option(help: "The views the receiver has from now on.") var views: Int
    @OptionGroup var daemon: DaemonOptions
    func run() async throws { try await daemon.call("grant", ["photo": photo, "to": to, "views": String(views)]) }
}
