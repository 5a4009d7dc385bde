import Foundation
import TestSupport
import Testing

/// Certificate, host-name and protocol failures are final (exit 3 at once, not after the connect
/// timeout), `database.connected` says how the session is protected, and an unverified connection
/// off loopback is warned about (issue 14, finding 5 and item 6). The test cluster serves a
/// self-signed certificate for CN=localhost (scripts/lib/common.sh).
@Suite("TLS verification", .tags(.postgres), .enabled(if: TestEnvironment.postgresTestsEnabled))
struct TLSVerificationTests {
    /// The test server's certificate, which scripts/test.sh exports.
    static var serverCertificate: String? { ProcessInfo.processInfo.environment["MIGRATOR_TEST_PG_CERT"] }

    func url(_ database: TestDatabase, host: String? = nil, query: [String: String]) throws -> String {
        var components = try #require(URLComponents(string: database.url))
        if let host { components.host = host }
        var items = components.queryItems ?? []
        for (name, value) in query.sorted(by: { $0.key < $1.key }) {
            items.append(URLQueryItem(name: name, value: value))
        }
        components.queryItems = items
        return try #require(components.string)
    }

    func run(_ database: TestDatabase, url: String) throws -> MigratorProcess.Result {
        let folder = try DrizzleFolder.generated(count: 1)
        defer { folder.remove() }
        var environment = migratorEnvironment(database: database, folder: folder)
        environment["DATABASE_URL"] = url
        environment["MIGRATOR_CONNECT_TIMEOUT"] = "60s"
        return try MigratorProcess.run(["up"], environment: environment)
    }

    @Test("verify-full against the right root and host name: connected, and the log says verified")
    func verified() throws {
        let certificate = try #require(Self.serverCertificate, "MIGRATOR_TEST_PG_CERT is not set")
        try withDatabase { database in
            let result = try run(
                database,
                url: try url(
                    database, host: "localhost", query: ["sslmode": "verify-full", "sslrootcert": certificate]))
            #expect(result.exitCode == 0, "\(result.output)")
            let connected = try #require(try result.events("database.connected").first)
            #expect(connected["tls"] as? Bool == true)
            #expect(connected["tls_verified"] as? Bool == true)
            #expect(result.count("database.unverified") == 0)
        }
    }

    @Test("a certificate for another host name fails at once with exit 3 and says which check failed")
    func wrongHostName() throws {
        let certificate = try #require(Self.serverCertificate, "MIGRATOR_TEST_PG_CERT is not set")
        try withDatabase { database in
            let result = try run(
                database,
                url: try url(
                    database, host: "127.0.0.1", query: ["sslmode": "verify-full", "sslrootcert": certificate]))
            #expect(result.exitCode == 3)
            #expect(result.duration < .seconds(10), "retried a TLS failure for \(result.duration)")
            #expect(result.count("database.waiting") == 0)
            #expect(result.finalError.contains("does not name this host"), "\(result.finalError)")
            #expect(result.finalError.contains("PGSSLROOTCERT"))
            try expectWellFormedRun(result, password: database.password)
        }
    }

    @Test("an untrusted root certificate fails at once with exit 3")
    func untrustedRoot() throws {
        try withDatabase { database in
            let directory = FileManager.default.temporaryDirectory.appendingPathComponent("tls-\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(at: directory) }
            let other = directory.appendingPathComponent("other.crt").path
            let (status, _) = try runTool([
                "openssl", "req", "-new", "-x509", "-days", "1", "-nodes", "-subj", "/CN=localhost",
                "-keyout", directory.appendingPathComponent("other.key").path, "-out", other,
            ])
            try #require(status == 0)
            let result = try run(
                database,
                url: try url(database, host: "localhost", query: ["sslmode": "verify-full", "sslrootcert": other]))
            #expect(result.exitCode == 3)
            #expect(result.duration < .seconds(10))
            #expect(result.finalError.contains("not trusted"), "\(result.finalError)")
        }
    }

    @Test("an unverified connection to a host that is not loopback is warned about; loopback is not")
    func unverifiedWarning() throws {
        try withDatabase { database in
            // host names a remote-looking server; hostaddr still reaches the local test cluster.
            let remote = try run(
                database,
                url: try url(
                    database, host: "db.internal.example", query: ["sslmode": "require", "hostaddr": "127.0.0.1"]))
            #expect(remote.exitCode == 0, "\(remote.output)")
            let warning = try #require(try remote.events("database.unverified").first)
            #expect(warning["tls_mode"] as? String == "unverified")
            #expect(try remote.events("database.connected").first?["tls_verified"] as? Bool == false)

            let local = try run(database, url: try url(database, query: ["sslmode": "disable"]))
            #expect(local.exitCode == 0)
            #expect(local.count("database.unverified") == 0)
            #expect(try local.events("database.connected").first?["tls"] as? Bool == false)
        }
    }
}
