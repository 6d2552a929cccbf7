#if canImport(Glibc)
import Glibc
#endif

/// Cores available to split work over (at least 1, at most 8).
public enum ProcessorCount {
    public static let online = max(1, min(8, sysconf(Int32(_SC_NPROCESSORS_ONLN))))
}
