/// An album as a browser sees it: each photo's id, title and preview PNG
/// (longest side at most 256 px), sealed for the one who browses.
public struct PreviewBundle: Sendable, Equatable {
    public struct Item: Sendable, Equatable {
        public var photo: PhotoID
        public var title: String
        public var png: [UInt8]

        public init(photo: PhotoID, title: String, png: [UInt8]) {
            self.photo = photo
            self.title = title
            self.png = png
        }
    }

    public var items: [Item]
    public init(items: [Item]) { self.items = items }

    /// The largest bundle a browser takes.
    public static let maxBytes = 16 << 20
    static let magic = Array("PCV1".utf8)

    /// Encodes the items that fit in `maxBytes`, in order.
    public func encoded() -> [UInt8] {
        var body: [UInt8] = []
        var count = 0
        for item in items.prefix(PeerLimits.previewsPerAlbum) where item.png.count <= PeerLimits.previewBytes {
            var entry: [UInt8] = item.photo.bytes
            entry.appendString(String(item.title.utf8Prefix(PeerLimits.titleBytes)))
            entry.appendBigEndian(UInt32(item.png.count))
            entry += item.png
            guard Self.magic.count + 2 + body.count + entry.count <= Self.maxBytes else { break }
            body += entry
            count += 1
        }
        var bytes = Self.magic
        bytes.appendBigEndian(UInt16(count))
        return bytes + body
    }

    /// Total: any bytes decode or throw.
    public static func decode(_ bytes: [UInt8]) throws(PeerError) -> PreviewBundle {
        guard bytes.count <= maxBytes else { throw PeerError(.tooLarge, "an album listing of \(bytes.count) bytes") }
        do {
            var reader = ByteReader(bytes)
            guard try reader.readBytes(4) == magic else { throw PeerError(.malformed, "not an album listing") }
            let count = Int(try reader.readUInt16())
            guard count <= PeerLimits.previewsPerAlbum else { throw PeerError(.tooLarge, "an album listing of \(count) photos") }
            var items: [Item] = []
            for _ in 0..<count {
                guard let photo = PhotoID(bytes: try reader.readBytes(PhotoID.size)) else { throw PeerError(.malformed, "a photo id") }
                let title = try reader.readString(limit: PeerLimits.titleBytes)
                let length = Int(try reader.readUInt32())
                guard length <= PeerLimits.previewBytes else { throw PeerError(.tooLarge, "a preview of \(length) bytes") }
                items.append(Item(photo: photo, title: title, png: try reader.readBytes(length)))
            }
            try reader.expectEnd()
            return PreviewBundle(items: items)
        } catch let error as PeerError {
            throw error
        } catch {
            throw PeerError(.malformed, "the album listing is malformed: \(error)")
        }
    }
}
