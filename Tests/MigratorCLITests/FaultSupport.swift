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

/// A child process started with `posix_spawn` and reaped with `waitpid`, for the fault tests.
///
/// Foundation's `Process` is not used here on purpose: on Linux it learns that a child ended when a
/// socket inherited by the child closes, and its children inherit every descriptor the test process
/// has open (other children's sockets and pipes included) with the signal mask of the spawning
/// thread (Dispatch workers block SIGTERM and SIGINT). A daemon started under it (pg_ctl's postgres,
/// pgbouncer) then hides the exit of unrelated processes, and cannot be stopped by a signal; under
/// parallel tests even a plain run's exit is seen late, which would spoil every timing measured here.
/// So: an empty signal mask, default dispositions, every descriptor above 2 closed in the child,
/// close-on-exec pipes in the parent.
final class Spawned: @unchecked Sendable {
    struct Result: Sendable {
        /// The exit status, or the signal number that ended the process (as Foundation reports it).
        var exitCode: Int32
        var signalled: Bool
        var stdout: String
        var stderr: String
        var duration: Duration
        var output: String { stdout + stderr }

        /// Every stdout line parsed as a JSON object.
        func logLines() throws -> [[String: Any]] {
            try stdout.split(separator: "\n").map { line in
                guard let object = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any] else {
                    throw TestSetupError("stdout line is not a JSON object: \(line)")
                }
                return object
            }
        }

        func events(_ name: String) throws -> [[String: Any]] {
            try logLines().filter { $0["event"] as? String == name }
        }

        func count(_ event: String) -> Int { (try? events(event).count) ?? 0 }

        var lastLine: [String: Any]? { try? logLines().last }

        /// `run.finished`'s error (or message): the one line an operator reads.
        var finalError: String {
            guard let last = lastLine else { return "" }
            return (last["error"] as? String) ?? (last["message"] as? String) ?? ""
        }
    }

    let pid: pid_t
    let started = ContinuousClock.now
    private let lock = NSLock()
    private var outData = Data()
    private var errData = Data()
    private let readers = DispatchGroup()
    private var reaped: Int32?

    /// Starts `executable` with exactly `environment`; stdin is /dev/null.
    init(_ executable: String, _ arguments: [String], environment: [String: String]) throws {
        let out = try Self.pipe()
        let err = try Self.pipe()
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_adddup2(&actions, out.write, 1)
        posix_spawn_file_actions_adddup2(&actions, err.write, 2)
        guard Self.addCloseFrom(&actions, 3) == 0 else {
            throw TestSetupError("posix_spawn_file_actions_addclosefrom_np failed")
        }
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var empty = sigset_t()
        sigemptyset(&empty)
        posix_spawnattr_setsigmask(&attributes, &empty)
        var defaults = sigset_t()
        sigemptyset(&defaults)
        for signal in [SIGINT, SIGTERM, SIGPIPE, SIGCHLD] { sigaddset(&defaults, signal) }
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))

        let argv = ([executable] + arguments).map { strdup($0) } + [nil]
        let envp = environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer {
            argv.forEach { free($0) }
            envp.forEach { free($0) }
        }
        var child: pid_t = 0
        let status = posix_spawn(&child, executable, &actions, &attributes, argv, envp)
        close(out.write)
        close(err.write)
        guard status == 0 else {
            close(out.read)
            close(err.read)
            throw TestSetupError("posix_spawn \(executable): \(String(cString: strerror(status)))")
        }
        pid = child
        for (descriptor, isOut) in [(out.read, true), (err.read, false)] {
            readers.enter()
            DispatchQueue.global().async { [self] in
                let handle = FileHandle(fileDescriptor: descriptor, closeOnDealloc: true)
                let data = handle.readDataToEndOfFile()
                lock.lock()
                if isOut { outData = data } else { errData = data }
                lock.unlock()
                readers.leave()
            }
        }
    }

    /// `migrator` with `arguments`, PATH and `environment` only (as ECS would run it).
    static func migrator(_ arguments: [String], environment: [String: String]) throws -> Spawned {
        var full = ["PATH": ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"]
        full.merge(environment) { _, new in new }
        return try Spawned(TestEnvironment.migratorBinary, arguments, environment: full)
    }

    /// Runs `migrator` to completion.
    static func runMigrator(
        _ arguments: [String], environment: [String: String], timeout: Duration = .seconds(120)
    ) throws -> Result {
        try migrator(arguments, environment: environment).wait(timeout: timeout)
    }

    func signal(_ signal: Int32) { kill(pid, signal) }

    /// True once the process has ended (and is reaped).
    var hasExited: Bool {
        lock.lock()
        defer { lock.unlock() }
        if reaped != nil { return true }
        var status: Int32 = 0
        if waitpid(pid, &status, WNOHANG) == pid { reaped = status }
        return reaped != nil
    }

    /// Waits for the end; kills the process (and throws) after `timeout`.
    func wait(timeout: Duration = .seconds(120)) throws -> Result {
        let deadline = ContinuousClock.now + timeout
        var timedOut = false
        while !hasExited {
            if ContinuousClock.now > deadline {
                kill(pid, SIGKILL)
                timedOut = true
            }
            usleep(1000)
        }
        let duration = ContinuousClock.now - started
        readers.wait()
        if timedOut { throw TestSetupError("process \(pid) did not finish within \(timeout)") }
        lock.lock()
        defer { lock.unlock() }
        let status = reaped ?? 0
        let signalled = (status & 0x7f) != 0
        return Result(
            exitCode: signalled ? status & 0x7f : (status >> 8) & 0xff, signalled: signalled,
            stdout: String(decoding: outData, as: UTF8.self), stderr: String(decoding: errData, as: UTF8.self),
            duration: duration)
    }

    private typealias CloseFrom = @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32
    private typealias Pipe2 = @convention(c) (UnsafeMutablePointer<Int32>, Int32) -> Int32
    // glibc has both (2.34+) but Swift's Glibc module does not import them (they need _GNU_SOURCE).
    private static let addCloseFrom: CloseFrom = unsafeBitCast(
        dlsym(dlopen(nil, RTLD_NOW), "posix_spawn_file_actions_addclosefrom_np")!, to: CloseFrom.self)
    private static let pipe2: Pipe2 = unsafeBitCast(dlsym(dlopen(nil, RTLD_NOW), "pipe2")!, to: Pipe2.self)

    private static func pipe() throws -> (read: Int32, write: Int32) {
        var descriptors: [Int32] = [-1, -1]
        guard pipe2(&descriptors, O_CLOEXEC) == 0 else { throw TestSetupError("pipe2 failed") }
        return (descriptors[0], descriptors[1])
    }
}
