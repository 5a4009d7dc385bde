import Foundation
import StructuredLogging
import SystemSupport
import TestSupport
import Testing

@testable import MigrationEngine

/// `DatabaseTarget`'s per-attempt password (how `--iam-auth` passes a fresh RDS token to libpq).
@Suite("per-attempt password hook")
struct PasswordHookTests {
    /// Counts calls and hands out a different password each time.
    final class Passwords: @unchecked Sendable {
        private let lock = NSLock()
        private var made: [String] = []
        let fixed: String?
        init(fixed: String? = nil) { self.fixed = fixed }
        var all: [String] { lock.withLock { made } }
        func next() -> String {
            lock.withLock {
                made.append(fixed ?? "hook-password-\(made.count)-\(UUID().uuidString.prefix(8))")
                return made.last!
            }
        }
    }

    @Test("called before every attempt of a connect wait, each value registered for redaction")
    func everyAttempt() throws {
        let passwords = Passwords()
        // Port 1 on loopback refuses at once: every attempt fails and is retried until the timeout.
        let target = try DatabaseTarget("postgresql://iam_user@127.0.0.1:1/db") { passwords.next() }
        var settings = Settings()
        settings.connectTimeout = .milliseconds(1600)
        let log = LogCapture()
        var attempts: Int?
        do {
            _ = try DatabaseConnector.connect(
                to: target, settings: settings, interruption: Interruption(), logger: log.logger)
            Issue.record("connected to a closed port")
        } catch {
            #expect(error.code == .database)
            attempts = error.message.firstMatch(of: /\((\d+) attempts\)/).flatMap { Int($0.1) }
        }
        #expect(passwords.all.count >= 3)
        #expect(passwords.all.count == attempts)
        #expect(Set(passwords.all).count == passwords.all.count)
        for password in passwords.all { #expect(Redaction.shared.scrub(password) == "***") }
    }

    @Test(
        "its value is the password libpq sends, over the URL's own",
        .enabled(if: TestEnvironment.postgresTestsEnabled))
    func overridesURL() throws {
        let database = try TestDatabase.create(prefix: "hook")
        defer { database.drop() }
        let passwords = Passwords(fixed: database.password)
        let wrong = database.url(withPassword: database.password + "-wrong")
        let target = try DatabaseTarget(wrong) { passwords.next() }
        let log = LogCapture()
        let connection = try DatabaseConnector.connect(
            to: target, settings: Settings(), interruption: Interruption(), logger: log.logger)
        defer { connection.close() }
        #expect(passwords.all.count == 1)
    }
}
