import PhotoCloudProtocol

/// Deadlines of many state machines (transfers, requests): each key has at
/// most one, and the due ones come out in time order without a scan of all
/// keys. A binary min-heap with lazy removal: re-arming or cancelling leaves
/// the old entry in the heap, skipped when it surfaces.
struct TimerQueue<Key: Hashable & Sendable>: Sendable {
    private struct Entry: Sendable {
        var at: Instant
        var key: Key
        var generation: UInt64
    }

    private var heap: [Entry] = []
    private var armed: [Key: (at: Instant, generation: UInt64)] = [:]
    private var generations: UInt64 = 0

    var isEmpty: Bool { armed.isEmpty }
    var count: Int { armed.count }

    /// The earliest deadline still armed.
    mutating func next() -> Instant? {
        dropStale()
        return heap.first?.at
    }

    mutating func arm(_ key: Key, at: Instant) {
        generations += 1
        armed[key] = (at, generations)
        push(Entry(at: at, key: key, generation: generations))
        if heap.count > 4 * armed.count + 64 { rebuild() }
    }

    mutating func cancel(_ key: Key) { armed[key] = nil }

    /// Keys whose deadline is at or before `now`, earliest first; they are disarmed.
    mutating func popDue(now: Instant) -> [Key] {
        var due: [Key] = []
        while true {
            dropStale()
            guard let first = heap.first, first.at <= now else { return due }
            pop()
            armed[first.key] = nil
            due.append(first.key)
        }
    }

    // MARK: Heap

    private func isCurrent(_ entry: Entry) -> Bool { armed[entry.key]?.generation == entry.generation }

    private mutating func dropStale() {
        while let first = heap.first, !isCurrent(first) { pop() }
    }

    private mutating func rebuild() {
        let live = heap.filter(isCurrent)
        heap = []
        for entry in live { push(entry) }
    }

    private mutating func push(_ entry: Entry) {
        heap.append(entry)
        var child = heap.count - 1
        while child > 0 {
            let parent = (child - 1) / 2
            guard heap[child].at < heap[parent].at else { break }
            heap.swapAt(child, parent)
            child = parent
        }
    }

    private mutating func pop() {
        heap.swapAt(0, heap.count - 1)
        heap.removeLast()
        var parent = 0
        while true {
            let left = 2 * parent + 1, right = left + 1
            var smallest = parent
            if left < heap.count, heap[left].at < heap[smallest].at { smallest = left }
            if right < heap.count, heap[right].at < heap[smallest].at { smallest = right }
            guard smallest != parent else { return }
            heap.swapAt(parent, smallest)
            parent = smallest
        }
    }
}
