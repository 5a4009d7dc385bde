import Logging
import StructuredLogging
import Synchronization
import SystemSupport

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#endif

/// SIGTERM/SIGINT handling for a process that runs as PID 1 in its container (where the kernel
/// installs no default handlers). The signals are blocked in every thread and taken by one thread
/// with `sigwait`, which cancels the running statement through `Interruption`. The main thread then
/// rolls back and exits 143/130. If that has not happened within 1.8 s (a server that does not answer
/// the cancel), the watchdog writes `run.finished` and exits anyway: the server rolls back an open
/// transaction, and releases its locks, when the connection drops.
final class SignalWatcher: Sendable {
    let interruption = Interruption()
    private let finishing = Atomic<Bool>(false)
    private let logger = Mutex<Logger?>(nil)
    static let watchdogDelay: Duration = .milliseconds(1800)

    /// The process's one watcher; `install()` must run before any other thread exists.
    static let shared = SignalWatcher()

    static func install() {
        let watcher = shared
        signal(SIGPIPE, SIG_IGN)
        var set = Self.signalSet()
        pthread_sigmask(SIG_BLOCK, &set, nil)
        var thread = pthread_t()
        let context = Unmanaged.passRetained(watcher).toOpaque()
        pthread_create(
            &thread, nil,
            { context in
                let watcher = Unmanaged<SignalWatcher>.fromOpaque(context!).takeRetainedValue()
                watcher.waitForSignals()
                return nil
            }, context)
        pthread_detach(thread)
    }

    /// The logger the watchdog uses for its last line, once logging is set up.
    func use(_ logger: Logger) {
        self.logger.withLock { $0 = logger }
    }

    /// The main thread calls this before writing `run.finished`; false means the watchdog is already
    /// writing it and the process is about to end.
    func beginFinishing() -> Bool {
        finishing.compareExchange(expected: false, desired: true, ordering: .sequentiallyConsistent).exchanged
    }

    private static func signalSet() -> sigset_t {
        var set = sigset_t()
        sigemptyset(&set)
        sigaddset(&set, SIGINT)
        sigaddset(&set, SIGTERM)
        return set
    }

    private func waitForSignals() {
        var set = Self.signalSet()
        var first: Interruption.Reason?
        while true {
            var received: Int32 = 0
            guard sigwait(&set, &received) == 0 else { continue }
            let reason: Interruption.Reason = received == SIGINT ? .interrupt : .terminate
            if first == nil {
                first = reason
                interruption.trigger(reason)
                startWatchdog(reason)
            }
        }
    }

    private func startWatchdog(_ reason: Interruption.Reason) {
        var thread = pthread_t()
        let context = Unmanaged.passRetained(WatchdogContext(watcher: self, reason: reason)).toOpaque()
        pthread_create(
            &thread, nil,
            { context in
                let box = Unmanaged<WatchdogContext>.fromOpaque(context!).takeRetainedValue()
                var pause = timespec(tv_sec: 1, tv_nsec: 800_000_000)
                var remaining = timespec()
                while nanosleep(&pause, &remaining) != 0 { pause = remaining }
                box.watcher.forceExit(box.reason)
                return nil
            }, context)
        pthread_detach(thread)
    }

    private func forceExit(_ reason: Interruption.Reason) {
        if beginFinishing(), let logger = logger.withLock({ $0 }) {
            logger.event(
                .error, "run.finished",
                "stopped by \(reason.signalName); the rollback did not finish within 1.8 s, exiting anyway "
                    + "(the server rolls back the open transaction when the connection closes)",
                ["exit_code": .int(reason.exitCode), "forced": .bool(true)])
        }
        _exit(reason.exitCode)
    }
}

private final class WatchdogContext {
    let watcher: SignalWatcher
    let reason: Interruption.Reason
    init(watcher: SignalWatcher, reason: Interruption.Reason) {
        self.watcher = watcher
        self.reason = reason
    }
}
