import Logging
import StructuredLogging

/// One relation a migration file locked, as PostgreSQL saw it just before the file's COMMIT. Names,
/// modes, sizes and counts only: nothing here comes from the rows themselves.
public struct RelationLock: Sendable, Equatable {
    public var oid: UInt32
    /// Schema-qualified, each part quoted only where PostgreSQL needs it (`quote_ident`).
    public var relation: String
    /// table, partitioned table, index, view, materialized view, foreign table.
    public var kind: String
    /// The strongest mode the file took on it.
    public var mode: LockMode
    /// Created by the file: nobody else can be waiting for it, so its locks are no risk.
    /// Nil when the committed catalog could not be read (no monitor connection).
    public var isNew: Bool?
    /// Its relfilenode inside the transaction differs from the committed one: the file wrote a new
    /// copy of every row (and of every index). Nil when that could not be read.
    public var rewritten: Bool?
    /// Size in bytes before the file, as near as PostgreSQL tells it without waiting on our own lock
    /// (see `LockTracker`); nil for a new relation.
    public var sizeBytes: Int64?
    /// How long the file held `mode` on it, up to the report (taken just before COMMIT).
    public var heldMs: Int64
    /// True when the file ran as one query, so only the transaction's duration bounds `heldMs`.
    public var heldIsUpperBound: Bool
    /// The statement (drizzle piece, 1-based) that first took `mode`, and its line in the file,
    /// when the file ran piece by piece.
    public var statement: Int?
    public var line: Int?
    /// The statement during which the relation was rewritten, when known.
    public var rewrittenByStatement: Int?
    /// Every statement that took SHARE or stronger on it (or rewrote it), for the hints.
    var blockingStatements: [Int] = []

    /// A lock that can make the application wait: on a relation that existed before the file.
    public var isRisk: Bool { isNew != true }

    public var metadata: Logger.MetadataValue {
        var fields: Logger.Metadata = [
            "relation": .string(relation), "kind": .string(kind), "mode": .string(mode.name), "held_ms": .int(heldMs),
        ]
        if heldIsUpperBound { fields["held_upper_bound"] = .bool(true) }
        if let isNew { fields["new"] = .bool(isNew) }
        if let rewritten { fields["rewritten"] = .bool(rewritten) }
        if let sizeBytes { fields["size_bytes"] = .int(sizeBytes) }
        if let statement { fields["statement"] = .int(statement) }
        if let line { fields["line"] = .int(line) }
        if let rewrittenByStatement, rewrittenByStatement != statement {
            fields["rewritten_by_statement"] = .int(rewrittenByStatement)
        }
        return .dictionary(fields)
    }
}

/// What one file did to the tables: every relation lock its backend held before COMMIT.
public struct LockReport: Sendable {
    public var locks: [RelationLock]
    /// What could not be known, and why (no monitor connection, a file that commits by itself…).
    public var notes: [String] = []

    public init(locks: [RelationLock], notes: [String] = []) {
        self.locks = locks
        self.notes = notes
    }

    /// The lock that matters most: the strongest mode on a relation that existed before, then the
    /// longest held, a table before its indexes.
    public var maxLock: RelationLock? {
        ordered.first(where: \.isRisk)
    }

    /// Existing tables (not indexes) whose rows were all copied.
    public var rewrittenTables: [RelationLock] {
        locks.filter { $0.rewritten == true && $0.isRisk && !$0.kind.hasSuffix("index") }
    }

    /// The longest an ACCESS EXCLUSIVE lock was held on a relation that existed before the file.
    public var maxExclusiveLockMs: Int64 {
        locks.filter { $0.isRisk && $0.mode == .accessExclusive }.map(\.heldMs).max() ?? 0
    }

    /// The compact fields of `migration.applied`: `locks` (riskiest first) and `max_lock`.
    public var metadata: Logger.Metadata {
        var fields: Logger.Metadata = [
            "locks": .array(ordered.map(\.metadata)),
            "max_lock": maxLock.map { .string($0.mode.name) } ?? .string("none"),
        ]
        if let maxLock {
            fields["max_lock_relation"] = .string(maxLock.relation)
            fields["max_lock_ms"] = .int(maxLock.heldMs)
        }
        if !notes.isEmpty { fields["lock_report_notes"] = .array(notes.map { .string($0) }) }
        return fields
    }

    /// Existing relations first, strongest mode first, longest held, tables before indexes, then by
    /// name (stable output for diffs).
    public var ordered: [RelationLock] {
        locks.sorted { a, b in
            if a.isRisk != b.isRisk { return a.isRisk }
            if a.mode != b.mode { return a.mode > b.mode }
            if a.heldMs != b.heldMs { return a.heldMs > b.heldMs }
            let (aIndex, bIndex) = (a.kind.hasSuffix("index"), b.kind.hasSuffix("index"))
            if aIndex != bIndex { return bIndex }
            return a.relation < b.relation
        }
    }
}
