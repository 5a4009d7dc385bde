#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

/// Something running that a stop request must cut short at once: a database statement (`PQcancel`),
/// an HTTP transfer. Called from the signal thread, so it must be safe to call from any thread.
public protocol StopListener: AnyObject, Sendable {
    func stopRequested()
}

/// The one place a stop request (SIGTERM, SIGINT) reaches the work, database and AWS alike.
///
/// The signal thread calls `trigger(_:)`; that tells every registered `StopListener` (a running
/// statement is cancelled) and wakes every `sleep`, so a run that is waiting for a lock, a backoff, a
/// retry or a slow statement gets control back at once. The work itself then rolls back and exits;
/// nothing here exits the process.
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
    private var listeners: [ObjectIdentifier: any StopListener] = [:]

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
        let toTell: [any StopListener] = locked {
            guard _reason == nil else { return [] }
            _reason = reason
            pthread_cond_broadcast(&condition)
            return Array(listeners.values)
        }
        for listener in toTell { listener.stopRequested() }
    }

    /// Sleeps up to `duration`; returns early (and `true`) when the run is interrupted.
    @discardableResult
    public func sleep(for duration: Duration) -> Bool {
        let milliseconds = duration.milliseconds
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

    /// Until `unregister`, `listener` hears of the stop request; at once if it already came.
    public func register(_ listener: any StopListener) {
        let alreadyTriggered = locked {
            listeners[ObjectIdentifier(listener)] = listener
            return _reason != nil
        }
        if alreadyTriggered { listener.stopRequested() }
    }

    public func unregister(_ listener: any StopListener) {
        locked { _ = listeners.removeValue(forKey: ObjectIdentifier(listener)) }
    }

    private func locked<T>(_ body: () throws -> T) rethrows -> T {
        pthread_mutex_lock(&mutex)
        defer { pthread_mutex_unlock(&mutex) }
        return try body()
    }
}
