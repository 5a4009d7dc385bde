import Crypto
import PostgresClient

/// Drizzle's tracking table, `"drizzle"."__drizzle_migrations"` unless configured otherwise.
public struct TrackingTable: Sendable {
    public var schema: String
    public var table: String
    /// The folder layout this run applies: a `.folders` run creates and writes Drizzle 1.0's table.
    public var layout: MigrationFolder.Layout

    public init(schema: String, table: String, layout: MigrationFolder.Layout = .journal) {
        self.schema = schema
        self.table = table
        self.layout = layout
    }

    /// `"schema"."table"`, quoted the way Drizzle quotes it (inner `"` doubled).
    public var qualifiedName: String { quoteIdentifier(schema) + "." + quoteIdentifier(table) }

    /// The advisory lock key every `migrator` run on this table takes: the first 8 bytes of
    /// SHA-256("migrator:" + schema + "." + table), read as a big-endian signed 64-bit integer.
    /// Documented in the README so operators can find it in `pg_locks` (classid = high 32 bits,
    /// objid = low 32 bits, objsubid = 1).
    public var advisoryLockKey: Int64 {
        let digest = Array(SHA256.hash(data: Array("migrator:\(schema).\(table)".utf8)))
        var key: UInt64 = 0
        for byte in digest.prefix(8) { key = key << 8 | UInt64(byte) }
        return Int64(bitPattern: key)
    }

    /// The bootstrap DDL, exactly Drizzle 0.x's, or 1.0's for a 1.0 folder.
    var createSchemaSQL: String { "CREATE SCHEMA IF NOT EXISTS \(quoteIdentifier(schema))" }
    var createTableSQL: String {
        let columns = layout == .folders ? ",\n\tname text,\n\tapplied_at timestamp with time zone DEFAULT now()" : ""
        return """
            CREATE TABLE IF NOT EXISTS \(qualifiedName) (
            \tid SERIAL PRIMARY KEY,
            \thash text NOT NULL,
            \tcreated_at bigint\(columns)
            )
            """
    }

    public struct State: Sendable {
        public var schemaExists: Bool
        public var tableExists: Bool
        /// Drizzle 1.0 adds `name`; a journal folder must not be applied to such a table.
        public var hasNameColumn: Bool
        /// The rows in id order, read along with the table's columns; nil when there is no table.
        public var rows: [TrackingRow]?

        /// Which Drizzle wrote the table: 0 (`id, hash, created_at`), 1 (with `name`), nil: no table.
        public var version: Int? { tableExists ? (hasNameColumn ? 1 : 0) : nil }
    }

    /// Looks the objects up without needing CREATE privileges (Drizzle's `IF NOT EXISTS` needs them).
    ///
    /// Whether Drizzle 1.0's `name` column is there comes from the table's own columns, read with its
    /// rows: a query on pg_attribute was the costliest thing a run with nothing to apply asked the
    /// server (about 2 ms as a new backend's first query). Where `SELECT *` is not allowed (column
    /// privileges), pg_attribute answers as before.
    public func state(on connection: Connection) throws(PostgresError) -> State {
        let found = try connection.query(
            "SELECT to_regnamespace($1) IS NOT NULL, to_regclass($2) IS NOT NULL",
            [quoteIdentifier(schema), qualifiedName])
        let row = found.rows.first ?? []
        let schemaExists = row.first == "t"
        guard row.count > 1 && row[1] == "t" else {
            return State(schemaExists: schemaExists, tableExists: false, hasNameColumn: false, rows: nil)
        }
        let table: QueryResult
        do throws(PostgresError) {
            table = try connection.query("SELECT * FROM \(qualifiedName) ORDER BY id")
        } catch {
            guard error.sqlState == "42501" else { throw error }
            let name = try connection.query(
                """
                SELECT EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = to_regclass($1) AND attname = 'name'
                               AND NOT attisdropped)
                """, [qualifiedName])
            let hasName = name.scalar == "t"
            return State(
                schemaExists: schemaExists, tableExists: true, hasNameColumn: hasName,
                rows: try rows(on: connection, withName: hasName))
        }
        return State(
            schemaExists: schemaExists, tableExists: true, hasNameColumn: table.columns.contains("name"),
            rows: Self.trackingRows(table))
    }

    public func rows(on connection: Connection, withName: Bool = false) throws(PostgresError) -> [TrackingRow] {
        Self.trackingRows(
            try connection.query(
                "SELECT id, hash, created_at\(withName ? ", name" : "") FROM \(qualifiedName) ORDER BY id"))
    }

    private static func trackingRows(_ result: QueryResult) -> [TrackingRow] {
        let id = result.columns.firstIndex(of: "id") ?? 0
        let hash = result.columns.firstIndex(of: "hash") ?? 1
        let createdAt = result.columns.firstIndex(of: "created_at") ?? 2
        let name = result.columns.firstIndex(of: "name")
        return result.rows.map { row in
            TrackingRow(
                id: Int64(row[id] ?? "") ?? 0, hash: row[hash] ?? "", createdAt: row[createdAt].flatMap { Int64($0) },
                name: name.flatMap { row[$0] })
        }
    }

    /// The insert Drizzle makes after each migration (1.0 adds `name`). Hash and `when` are hex and
    /// an integer, so literals are safe and save a round trip over a parameterised statement.
    func insertSQL(for migration: Migration) -> String {
        let hash = migration.hash
        precondition(hash.utf8.allSatisfy { ($0 >= 48 && $0 <= 57) || ($0 >= 97 && $0 <= 102) })
        guard let name = migration.name else {
            return "INSERT INTO \(qualifiedName) (\"hash\", \"created_at\") VALUES ('\(hash)', \(migration.when))"
        }
        return "INSERT INTO \(qualifiedName) (\"hash\", \"created_at\", \"name\") VALUES ('\(hash)', "
            + "\(migration.when), \(quoteLiteral(name)))"
    }

    /// Under the lock: the hashes recorded for this migration now, and the newest `created_at`.
    func recheckSQL(for migration: Migration) -> String {
        let mine = migration.name.map { "name = \(quoteLiteral($0))" } ?? "created_at = \(migration.when)"
        return "SELECT (SELECT string_agg(hash, ',') FROM \(qualifiedName) WHERE \(mine)),"
            + " (SELECT max(created_at) FROM \(qualifiedName))"
    }
}

/// One row of the tracking table.
public struct TrackingRow: Sendable, Equatable {
    public var id: Int64
    public var hash: String
    /// The journal `when` of the migration; NULL only through manual inserts.
    public var createdAt: Int64?
    /// Drizzle 1.0's `name` (the migration's folder name); nil on a 0.x table, or NULL in the row.
    public var name: String?

    public init(id: Int64, hash: String, createdAt: Int64?, name: String? = nil) {
        self.id = id
        self.hash = hash
        self.createdAt = createdAt
        self.name = name
    }
}

func quoteIdentifier(_ name: String) -> String {
    quote(name, with: UInt8(ascii: "\""))
}

/// An `E'…'` literal: exact whatever `standard_conforming_strings` says.
func quoteLiteral(_ text: String) -> String {
    "E" + quote(text.replacing("\\", with: "\\\\"), with: UInt8(ascii: "'"))
}

/// `text` between two `quote`s, inner ones doubled. Byte-wise: `String.replacing` cost more than
/// everything else that builds a file's SQL, and every file names the tracking table twice.
private func quote(_ text: String, with quote: UInt8) -> String {
    var out: [UInt8] = [quote]
    out.reserveCapacity(text.utf8.count + 2)
    for byte in text.utf8 {
        out.append(byte)
        if byte == quote { out.append(quote) }
    }
    out.append(quote)
    return String(decoding: out, as: UTF8.self)
}
