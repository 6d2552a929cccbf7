#if canImport(Glibc)
import Glibc
#endif

/// What a nonblocking system call did: finished with a value, or would have blocked.
enum IOResult<Value> {
    case done(Value)
    case wouldBlock
}

/// The one system-call wrapper of the package: retries EINTR, reports EAGAIN and
/// EWOULDBLOCK as `.wouldBlock`, and throws any other failure as a `UDPError`
/// carrying errno and the name of the call. The name is made only for the
/// error: an interpolated address on every send was 2% of an idle server.
@inline(__always)
func systemCall<Result: FixedWidthInteger>(
    _ name: @autoclosure () -> String, _ body: () -> Result
) throws -> IOResult<Result> {
    while true {
        let result = body()
        if result >= 0 { return .done(result) }
        let code = errno
        switch code {
        case EINTR: continue
        case EAGAIN, EWOULDBLOCK: return .wouldBlock
        default: throw UDPError.system(name(), errno: code)
        }
    }
}

/// A system call that never blocks (socket, bind, setsockopt, epoll_ctl):
/// EINTR retried, any failure thrown.
@inline(__always)
@discardableResult
func systemCallChecked<Result: FixedWidthInteger>(
    _ name: @autoclosure () -> String, _ body: () -> Result
) throws -> Result {
    switch try systemCall(name(), body) {
    case .done(let value): return value
    case .wouldBlock: throw UDPError.system(name(), errno: EAGAIN)
    }
}
