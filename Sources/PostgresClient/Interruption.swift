import CLibPQ

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

/// The one place a stop request (SIGTERM, SIGINT) reaches the database work.
///
/// The signal thread calls `trigger(_:)`; that cancels every running statement through `PQcancel`
/// and wakes every `sleep`, so a run that is waiting for a lock, a backoff or a slow statement gets
/// control back at once. The work itself then rolls back and exits; nothing here exits the process.
public final class Interruption: @unchecked Sendable {
    public enum Reason: Sendable, Equatable {
        case interrupt  // SIGINT
        case terminate  // SIGTERM

        public var exitCode: Int32 { self == .interrupt ? 130 : 143 }
        public var signalName: String { self == .interrupt ? "SIGINT" : "SIGTERM" }
    }

    private var mutex = pthread_mutex_t()
    private var condition = pthread_cond_t()
    private var _reason: Reason?
    private var handles: [ObjectIdentifier: CancelHandle] = [:]

    public init() {
        pthread_mutex_init(&mutex, nil)
        var attributes = pthread_condattr_t()
        pthread_condattr_init(&attributes)
        #if !canImport(Darwin)
            // Timed waits measure against the monotonic clock, so a wall-clock jump cannot stretch a backoff.
            pthread_condattr_setclock(&attributes, CLOCK_MONOTONIC)
        #endif
        pthread_cond_init(&condition, &attributes)
        pthread_condattr_destroy(&attributes)
    }

    deinit {
        pthread_cond_destroy(&condition)
        pthread_mutex_destroy(&mutex)
    }

    public var reason: Reason? { locked { _reason } }
    public var isTriggered: Bool { reason != nil }

    /// Records the stop request, cancels running statements and wakes sleepers. Only the first call counts.
    public func trigger(_ reason: Reason) {
        let toCancel: [CancelHandle] = locked {
            guard _reason == nil else { return [] }
            _reason = reason
            pthread_cond_broadcast(&condition)
            return Array(handles.values)
        }
        for handle in toCancel { handle.cancelStatement() }
    }

    /// Sleeps up to `milliseconds`; returns early (and `true`) when the run is interrupted.
    @discardableResult
    public func sleep(milliseconds: Int64) -> Bool {
        var deadline = timespec()
        #if canImport(Darwin)
            clock_gettime(CLOCK_REALTIME, &deadline)
        #else
            clock_gettime(CLOCK_MONOTONIC, &deadline)
        #endif
        let nanoseconds = Int(deadline.tv_nsec) + Int(milliseconds % 1000) * 1_000_000
        deadline.tv_sec += Int(milliseconds / 1000) + nanoseconds / 1_000_000_000
        deadline.tv_nsec = nanoseconds % 1_000_000_000
        return locked {
            while _reason == nil {
                if pthread_cond_timedwait(&condition, &mutex, &deadline) == ETIMEDOUT { break }
            }
            return _reason != nil
        }
    }

    func register(_ handle: CancelHandle) {
        let alreadyTriggered = locked {
            handles[ObjectIdentifier(handle)] = handle
            return _reason != nil
        }
        if alreadyTriggered { handle.cancelStatement() }
    }

    func unregister(_ handle: CancelHandle) {
        locked { _ = handles.removeValue(forKey: ObjectIdentifier(handle)) }
    }

    private func locked<T>(_ body: () throws -> T) rethrows -> T {
        pthread_mutex_lock(&mutex)
        defer { pthread_mutex_unlock(&mutex) }
        return try body()
    }
}

/// A `PGcancel` owned by one connection. `PQcancel` is documented as safe to call from another
/// thread (it is meant for signal handlers), but freeing it is not, so cancel and free share a lock.
final class CancelHandle: @unchecked Sendable {
    private var mutex = pthread_mutex_t()
    private var cancel: OpaquePointer?

    init(_ cancel: OpaquePointer?) {
        pthread_mutex_init(&mutex, nil)
        self.cancel = cancel
    }

    deinit {
        free()
        pthread_mutex_destroy(&mutex)
    }

    func cancelStatement() {
        pthread_mutex_lock(&mutex)
        defer { pthread_mutex_unlock(&mutex) }
        guard let cancel else { return }
        var buffer = [CChar](repeating: 0, count: 256)
        _ = PQcancel(cancel, &buffer, Int32(buffer.count))
    }

    func free() {
        pthread_mutex_lock(&mutex)
        defer { pthread_mutex_unlock(&mutex) }
        if let cancel { PQfreeCancel(cancel) }
        cancel = nil
    }
}
