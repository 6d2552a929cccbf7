import CLinuxShim
#if canImport(Glibc)
import Glibc
#endif

/// sendmmsg and recvmmsg over `Datagram`s, through the C shim.
enum BatchIO {
    /// The shim's largest batch per call.
    static let maxBatch = 64

    /// Sends as many of `datagrams` as the kernel takes now; nil if it took none
    /// because the send buffer is full.
    static func send(fd: Int32, _ datagrams: ArraySlice<Datagram>) throws -> Int? {
        let batch = datagrams.prefix(maxBatch)
        var entries = [clinux_datagram](repeating: clinux_datagram(), count: batch.count)
        for (index, datagram) in batch.enumerated() {
            guard datagram.bytes.count <= UDPSocket.maxDatagramSize else {
                throw UDPError(.datagramTooLarge, "a datagram of \(datagram.bytes.count) bytes is larger than UDP allows")
            }
            entries[index].length = datagram.bytes.count
            var storage = sockaddr_storage()
            entries[index].address_length = datagram.address.write(to: &storage)
            withUnsafeMutableBytes(of: &entries[index].address) { raw in
                withUnsafeBytes(of: &storage) { raw.copyMemory(from: $0) }
            }
        }
        // Pin every payload for the duration of the call.
        return try withPinnedBuffers(Array(batch), index: 0, entries: &entries) { entries in
            let count = entries.count
            let result = try entries.withUnsafeMutableBufferPointer { buffer in
                try systemCall("sendmmsg") { clinux_sendmmsg(fd, buffer.baseAddress, UInt32(count)) }
            }
            switch result {
            case .done(let sent): return Int(sent)
            case .wouldBlock: return nil
            }
        }
    }

    private static func withPinnedBuffers<R>(
        _ datagrams: [Datagram], index: Int, entries: inout [clinux_datagram],
        _ body: (inout [clinux_datagram]) throws -> R
    ) throws -> R {
        if index == datagrams.count { return try body(&entries) }
        return try datagrams[index].bytes.withUnsafeBytes { buffer in
            entries[index].base = UnsafeMutableRawPointer(mutating: buffer.baseAddress)
            return try withPinnedBuffers(datagrams, index: index + 1, entries: &entries, body)
        }
    }

    /// Up to `count` datagrams queued now (empty if none).
    static func receive(fd: Int32, count: Int, maxSize: Int) throws -> [Datagram] {
        let count = min(count, maxBatch)
        let scratch = UnsafeMutableRawBufferPointer.allocate(byteCount: count * maxSize, alignment: 16)
        defer { scratch.deallocate() }
        var entries = [clinux_datagram](repeating: clinux_datagram(), count: count)
        for index in 0..<count {
            entries[index].base = scratch.baseAddress! + index * maxSize
            entries[index].length = maxSize
        }
        let result = try entries.withUnsafeMutableBufferPointer { buffer in
            try systemCall("recvmmsg") { clinux_recvmmsg(fd, buffer.baseAddress, UInt32(count)) }
        }
        guard case .done(let received) = result else { return [] }
        var datagrams: [Datagram] = []
        datagrams.reserveCapacity(Int(received))
        for entry in entries.prefix(Int(received)) {
            let storage = withUnsafeBytes(of: entry.address) { $0.loadUnaligned(as: sockaddr_storage.self) }
            guard let address = SocketAddress(storage: storage) else { continue }
            let bytes = Array(UnsafeRawBufferPointer(start: entry.base, count: min(entry.length, maxSize)))
            datagrams.append(Datagram(bytes: bytes, address: address, truncated: entry.truncated != 0))
        }
        return datagrams
    }
}
