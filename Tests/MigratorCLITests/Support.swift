import Foundation
import TestSupport
import Testing

extension Tag {
    @Tag static var postgres: Self
    @Tag static var drizzleCompatibility: Self
    @Tag static var concurrency: Self
}

/// Runs `body` with a fresh database, dropped afterwards.
func withDatabase<T>(_ body: (TestDatabase) throws -> T) throws -> T {
    let database = try TestDatabase.create()
    defer { database.drop() }
    return try body(database)
}

/// Every stdout line is one JSON object with the contract's keys, `run.finished` is last with the exit
/// code, and the password appears nowhere in stdout or stderr.
func expectWellFormedRun(
    _ result: MigratorProcess.Result, password: String, sourceLocation: SourceLocation = #_sourceLocation
) throws {
    let lines = try result.logLines()
    #expect(!lines.isEmpty, sourceLocation: sourceLocation)
    for line in lines {
        for key in ["timestamp", "level", "message", "event"] {
            #expect(line[key] is String, "missing \(key) in \(line)", sourceLocation: sourceLocation)
        }
        if let timestamp = line["timestamp"] as? String {
            #expect(timestamp.count == 24 && timestamp.hasSuffix("Z"), "\(timestamp)", sourceLocation: sourceLocation)
        }
    }
    #expect(lines.last?["event"] as? String == "run.finished", sourceLocation: sourceLocation)
    #expect((lines.last?["exit_code"] as? Int).map(Int32.init) == result.exitCode, sourceLocation: sourceLocation)
    if !password.isEmpty {
        #expect(!result.stdout.contains(password), "password leaked to stdout", sourceLocation: sourceLocation)
        #expect(!result.stderr.contains(password), "password leaked to stderr", sourceLocation: sourceLocation)
    }
}
