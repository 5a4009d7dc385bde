import Foundation
import PostgresClient

/// A database of its own for one test, on the shared throwaway cluster, so tests run in parallel
/// without seeing each other. Dropped by `drop()` (tests call it in `defer`).
public final class TestDatabase: @unchecked Sendable {
    public let name: String
    /// URL of this database, with the cluster's password.
    public let url: String
    private let adminURL: String

    public static func create(prefix: String = "t") throws -> TestDatabase {
        guard let adminURL = TestEnvironment.adminURL else {
            throw TestSetupError(
                "MIGRATOR_TEST_DATABASE_URL is not set: run the tests through scripts/test.sh, which starts PostgreSQL")
        }
        let name = "\(prefix)_\(UUID().uuidString.prefix(12).lowercased().replacingOccurrences(of: "-", with: ""))"
        let admin = try connect(adminURL)
        defer { admin.close() }
        try admin.simpleQuery("CREATE DATABASE \"\(name)\"")
        return TestDatabase(name: name, adminURL: adminURL)
    }

    private init(name: String, adminURL: String) {
        self.name = name
        self.adminURL = adminURL
        self.url = TestDatabase.replacingDatabase(in: adminURL, with: name)
    }

    public func drop() {
        guard let admin = try? TestDatabase.connect(adminURL) else { return }
        defer { admin.close() }
        _ = try? admin.simpleQuery("DROP DATABASE IF EXISTS \"\(name)\" WITH (FORCE)")
    }

    /// A fresh connection to this database (the caller closes it).
    public func connect(applicationName: String = "migrator-tests") throws -> Connection {
        try TestDatabase.connect(url, applicationName: applicationName)
    }

    /// Runs SQL on a short-lived connection and returns the rows of the last result.
    @discardableResult
    public func query(_ sql: String) throws -> [[String?]] {
        let connection = try connect()
        defer { connection.close() }
        return try connection.simpleQuery(sql).last?.rows ?? []
    }

    /// `(hash, created_at)` of the tracking table in id order, as TSV lines like expected_tracking.tsv.
    public func trackingRows(schema: String = "drizzle", table: String = "__drizzle_migrations") throws -> [String] {
        try query("SELECT hash, created_at FROM \"\(schema)\".\"\(table)\" ORDER BY id").map {
            "\($0[0] ?? "NULL")\t\($0[1] ?? "NULL")"
        }
    }

    /// The same URL with another password, for the wrong-password tests.
    public func url(withPassword password: String) -> String {
        var components = URLComponents(string: url)!
        components.password = password
        return components.string!
    }

    public var password: String { URLComponents(string: url)?.password ?? "" }

    static func connect(_ url: String, applicationName: String = "migrator-tests") throws -> Connection {
        try Connection.connect(to: url, applicationName: applicationName, deadline: .now + .seconds(20))
    }

    static func replacingDatabase(in url: String, with name: String) -> String {
        var components = URLComponents(string: url)!
        components.path = "/" + name
        return components.string!
    }
}
