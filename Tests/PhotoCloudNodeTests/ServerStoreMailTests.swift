import Crypto
import Foundation
import PhotoCloudProtocol
import PhotoCloudStore
import PhotoCloudTestKit
import Testing

/// The server's mailbox on disk: what is written is there after a reopen, and
/// a full disk is an error that leaves everything already stored intact.
@Suite("A server's mailbox store")
struct ServerStoreMailTests {
    static func item(_ text: String, object: [UInt8]? = nil) -> MailItem {
        MailItem(recipient: "bob", sender: "alice", envelope: Array(text.utf8), objectBytes: UInt64(object?.count ?? 0),
                 objectDigest: object.map { Array(SHA256.hash(data: $0)) } ?? [], signature: [UInt8](repeating: 5, count: 64))
    }

    @Test func itemsAndTombstonesSurviveAReopenAndAnObjectGoesWithItsLastItem() async throws {
        try await withTemporaryFolder { folder in
            let store = try ServerStore(folder: folder)
            let photo = [UInt8](repeating: 0xAB, count: 50_000)
            let a = Self.item("offer a", object: photo), b = Self.item("offer b", object: photo), grant = Self.item("grant")
            for item in [a, b, grant] { try await store.saveMail(item, object: item.hasObject ? photo : nil, storedAt: 10) }
            #expect(try store.mailObject(of: a) == photo)
            try await store.deleteMail([a.id], tombstoneAt: 20)
            #expect(try store.mailObject(of: b) == photo, "b still names the object")
            try await store.deleteMail([b.id], tombstoneAt: 21)
            #expect(throws: StoreError.self) { try store.mailObject(of: b) }
            let reopened = try ServerStore(folder: folder)
            let (items, tombstones) = try reopened.mail()
            #expect(items.map(\.item) == [grant] && items.first?.item.signature == grant.signature)
            #expect(Set(tombstones.map(\.0)) == [a.id, b.id])
            // An object that is not the item's is refused before anything is written.
            await #expect(throws: StoreError.self) { try await reopened.saveMail(Self.item("offer c", object: [1, 2, 3]), object: [1, 2, 4], storedAt: 30) }
        }
    }

    /// Needs root (a tmpfs of 2 MiB is mounted for it), as the machines the project runs on give.
    @Test(.enabled(if: geteuid() == 0, "mounting a small filesystem needs root"))
    func aFullDiskIsAClearErrorAndWhatWasStoredStays() async throws {
        try await withTemporaryFolder { folder in
            let disk = folder + "/small"
            try FileManager.default.createDirectory(atPath: disk, withIntermediateDirectories: true)
            let mount = Process()
            mount.executableURL = URL(fileURLWithPath: "/bin/mount")
            mount.arguments = ["-t", "tmpfs", "-o", "size=2m", "tmpfs", disk]
            try mount.run()
            mount.waitUntilExit()
            try #require(mount.terminationStatus == 0, "could not mount a tmpfs")
            defer {
                let unmount = Process()
                unmount.executableURL = URL(fileURLWithPath: "/bin/umount")
                unmount.arguments = [disk]
                try? unmount.run()
                unmount.waitUntilExit()
            }
            let store = try ServerStore(folder: disk)
            let grant = Self.item("grant")
            try await store.saveMail(grant, object: nil, storedAt: 1)
            let large = [UInt8](repeating: 0x5A, count: 3 << 20)
            do {
                try await store.saveMail(Self.item("offer", object: large), object: large, storedAt: 2)
                Issue.record("3 MiB fitted on a 2 MiB disk")
            } catch let error as StoreError {
                #expect(error.code == .full && error.message.contains("the disk is full"), "\(error)")
            }
            // Nothing half-written is left, and what was stored is whole.
            let reopened = try ServerStore(folder: disk)
            #expect(try reopened.mail().items.map(\.item) == [grant])
            let leftovers = try FileManager.default.contentsOfDirectory(atPath: disk + "/mail-objects")
            #expect(leftovers.isEmpty, "\(leftovers)")
        }
    }
}
