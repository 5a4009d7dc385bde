import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// A child process (normally `migrator`) started with `posix_spawn` and reaped with `waitpid`, the way
/// ECS runs it: arguments, exactly the given environment, exit code, stdout (JSON lines) and stderr.
///
/// Foundation's `Process` is not used here on purpose: on Linux it learns that a child ended when a
/// socket inherited by the child closes, and its children inherit every descriptor the test process
/// has open (other children's sockets and pipes included) with the signal mask of the spawning
/// thread (Dispatch workers block SIGTERM and SIGINT). A daemon started under it (pg_ctl's postgres,
/// pgbouncer) then hides the exit of unrelated processes, and cannot be stopped by a signal; under
/// parallel tests even a plain run's exit is seen late, which would spoil every timing measured here.
/// So: an empty signal mask, default dispositions, every descriptor above 2 closed in the child,
/// close-on-exec pipes in the parent.
public final class MigratorProcess: @unchecked Sendable {
    public struct Result: Sendable {
        /// The exit status, or the signal number that ended the process (as Foundation reports it).
        public var exitCode: Int32
        public var signalled: Bool
        public var stdout: String
        public var stderr: String
        public var duration: Duration
        public var output: String { stdout + stderr }

        /// Every stdout line parsed as a JSON object.
        public func logLines() throws -> [[String: Any]] {
            try stdout.split(separator: "\n").map { line in
                guard let object = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any] else {
                    throw TestSetupError("stdout line is not a JSON object: \(line)")
                }
                return object
            }
        }

        public func events(_ name: String) throws -> [[String: Any]] {
            try logLines().filter { $0["event"] as? String == name }
        }

        public func count(_ event: String) -> Int { (try? events(event).count) ?? 0 }

        public var lastLine: [String: Any]? { try? logLines().last }

        /// `run.finished`'s error (or message): the one line an operator reads.
        public var finalError: String {
            guard let last = lastLine else { return "" }
            return (last["error"] as? String) ?? (last["message"] as? String) ?? ""
        }
    }

    public let pid: pid_t
    public let started = ContinuousClock.now
    private let lock = NSLock()
    private var outData = Data()
    private var errData = Data()
    private let readers = DispatchGroup()
    private var reaped: Int32?

    /// Starts `executable` with exactly `environment`; stdin is /dev/null.
    public init(executable: String, _ arguments: [String], environment: [String: String]) throws {
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

    /// Starts `migrator` with `arguments`, PATH and `environment` only (as ECS would run it).
    public convenience init(_ arguments: [String], environment: [String: String] = [:]) throws {
        var full = ["PATH": ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"]
        full.merge(environment) { _, new in new }
        try self.init(executable: TestEnvironment.migratorBinary, arguments, environment: full)
    }

    /// Runs `migrator` to completion.
    public static func run(
        _ arguments: [String], environment: [String: String] = [:], timeout: Duration = .seconds(120)
    ) throws -> Result {
        try MigratorProcess(arguments, environment: environment).wait(timeout: timeout)
    }

    /// Polls `condition` in small steps until it holds; throws after `timeout`.
    public static func waitUntil(timeout: Duration = .seconds(30), _ condition: () throws -> Bool) throws {
        let deadline = ContinuousClock.now + timeout
        while try !condition() {
            if ContinuousClock.now > deadline { throw TestSetupError("condition not met within \(timeout)") }
            usleep(20_000)
        }
    }

    public func signal(_ signal: Int32) { kill(pid, signal) }

    /// True once the process has ended (and is reaped).
    public var hasExited: Bool {
        lock.lock()
        defer { lock.unlock() }
        if reaped != nil { return true }
        var status: Int32 = 0
        if waitpid(pid, &status, WNOHANG) == pid { reaped = status }
        return reaped != nil
    }

    /// Waits for the end; kills the process (and throws) after `timeout`.
    public func wait(timeout: Duration = .seconds(120)) throws -> Result {
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

/// Common environment for a run against a test database and folder.
public func migratorEnvironment(
    database: TestDatabase, folder: DrizzleFolder, extra: [String: String] = [:]
) -> [String: String] {
    var environment = ["DATABASE_URL": database.url, "MIGRATIONS_DIR": folder.path]
    environment.merge(extra) { _, new in new }
    return environment
}
