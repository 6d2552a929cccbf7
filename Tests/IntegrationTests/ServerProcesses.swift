import Testing

/// The suites that run server processes, one at a time: side by side on a
/// two-core machine they starve each other's heartbeats, and what they check
/// (a ring forms, a kill -9 is taken over) is then decided by the scheduler.
@Suite(.serialized) enum ServerProcesses {}
