import CLibPQ
import SystemSupport

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

/// A `PGcancel` owned by one connection. `PQcancel` is documented as safe to call from another
/// thread (it is meant for signal handlers), but freeing it is not, so cancel and free share a lock.
final class CancelHandle: StopListener, @unchecked Sendable {
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

    func stopRequested() { cancelStatement() }

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
