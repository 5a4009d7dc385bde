#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

/// One `Connection.connect` on a thread of its own, so that logging in (libpq's SCRAM key
/// derivation on our side, a backend fork on the server's) overlaps what the caller does meanwhile,
/// such as reading and hashing the migrations folder. On a two-core task that is most of a run
/// with nothing to apply.
///
/// The attempt never logs: its caller reports the outcome, so log lines keep their order.
public final class ConnectAttempt: @unchecked Sendable {
    /// Guards `stopRequested` and `outcome`, which the attempt's thread touches.
    private var mutex = pthread_mutex_t()
    private var stopRequested = false
    private var outcome: Result<Connection, PostgresError>?
    /// Serialises `wait()` and `abandon()`, and guards `thread` and `handedOver`: the join happens
    /// once, and a connection handed over is never closed by a later `abandon()`.
    private var handOver = pthread_mutex_t()
    private var thread: pthread_t?
    private var handedOver = false
    private let connectionString: String
    private let applicationName: String
    private let deadline: ContinuousClock.Instant
    private let interruption: Interruption?

    /// Starts the attempt; if no thread can be made, it runs inside `wait()` instead.
    public init(
        to connectionString: String, applicationName: String, deadline: ContinuousClock.Instant,
        interruption: Interruption?
    ) {
        self.connectionString = connectionString
        self.applicationName = applicationName
        self.deadline = deadline
        self.interruption = interruption
        pthread_mutex_init(&mutex, nil)
        pthread_mutex_init(&handOver, nil)
        #if os(Linux)
            start()
        #endif
    }

    #if os(Linux)
        private func start() {
            let retained = Unmanaged.passRetained(self)
            var handle = pthread_t()
            let started = pthread_create(
                &handle, nil,
                { context in
                    let attempt = Unmanaged<ConnectAttempt>.fromOpaque(context!).takeRetainedValue()
                    attempt.run()
                    return nil
                }, retained.toOpaque())
            if started == 0 {
                thread = handle
            } else {
                retained.release()
            }
        }
    #endif

    deinit {
        pthread_mutex_destroy(&mutex)
        pthread_mutex_destroy(&handOver)
    }

    private func run() {
        let result: Result<Connection, PostgresError>
        do throws(PostgresError) {
            result = .success(
                try Connection.connect(
                    to: connectionString, applicationName: applicationName, deadline: deadline,
                    interruption: interruption, abandoned: { [unowned self] in locked { stopRequested } }))
        } catch {
            result = .failure(error)
        }
        locked { outcome = result }
    }

    /// The attempt's connection, or why it failed. The first call takes it; later calls fail.
    public func wait() throws(PostgresError) -> Connection {
        pthread_mutex_lock(&handOver)
        defer { pthread_mutex_unlock(&handOver) }
        guard !handedOver else {
            throw PostgresError(code: .connectionFailed, message: "the connection attempt was already handed over")
        }
        handedOver = true
        if let thread {
            pthread_join(thread, nil)
            self.thread = nil
        } else {
            run()
        }
        return try locked { outcome! }.get()
    }

    /// Stops the attempt (at its next poll, within about 100 ms, once libpq has resolved the host
    /// name) and closes whatever it made. Does nothing once `wait()` has handed the connection over.
    ///
    /// The thread is joined rather than left behind: a process that exits while another thread is
    /// inside OpenSSL can crash in OpenSSL's exit handlers, turning a clean exit 2 into a signal.
    public func abandon() {
        pthread_mutex_lock(&handOver)
        defer { pthread_mutex_unlock(&handOver) }
        guard !handedOver else { return }
        handedOver = true
        locked { stopRequested = true }
        guard let thread else { return }  // never started: nothing to stop
        pthread_join(thread, nil)
        self.thread = nil
        if case .success(let connection) = locked({ outcome }) { connection.close() }
    }

    private func locked<T>(_ body: () -> T) -> T {
        pthread_mutex_lock(&mutex)
        defer { pthread_mutex_unlock(&mutex) }
        return body()
    }
}
