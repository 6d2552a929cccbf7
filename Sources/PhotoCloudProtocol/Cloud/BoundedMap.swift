/// A dictionary that forgets its oldest keys beyond a capacity (for what a
/// server remembers about requests and clients: who answered, who asked,
/// their session keys).
public struct BoundedMap<Key: Hashable & Sendable, Value: Sendable>: Sendable {
    public let capacity: Int
    /// Each value with the insertion it came from, so that a key removed and
    /// added again is forgotten by its new place in the order, not its old one.
    private var values: [Key: (value: Value, insertion: UInt64)] = [:]
    private var order: [(key: Key, insertion: UInt64)] = []
    private var start = 0
    private var insertions: UInt64 = 0

    public init(capacity: Int) { self.capacity = capacity }

    public var count: Int { values.count }

    public var keys: [Key] { Array(values.keys) }

    public subscript(key: Key) -> Value? {
        get { values[key]?.value }
        set {
            guard let newValue else { values[key] = nil; return }
            if let existing = values[key] {
                values[key] = (newValue, existing.insertion)
                return
            }
            insertions += 1
            values[key] = (newValue, insertions)
            order.append((key, insertions))
            while values.count > capacity, start < order.count {
                let oldest = order[start]
                if values[oldest.key]?.insertion == oldest.insertion { values[oldest.key] = nil }
                start += 1
            }
            if order.count - start > 2 * capacity + 16 {
                // Mostly entries of removed keys: keep the live ones, in order.
                order = order[start...].filter { values[$0.key]?.insertion == $0.insertion }
                start = 0
            } else if start > capacity {
                order.removeFirst(start)
                start = 0
            }
        }
    }
}
