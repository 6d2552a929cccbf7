import PhotoCloudProtocol

/// How the `transfer` target reads its input: an options byte, then steps,
/// each `[op, delay, length (u16, big-endian), body]` (a length past the end
/// takes what is left). Before each step the clock moves by `delay`: under
/// 200, that many tenths of a millisecond; from 200, `delay - 199` seconds (so
/// the 30 s and 10 s idle timeouts are reachable in a few steps).
///
/// `op % 8`: 0-3, the body is a transfer datagram's body of type chunk, ack,
/// end or done (decoded with `TransferMessage.decode`; a refused one is
/// dropped); 4, the receivers' timers fire; 5, the sender's timer fires (and
/// in external digest mode it is given the digest first); 6, the body (id
/// u64, bytes u32, seconds u8) announces an object to `TransferAdmission`; 7,
/// the body's id is forgotten, and announcements past their time expire.
/// `op >> 4 & 3` is the source address of a datagram.
public struct TransferFuzzScript: Sendable {
    public struct Options: OptionSet, Sendable {
        public let rawValue: UInt8
        public init(rawValue: UInt8) { self.rawValue = rawValue }
        /// Receivers hash in the driver (`DigestMode.external`: verifyDigest, onDigest).
        public static let receiverDigestExternal = Options(rawValue: 1)
        /// The sender's digest comes from the driver.
        public static let senderDigestExternal = Options(rawValue: 2)
        /// The sender is given its object's digest up front.
        public static let senderDigestGiven = Options(rawValue: 4)
    }

    public enum Action: Sendable, Equatable {
        case message(MessageType, [UInt8])
        case receiverTimers
        case senderTimer
        case expect(id: UInt64, maxBytes: Int, seconds: UInt8)
        case forget(id: UInt64)
    }

    public struct Step: Sendable, Equatable {
        public var delay: UInt8
        public var source: Int
        public var action: Action

        public init(delay: UInt8 = 0, source: Int = 0, _ action: Action) {
            self.delay = delay
            self.source = source
            self.action = action
        }

        /// How far the clock moves before the step.
        public var advance: Duration {
            delay < 200 ? .microseconds(100 * Int(delay)) : .seconds(Int(delay) - 199)
        }
    }

    public var options: Options
    public var steps: [Step]

    public init(options: Options = [], steps: [Step]) {
        self.options = options
        self.steps = steps
    }

    static let messageTypes: [MessageType] = [.transferChunk, .transferAck, .transferEnd, .transferDone]

    /// Reads any bytes as a script (never fails: every byte string is one).
    public init(_ input: [UInt8]) {
        options = Options(rawValue: input.first ?? 0)
        steps = []
        var offset = 1
        while offset + 4 <= input.count {
            let op = input[offset], delay = input[offset + 1]
            let length = Int(input[offset + 2]) << 8 | Int(input[offset + 3])
            let body = Array(input[(offset + 4)..<min(input.count, offset + 4 + length)])
            offset += 4 + body.count
            let action: Action
            switch op % 8 {
            case 0...3: action = .message(Self.messageTypes[Int(op % 8)], body)
            case 4: action = .receiverTimers
            case 5: action = .senderTimer
            case 6:
                var reader = ByteReader(body)
                let id = (try? reader.readUInt64()) ?? 0, bytes = (try? reader.readUInt32()) ?? 0, seconds = (try? reader.readUInt8()) ?? 0
                action = .expect(id: id, maxBytes: Int(bytes), seconds: seconds)
            default:
                var reader = ByteReader(body)
                action = .forget(id: (try? reader.readUInt64()) ?? 0)
            }
            steps.append(Step(delay: delay, source: Int(op >> 4 & 3), action))
        }
    }

    /// The bytes that read as this script (for seeds).
    public var encoded: [UInt8] {
        var bytes: [UInt8] = [options.rawValue]
        for step in steps {
            var op: UInt8, body: [UInt8] = []
            switch step.action {
            case .message(let type, let message):
                op = UInt8(Self.messageTypes.firstIndex(of: type) ?? 0)
                body = message
            case .receiverTimers: op = 4
            case .senderTimer: op = 5
            case .expect(let id, let maxBytes, let seconds):
                op = 6
                body = id.bigEndianBytes + UInt32(clamping: maxBytes).bigEndianBytes + [seconds]
            case .forget(let id):
                op = 7
                body = id.bigEndianBytes
            }
            op |= UInt8(step.source & 3) << 4
            bytes += [op, step.delay] + UInt16(clamping: body.count).bigEndianBytes + body.prefix(Int(UInt16.max))
        }
        return bytes
    }
}
