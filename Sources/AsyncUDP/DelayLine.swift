/// Holds datagrams that the fault layer delays and sends each when its time
/// comes, in order of due time; failures to send are losses, as on a network.
actor DelayLine {
    private struct Pending {
        let due: ContinuousClock.Instant
        let bytes: [UInt8]
        let address: SocketAddress
    }

    private var pending: [Pending] = []
    private var draining = false
    private let send: @Sendable ([UInt8], SocketAddress) async throws -> Void

    init(send: @escaping @Sendable ([UInt8], SocketAddress) async throws -> Void) {
        self.send = send
    }

    /// Queues a datagram to go out at `due` (computed by the caller when it
    /// sent, so that the order of arrival here does not matter).
    func schedule(_ bytes: [UInt8], to address: SocketAddress, at due: ContinuousClock.Instant) {
        let item = Pending(due: due, bytes: bytes, address: address)
        // Usually the newest is due last; otherwise find its place.
        if let last = pending.last, last.due > item.due {
            let index = pending.firstIndex { $0.due > item.due } ?? pending.endIndex
            pending.insert(item, at: index)
        } else {
            pending.append(item)
        }
        if !draining {
            draining = true
            Task { await drain() }
        }
    }

    private func drain() async {
        while let head = pending.first {
            if head.due > .now {
                try? await Task.sleep(until: head.due, clock: .continuous)
                continue
            }
            // Everything due now goes out together, in due order.
            let now = ContinuousClock.now
            let dueCount = pending.firstIndex { $0.due > now } ?? pending.endIndex
            let batch = pending[..<dueCount]
            pending.removeFirst(dueCount)
            for item in batch { try? await send(item.bytes, item.address) }
        }
        draining = false
    }
}
