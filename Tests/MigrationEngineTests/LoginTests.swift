import Foundation
import PostgresClient
import TestSupport
import Testing

/// SCRAM logins through libpq, with and without TLS.
@Suite("login")
struct LoginTests {
    @Test(
        "SCRAM logins through libpq from several threads succeed, and a wrong password is refused",
        .enabled(if: TestEnvironment.postgresTestsEnabled))
    func scramLogin() throws {
        let database = try TestDatabase.create(prefix: "login")
        defer { database.drop() }
        let method = try database.query(
            "SELECT auth_method FROM pg_hba_file_rules WHERE type = 'host' AND address = '127.0.0.1' LIMIT 1")
        // Logins from several threads at once, as the run and its monitor connection make them.
        let logins = 6
        let failures = Locked(0)
        DispatchQueue.concurrentPerform(iterations: logins) { _ in
            do {
                let connection = try database.connect()
                defer { connection.close() }
                if try connection.query("SELECT 1").scalar != "1" {
                    failures.mutate { $0 += 1 }
                }
            } catch {
                failures.mutate { $0 += 1 }
            }
        }
        #expect(failures.value == 0)
        // The test cluster asks for SCRAM over TCP (scripts/lib/common.sh).
        #expect(method.first?.first == "scram-sha-256")
        let wrong = database.url(withPassword: database.password + "x")
        #expect {
            try Connection.connect(to: wrong, deadline: .now + .seconds(10)).close()
        } throws: { error in
            (error as? PostgresError)?.sqlState == "28P01"
        }
    }

    /// Without TLS, with TLS 1.3 and with TLS 1.2; the connection says which it has.
    @Test(
        "a SCRAM login without TLS, over TLS 1.3 and over TLS 1.2",
        .enabled(if: TestEnvironment.postgresTestsEnabled),
        arguments: [
            ("sslmode=disable", "f", ""), ("sslmode=require&ssl_min_protocol_version=TLSv1.3", "t", "TLSv1.3"),
            ("sslmode=require&ssl_max_protocol_version=TLSv1.2", "t", "TLSv1.2"),
        ])
    func scramLoginTransports(parameters: String, ssl: String, version: String) throws {
        let database = try TestDatabase.create(prefix: "login")
        defer { database.drop() }
        let separator = database.url.contains("?") ? "&" : "?"
        let connection = try Connection.connect(
            to: database.url + separator + parameters, deadline: .now + .seconds(10))
        defer { connection.close() }
        let row = try connection.query(
            "SELECT ssl::text, coalesce(version, '') FROM pg_stat_ssl WHERE pid = pg_backend_pid()"
        ).rows.first
        #expect(row == [ssl == "t" ? "true" : "false", version])
        #expect(connection.tls == (ssl == "t" ? .unverified : TLSState.none))
    }

}

/// A value shared between threads.
final class Locked<Value>: @unchecked Sendable {
    private let lock = NSLock()
    private var stored: Value
    init(_ value: Value) { stored = value }
    var value: Value { lock.withLock { stored } }
    func mutate(_ body: (inout Value) -> Void) { lock.withLock { body(&stored) } }
}
