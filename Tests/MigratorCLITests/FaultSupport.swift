import Foundation
import PostgresClient
import TestSupport
import Testing

// Helpers for the fault tests (locks, signals, waits, kill -9, the pooler, bad input). They start real
// processes and servers only; nothing here fakes the database.

extension Tag {
    /// Contention, signals, connection faults, kill -9, the pooler.
    @Tag static var faults: Self
    /// Takes more than a few seconds of wall time.
    @Tag static var slow: Self
}

/// A fresh database for one fault test, dropped afterwards.
func withFaultDatabase<T>(_ body: (TestDatabase) throws -> T) throws -> T {
    let database = try TestDatabase.create(prefix: "fault")
    defer { database.drop() }
    return try body(database)
}

/// The password of the test cluster must appear in no output of any run.
func expectNoPassword(_ result: Spawned.Result, _ password: String, sourceLocation: SourceLocation = #_sourceLocation) {
    guard !password.isEmpty else { return }
    #expect(!result.stdout.contains(password), "password leaked to stdout", sourceLocation: sourceLocation)
    #expect(!result.stderr.contains(password), "password leaked to stderr", sourceLocation: sourceLocation)
}

/// An application's session: a connection of its own, with its own application_name.
func appSession(_ database: TestDatabase, name: String) throws -> Connection {
    try Connection.connect(to: database.url, applicationName: name, deadline: .now + .seconds(15))
}

/// Advisory locks held in `database` by anyone (other tests use other databases on the same cluster).
func advisoryLocks(in database: TestDatabase) throws -> Int {
    let rows = try database.query(
        "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' "
            + "AND database = (SELECT oid FROM pg_database WHERE datname = current_database())")
    return Int(rows.first?.first.flatMap { $0 } ?? "-1") ?? -1
}

/// Waits until migrator's own session (application_name `migrator`) in `database` shows `condition`
/// in pg_stat_activity, e.g. `query LIKE '%pg_sleep%' AND state = 'active'`.
func waitForMigratorSession(
    in database: TestDatabase, where condition: String, timeout: Duration = .seconds(20)
) throws {
    try MigratorProcess.waitUntil(timeout: timeout) {
        let rows = try database.query(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                + "AND application_name = 'migrator' AND pid <> pg_backend_pid() AND (\(condition))")
        return rows.first?.first == "1"
    }
}

/// A TCP port nobody listens on right now.
func freePort() throws -> Int {
    let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard descriptor >= 0 else { throw TestSetupError("socket() failed") }
    defer { close(descriptor) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_port = 0
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    let bound = withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
            bind(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
        }
    }
    guard bound == 0 else { throw TestSetupError("bind() failed") }
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    let named = withUnsafeMutablePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(descriptor, $0, &length) }
    }
    guard named == 0 else { throw TestSetupError("getsockname() failed") }
    return Int(UInt16(bigEndian: address.sin_port))
}

/// True once something accepts TCP connections on 127.0.0.1:`port`.
func isListening(_ port: Int) -> Bool {
    let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard descriptor >= 0 else { return false }
    defer { close(descriptor) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_port = UInt16(port).bigEndian
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    return withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
            connect(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0
        }
    }
}

/// Runs a command (looked up in PATH) to completion; returns its exit status and stdout. Its stderr
/// is shown only when it fails.
@discardableResult
func runTool(_ arguments: [String], environment: [String: String]? = nil) throws -> (status: Int32, stdout: String) {
    let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/sbin:/usr/bin:/sbin:/bin"
    let directories = path.split(separator: ":").map(String.init) + ["/usr/sbin", "/sbin"]
    guard
        let executable = directories.map({ $0 + "/" + arguments[0] }).first(where: FileManager.default.isExecutableFile)
    else { throw TestSetupError("\(arguments[0]) not found in PATH") }
    let result = try Spawned(
        executable, Array(arguments.dropFirst()), environment: environment ?? ProcessInfo.processInfo.environment
    ).wait(timeout: .seconds(120))
    if result.exitCode != 0 || result.signalled { FileHandle.standardError.write(Data(result.stderr.utf8)) }
    return (result.signalled ? -1 : result.exitCode, result.stdout)
}

/// `runuser -u postgres --` when we are root (initdb, pg_ctl and pgbouncer refuse to run as root).
var asPostgres: [String] { getuid() == 0 ? ["runuser", "-u", "postgres", "--"] : [] }

/// A second throwaway PostgreSQL cluster made with scripts/lib/common.sh's `start_postgres`, for the
/// tests that stop and start a server (the shared cluster must stay up for everyone else).
final class ScratchCluster: @unchecked Sendable {
    let directory: String
    let port: Int
    let url: String
    let binDirectory: String

    init() throws {
        var environment = ProcessInfo.processInfo.environment
        // start_postgres takes PG_PORT from the environment when set: scripts/test.sh exports the
        // shared cluster's, which must not be reused.
        environment["PG_PORT"] = nil
        environment["PG_DIR"] = nil
        let script = """
            set -e
            cd '\(TestEnvironment.packageRoot.path)'
            . scripts/lib/common.sh
            start_postgres ${MIGRATOR_TEST_PG_BINDIR:-} >&2
            printf '%s\\n%s\\n%s\\n%s\\n' "$PG_DIR" "$PG_PORT" "$PG_URL" "$PG_BINDIR"
            """
        let (status, output) = try runTool(["bash", "-c", script], environment: environment)
        let lines = output.split(separator: "\n").map(String.init)
        guard status == 0, lines.count == 4, let port = Int(lines[1]) else {
            throw TestSetupError("start_postgres failed (status \(status))")
        }
        directory = lines[0]
        self.port = port
        url = lines[2]
        binDirectory = lines[3]
    }

    var password: String { URLComponents(string: url)?.password ?? "" }

    func stop() throws {
        try runTool(asPostgres + ["\(binDirectory)/pg_ctl", "-D", "\(directory)/data", "-m", "fast", "-w", "stop"])
    }

    func start() throws {
        let (status, _) = try runTool(
            asPostgres + [
                "\(binDirectory)/pg_ctl", "-D", "\(directory)/data", "-l", "\(directory)/server.log", "-w", "start",
            ])
        if status != 0 { throw TestSetupError("pg_ctl start failed") }
    }

    /// Stops the server (if running) and removes its files.
    func destroy() {
        _ = try? runTool(
            asPostgres + ["\(binDirectory)/pg_ctl", "-D", "\(directory)/data", "-m", "immediate", "-w", "stop"])
        try? FileManager.default.removeItem(atPath: directory)
    }
}

/// Collects samples from a background thread until told to stop.
final class LatencyProbe: @unchecked Sendable {
    private let lock = NSLock()
    private var samples: [Duration] = []
    private var errors: [String] = []
    private var stopped = false
    private let done = DispatchSemaphore(value: 0)

    /// Runs `sql` on `connection` every `interval`, timing each, until `stop()`.
    init(connection: Connection, sql: String, interval: Duration = .milliseconds(50)) {
        let thread = Thread { [self] in
            while !isStopped {
                let started = ContinuousClock.now
                do {
                    try connection.simpleQuery(sql)
                    record(ContinuousClock.now - started)
                } catch {
                    record(error: "\(error)")
                }
                Thread.sleep(
                    forTimeInterval: Double(interval.components.attoseconds) / 1e18
                        + Double(interval.components.seconds))
            }
            done.signal()
        }
        thread.start()
    }

    private var isStopped: Bool {
        lock.lock()
        defer { lock.unlock() }
        return stopped
    }

    private func record(_ sample: Duration) {
        lock.lock()
        samples.append(sample)
        lock.unlock()
    }

    private func record(error: String) {
        lock.lock()
        errors.append(error)
        lock.unlock()
    }

    /// Stops the loop and returns the samples and the errors it saw.
    func stop() -> (samples: [Duration], errors: [String]) {
        lock.lock()
        stopped = true
        lock.unlock()
        done.wait()
        lock.lock()
        defer { lock.unlock() }
        return (samples, errors)
    }
}

extension Duration {
    var seconds: Double { Double(components.seconds) + Double(components.attoseconds) / 1e18 }
}

/// The fault tests' name for the shared process runner.
typealias Spawned = MigratorProcess

extension MigratorProcess {
    convenience init(_ executable: String, _ arguments: [String], environment: [String: String]) throws {
        try self.init(executable: executable, arguments, environment: environment)
    }

    static func migrator(_ arguments: [String], environment: [String: String]) throws -> MigratorProcess {
        try MigratorProcess(arguments, environment: environment)
    }

    static func runMigrator(
        _ arguments: [String], environment: [String: String], timeout: Duration = .seconds(120)
    ) throws -> Result {
        try run(arguments, environment: environment, timeout: timeout)
    }
}
