import Dispatch
import PostgresClient

/// The SQL of the lock report, kept cheap: it runs before every COMMIT of `up`. No joins inside the
/// migration's transaction (the planner hash-joins pg_locks with all of pg_class otherwise, and pg_class
/// grows with every table a run creates): scalar functions per locked relation only.
enum LockQueries {
    /// Our backend's granted relation locks in this database, one row per relation: oid, modes,
    /// relfilenode, size, rows changed in this transaction, kind, schema-qualified name. Objects of
    /// initdb (oid < 16384: catalogs, information_schema) are left out in SQL, the rest in Swift.
    /// A relation the file dropped has NULL kind and name: the monitor names it.
    static let snapshotSQL = """
        SELECT l.relation, string_agg(l.mode, ','), pg_relation_filenode(l.relation), pg_table_size(l.relation),
          pg_stat_get_xact_tuples_inserted(l.relation) + pg_stat_get_xact_tuples_updated(l.relation)
            + pg_stat_get_xact_tuples_deleted(l.relation),
          (pg_identify_object(1259, l.relation, 0)).type, (pg_identify_object(1259, l.relation, 0)).identity,
          pg_backend_pid()
        FROM pg_locks l
        WHERE l.pid = pg_backend_pid() AND l.locktype = 'relation' AND l.granted AND l.relation >= 16384
          AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
        GROUP BY l.relation
        """

    /// The tracking table and its indexes, which the report leaves out (asked once per run).
    static func trackingSQL(_ table: TrackingTable) -> String {
        let name = literal(table.qualifiedName)
        return "SELECT to_regclass(\(name))::oid UNION ALL "
            + "SELECT indexrelid FROM pg_index WHERE indrelid = to_regclass(\(name))"
    }

    /// Tables, indexes, views, materialized and foreign tables, outside TOAST and temporary schemas.
    static func isReported(kind: String?, identity: String?) -> Bool {
        guard let kind, let identity else { return true }
        guard ["table", "index", "view", "materialized view", "foreign table"].contains(kind) else { return false }
        return !identity.hasPrefix("pg_toast") && !identity.hasPrefix("pg_temp")
    }

    /// The committed catalog's view of every relation `pid` (the migration's backend) has locked,
    /// read on the monitor connection: outside the migration's transaction, so it sees what other
    /// sessions see. Reading pg_locks and pg_class takes no lock on the relations themselves, so it
    /// never waits behind the migration's own locks. A relation the migration created is missing.
    static func committed(lockedBy pid: Int32, on monitor: Connection) throws(PostgresError)
        -> [UInt32: LockTracker.Committed]
    {
        try committed(
            where: "c.oid IN (SELECT relation FROM pg_locks WHERE pid = \(pid) AND locktype = 'relation' AND granted "
                + "AND relation >= 16384)", on: monitor)
    }

    /// The same for `oids`: behind a pooler, the connection's backend pid is the pooler's, not the
    /// server's, so the monitor is asked for the oids the snapshot found.
    static func committed(oids: [UInt32], on monitor: Connection) throws(PostgresError)
        -> [UInt32: LockTracker.Committed]
    {
        guard !oids.isEmpty else { return [:] }
        return try committed(where: "c.oid IN (\(oids.map(String.init).joined(separator: ",")))", on: monitor)
    }

    /// One simple query (numbers only are spliced in: the pid and oids), no join: the namespace's
    /// name comes quoted from regnamespace. Objects of initdb never get here (oid >= 16384).
    private static func committed(where condition: String, on monitor: Connection) throws(PostgresError)
        -> [UInt32: LockTracker.Committed]
    {
        let result = try monitor.simpleQuery(
            """
            SELECT c.oid, c.relnamespace::regnamespace::text || '.' || quote_ident(c.relname), c.relkind,
              c.relfilenode, c.relpages::int8 * current_setting('block_size')::int8,
              c.relnamespace = 'pg_toast'::regnamespace OR c.relpersistence = 't'
            FROM pg_class c WHERE \(condition)
            """
        )
        var found: [UInt32: LockTracker.Committed] = [:]
        for row in result.last?.rows ?? [] {
            guard let oid = row[0].flatMap({ UInt32($0) }) else { continue }
            found[oid] = LockTracker.Committed(
                relation: row[1] ?? "oid \(oid)", kind: kindName(row[2] ?? ""),
                relfilenode: row[3].flatMap { UInt32($0) } ?? 0, estimatedBytes: row[4].flatMap { Int64($0) } ?? 0,
                isSystem: row[5] == "t")
        }
        return found
    }

    /// `committed(lockedBy:on:)` on another thread, while the migration's own connection reads its
    /// snapshot: the two round trips overlap instead of adding up. `wait()` before using `monitor`
    /// again.
    final class Concurrent: @unchecked Sendable {
        private let done = DispatchSemaphore(value: 0)
        private var answer: [UInt32: LockTracker.Committed]?

        init(lockedBy pid: Int32, on monitor: Connection) {
            DispatchQueue.global().async { [self] in
                answer = try? LockQueries.committed(lockedBy: pid, on: monitor)
                done.signal()
            }
        }

        func wait() -> [UInt32: LockTracker.Committed]? {
            done.wait()
            return answer
        }
    }

    static func kindName(_ relkind: String) -> String {
        switch relkind {
        case "r", "p": "table"
        case "i", "I": "index"
        case "v": "view"
        case "m": "materialized view"
        case "f": "foreign table"
        default: "relation"
        }
    }
}

/// A SQL string literal: inner quotes doubled (standard_conforming_strings is on since 9.1).
func literal(_ text: String) -> String {
    "'" + text.split(separator: "'", omittingEmptySubsequences: false).joined(separator: "''") + "'"
}
