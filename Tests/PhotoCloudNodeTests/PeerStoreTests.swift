import Foundation
import PhotoCloudProtocol
import PhotoCloudStore
import PhotoCloudTestKit
import Testing

@Suite("The peer's store")
struct PeerStoreTests {
    let photo = PhotoID.of(owner: "alice", file: [1, 2, 3])

    @Test func migrationsRunFromTheFirstVersionAndKeepEverythingAcrossReopening() async throws {
        try await withTemporaryFolder { folder in
            #expect(PeerStore.migrations == ["v1: album, inbox, requests, grants, pinned keys"])
            do {
                let store = try PeerStore(folder: folder)
                #expect(try store.addToAlbum(photo: photo, title: "beach", file: [1, 2, 3], preview: [9]))
                try store.receive(photo: photo, owner: "alice", title: "beach", stego: [4, 5], rights: .init(viewsLeft: 2, version: 1))
                #expect(try store.pin(user: "alice", signingKey: [1], agreementKey: [2]) == .pinned)
            }
            let reopened = try PeerStore(folder: folder)
            #expect(try reopened.album().map(\.title) == ["beach"])
            #expect(try reopened.inboxEntry(photo)?.rights == ViewRights(viewsLeft: 2, version: 1))
            #expect(try reopened.pinned("alice")?.signingKey == [1])
            #expect(try reopened.objects.get(try reopened.album()[0].file) == [1, 2, 3])
        }
    }

    @Test func changesAreHeardOnceEachAfterTheWriteAndAListenerThatGoesAwayIsForgotten() async throws {
        try await withTemporaryFolder { folder in
            let store = try PeerStore(folder: folder)
            let heard = Task {
                var changes: [StoreChange] = []
                for await change in store.changes.listen() {
                    changes.append(change)
                    if changes.count == 3 { break }
                }
                return changes
            }
            while store.changes.listenerCount == 0 { try await Task.sleep(for: .milliseconds(5)) }
            try store.receive(photo: photo, owner: "alice", title: "t", stego: [1], rights: .init(viewsLeft: 2, version: 1))
            try store.receive(photo: photo, owner: "alice", title: "t", stego: [1], rights: .init(viewsLeft: 2, version: 1))   // nothing new
            #expect(try !store.update(photo, rights: .init(viewsLeft: 9, version: 1)))                                        // not newer
            #expect(try store.update(photo, rights: .init(viewsLeft: 3, version: 2)))
            let id = try #require(RequestKey(bytes: Array(repeating: 7, count: 8)))
            #expect(try store.add(.init(id: id, peer: "bob", photo: photo, views: 1, state: .pending, at: Date()), .incoming))
            #expect(await heard.value == [.photoReceived(photo, from: "alice"), .viewsChanged(photo), .requestReceived(id, from: "bob")])
            // The listener stopped reading: the store forgets it.
            let deadline = ContinuousClock.now + .seconds(5)
            while store.changes.listenerCount > 0, ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(5)) }
            #expect(store.changes.listenerCount == 0)
        }
    }

    @Test func sharingTwiceIsOneAlbumEntry() async throws {
        try await withTemporaryFolder { folder in
            let store = try PeerStore(folder: folder)
            #expect(try store.addToAlbum(photo: photo, title: "a", file: [1, 2, 3], preview: [9]))
            #expect(try !store.addToAlbum(photo: photo, title: "b", file: [1, 2, 3], preview: [9]))
            #expect(try store.album().count == 1)
        }
    }

    @Test func viewsCountDownToZeroThenNothingChanges() async throws {
        try await withTemporaryFolder { folder in
            let store = try PeerStore(folder: folder)
            try store.receive(photo: photo, owner: "alice", title: "t", stego: [1], rights: .init(viewsLeft: 2, version: 5))
            #expect(try store.consumeView(photo).viewsLeft == 1)
            #expect(try store.consumeView(photo).viewsLeft == 0)
            #expect(throws: PeerError.self) { try store.consumeView(photo) }
            #expect(try store.inboxEntry(photo)?.rights == ViewRights(viewsLeft: 0, version: 5))
            // Only a newer version sets the views again; a photo delivered twice is one entry.
            #expect(try !store.update(photo, rights: .init(viewsLeft: 9, version: 5)))
            #expect(try store.update(photo, rights: .init(viewsLeft: 1, version: 6)))
            try store.receive(photo: photo, owner: "alice", title: "t", stego: [1], rights: .init(viewsLeft: 7, version: 4))
            #expect(try store.inbox().count == 1)
            #expect(try store.inboxEntry(photo)?.rights == ViewRights(viewsLeft: 1, version: 6))
            #expect(throws: PeerError.self) { try store.consumeView(PhotoID.of(owner: "x", file: [])) }
        }
    }

    @Test func grantVersionsOnlyGrow() async throws {
        try await withTemporaryFolder { folder in
            let store = try PeerStore(folder: folder)
            var last: UInt64 = 0
            for views in [2, 0, 5] as [UInt32] {
                let version = try store.recordGrant(photo: photo, receiver: "bob", views: views)
                #expect(version > last)
                last = version
            }
            #expect(try store.grantsGiven(photo).map(\.views) == [5])
        }
    }

    @Test func requestsAreRecordedOnceAndChangeState() async throws {
        try await withTemporaryFolder { folder in
            let store = try PeerStore(folder: folder)
            let id = RequestKey.random()
            let request = PeerStore.PhotoRequest(id: id, peer: "bob", photo: photo, views: 2, state: .pending, at: Date())
            #expect(try store.add(request, .incoming))
            #expect(try !store.add(request, .incoming))
            #expect(try store.requests(.incoming, state: .pending).map(\.id) == [id])
            #expect(try store.request(id, .outgoing) == nil)
            try store.set(id, .incoming, state: .approved)
            #expect(try store.requests(.incoming, state: .pending).isEmpty)
            #expect(try store.request(id, .incoming)?.state == .approved)
        }
    }

    @Test func keysArePinnedOnFirstSightAndAChangeIsSeen() async throws {
        try await withTemporaryFolder { folder in
            let store = try PeerStore(folder: folder)
            #expect(try store.pin(user: "bob", signingKey: [1], agreementKey: [2]) == .pinned)
            #expect(try store.pin(user: "bob", signingKey: [1], agreementKey: [2]) == .same)
            #expect(try store.pin(user: "bob", signingKey: [3], agreementKey: [2]) == .changed)
            #expect(try store.pin(user: "bob", signingKey: [1], agreementKey: [4]) == .changed)
            #expect(try store.pinned("bob")?.signingKey == [1])
        }
    }

    @Test func aDamagedObjectFileIsAnErrorNotAPhoto() async throws {
        try await withTemporaryFolder { folder in
            let store = try PeerStore(folder: folder)
            let name = try store.objects.put(Array(repeating: 5, count: 1_000))
            var bytes = [UInt8](FileManager.default.contents(atPath: store.objects.path(of: name))!)
            bytes[500] ^= 1
            _ = FileManager.default.createFile(atPath: store.objects.path(of: name), contents: Data(bytes))
            #expect(throws: StoreError.self) { try store.objects.get(name) }
            #expect(throws: StoreError.self) { try store.objects.get("../../etc/passwd") }
        }
    }
}
