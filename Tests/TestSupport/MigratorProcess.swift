import Foundation

/// The `migrator` binary run as a real process, the way ECS runs it: arguments, environment, exit code,
/// stdout (JSON lines) and stderr. The environment starts empty apart from PATH, so a test sees
/// exactly the variables it passes.
public final class MigratorProcess: @unchecked Sendable {
    public struct Result: Sendable {
        public var exitCode: Int32
        public var stdout: String
        public var stderr: String
        public var duration: Duration

        /// Every stdout line parsed as a JSON object (the test fails on a line that is not one).
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

        public var lastLine: [String: Any]? { try? logLines().last }
        public var output: String { stdout + stderr }
    }

    private let process = Process()
    private let stdoutPipe = Pipe()
    private let stderrPipe = Pipe()
    private var stdoutData = Data()
    private var stderrData = Data()
    private let lock = NSLock()
    private let readers = DispatchGroup()
    private let started = ContinuousClock.now

    /// Starts `migrator` with `arguments`; `environment` is added to a minimal base environment.
    public init(_ arguments: [String], environment: [String: String] = [:]) throws {
        process.executableURL = URL(fileURLWithPath: TestEnvironment.migratorBinary)
        process.arguments = arguments
        var base = ["PATH": ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"]
        base.merge(environment) { _, new in new }
        process.environment = base
        process.standardOutput = stdoutPipe
        process.standardError = stderrPipe
        process.standardInput = FileHandle.nullDevice
        for (pipe, isStdout) in [(stdoutPipe, true), (stderrPipe, false)] {
            readers.enter()
            DispatchQueue.global().async { [self] in
                let data = pipe.fileHandleForReading.readDataToEndOfFile()
                lock.lock()
                if isStdout { stdoutData = data } else { stderrData = data }
                lock.unlock()
                readers.leave()
            }
        }
        try process.run()
    }

    public var pid: Int32 { process.processIdentifier }

    public func signal(_ signal: Int32) {
        kill(process.processIdentifier, signal)
    }

    /// Waits for the process to end; kills it (and fails) after `timeout`.
    public func wait(timeout: Duration = .seconds(120)) throws -> Result {
        let deadline = ContinuousClock.now + timeout
        while process.isRunning {
            if ContinuousClock.now > deadline {
                kill(process.processIdentifier, SIGKILL)
                process.waitUntilExit()
                throw TestSetupError("migrator did not finish within \(timeout)")
            }
            usleep(2000)
        }
        process.waitUntilExit()
        readers.wait()
        lock.lock()
        defer { lock.unlock() }
        return Result(
            exitCode: process.terminationStatus, stdout: String(decoding: stdoutData, as: UTF8.self),
            stderr: String(decoding: stderrData, as: UTF8.self), duration: ContinuousClock.now - started)
    }

    /// Waits until stdout shows an event (for example `migration.started`), polling the pipe's
    /// collected output is not possible before EOF, so callers watch the database instead; this
    /// helper simply sleeps in small steps until `condition` holds or `timeout` passes.
    public static func waitUntil(timeout: Duration = .seconds(30), _ condition: () throws -> Bool) throws {
        let deadline = ContinuousClock.now + timeout
        while try !condition() {
            if ContinuousClock.now > deadline { throw TestSetupError("condition not met within \(timeout)") }
            usleep(20_000)
        }
    }

    /// Runs `migrator` to completion.
    public static func run(
        _ arguments: [String], environment: [String: String] = [:], timeout: Duration = .seconds(120)
    ) throws -> Result {
        try MigratorProcess(arguments, environment: environment).wait(timeout: timeout)
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
