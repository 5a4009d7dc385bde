import PostgresClient

/// Follows the relation locks one file's transaction holds, from PostgreSQL itself: `pg_locks` for
/// our own backend after each statement (when the file runs piece by piece) and before COMMIT, and
/// the committed catalog read on the monitor connection, so that a relfilenode that differs inside
/// the transaction shows a rewrite, and an oid the committed catalog lacks shows a new relation.
///
/// Every read inside the migration's transaction runs under a savepoint: if it fails (a statement
/// timeout, a catalog oddity), the savepoint is rolled back and the file carries on without a
/// report, since a report must never be the reason a migration fails.
final class LockTracker {
    /// One relation as a snapshot saw it.
    struct Sighting {
        var relation: String?
        var kind: String?
        var relfilenode: UInt32?
        var sizeBytes: Int64?
        var modes: Set<LockMode>
        /// Rows this transaction inserted, updated or deleted in it so far (pg_stat_get_xact_*).
        var changedRows: Int64 = 0
    }

    /// The committed state of a relation (from the monitor connection).
    struct Committed {
        var relation: String
        var kind: String
        var relfilenode: UInt32
        /// relpages × block size: the planner's figure from the last VACUUM, ANALYZE or CREATE INDEX.
        var estimatedBytes: Int64
        var isSystem: Bool
    }

    private struct Taken {
        var statement: Int?
        var at: ContinuousClock.Instant
    }

    let started: ContinuousClock.Instant
    /// The tracking table and its indexes: ours, not the migration's. Looked up by the first
    /// snapshot of a run, then handed from file to file.
    private(set) var excluded: Set<UInt32>?
    /// The file's last statement: its snapshot is the one before COMMIT (`reportLocks`).
    var lastPiece = Int.max
    /// Modes held before this file (by earlier files of an `analyze` transaction), and what they saw.
    private let before: [UInt32: Sighting]
    private var latest: [UInt32: Sighting]
    /// What this file saw first of each relation, before any later statement of it changed it.
    private var firstSeen: [UInt32: Sighting] = [:]
    private var taken: [UInt32: [LockMode: Taken]] = [:]
    private var rewrittenAt: [UInt32: Int?] = [:]
    private var piece: Int?
    private var pieceStarted: ContinuousClock.Instant
    private var pieceStarts: [Int: ContinuousClock.Instant] = [:]
    private(set) var notes: [String] = []

    private let table: TrackingTable

    init(
        table: TrackingTable, excluded: Set<UInt32>?, after previous: LockTracker? = nil,
        started: ContinuousClock.Instant = .now
    ) {
        self.table = table
        self.excluded = previous?.excluded ?? excluded
        self.started = started
        pieceStarted = started
        before = previous?.latest ?? [:]
        latest = before
    }

    /// The statement about to run, for attributing what the next snapshot finds.
    func pieceStarting(_ number: Int, at started: ContinuousClock.Instant = .now) {
        piece = number
        pieceStarted = started
        pieceStarts[number] = pieceStarted
    }

    /// The server backend the snapshot ran on (behind a pooler, not the connection's `backendPID`).
    private(set) var serverPID: Int32?
    /// Every relation seen so far, for asking the monitor by oid.
    var oids: [UInt32] { Array(latest.keys) }

    /// Whether the statements are seen one by one (`pieceStarting` was called): then each lock is
    /// attributed to the statement that took it.
    var attributesPieces: Bool { piece != nil }

    /// Reads our backend's relation locks now. Throws only when the run was interrupted.
    func snapshot(on connection: Connection) throws(PostgresError) {
        let rows: [[String?]]
        do throws(PostgresError) {
            let lookup = excluded == nil ? LockQueries.trackingSQL(table) + ";" : ""
            let results = try connection.simpleQuery(
                "SAVEPOINT migrator_lock_report;\(lookup)\(LockQueries.snapshotSQL);RELEASE SAVEPOINT migrator_lock_report"
            )
            if excluded == nil, results.count > 3 {
                excluded = Set(results[1].rows.compactMap { $0.first.flatMap { $0.flatMap { UInt32($0) } } })
            }
            rows = results.count > 2 ? results[results.count - 2].rows : []
        } catch {
            if error.code == .cancelled || error.code == .connectionLost { throw error }
            _ = try connection.simpleQuery(
                "ROLLBACK TO SAVEPOINT migrator_lock_report;RELEASE SAVEPOINT migrator_lock_report")
            notes.append("the lock report could not be read: \(error.message)")
            return
        }
        for row in rows {
            guard let oid = row[0].flatMap({ UInt32($0) }), excluded?.contains(oid) != true,
                LockQueries.isReported(kind: row[5], identity: row[6])
            else { continue }
            let modes = Set((row[1] ?? "").split(separator: ",").compactMap { LockMode(pgLocksName: $0) })
            let sighting = Sighting(
                relation: row[6], kind: row[5], relfilenode: row[2].flatMap { UInt32($0) },
                sizeBytes: row[3].flatMap { Int64($0) }, modes: modes, changedRows: row[4].flatMap { Int64($0) } ?? 0)
            let earlier = latest[oid]
            let now = Taken(statement: piece, at: piece == nil ? started : pieceStarted)
            for mode in modes where earlier?.modes.contains(mode) != true {
                taken[oid, default: [:]][mode] = now
            }
            // A mode an earlier file of the same transaction already holds shows no new row in
            // pg_locks; rows this statement changed show that it took ROW EXCLUSIVE again.
            if sighting.changedRows > (earlier?.changedRows ?? 0), taken[oid]?[.rowExclusive] == nil {
                taken[oid, default: [:]][.rowExclusive] = now
            }
            if firstSeen[oid] == nil { firstSeen[oid] = sighting }
            if let previous = earlier?.relfilenode, let now = sighting.relfilenode, previous != now,
                rewrittenAt[oid] == nil
            {
                rewrittenAt[oid] = piece
            }
            latest[oid] = sighting
            serverPID = row[7].flatMap { Int32($0) } ?? serverPID
        }
    }

    /// The relations this file locked or rewrote, with what the committed catalog says about them.
    /// `committed` is nil when the monitor connection could not be had.
    func report(
        committed: [UInt32: Committed]?, migration: Migration?, heldIsUpperBound: Bool,
        endedAt: ContinuousClock.Instant = .now
    ) -> LockReport {
        var locks: [RelationLock] = []
        for (oid, seen) in latest {
            if let fact = committed?[oid], fact.isSystem { continue }
            // No catalog row on either side: a transient heap of a rewrite, created and dropped within.
            if seen.relation == nil && committed?[oid] == nil { continue }
            let newModes = Set(taken[oid]?.keys.map { $0 } ?? [])
            let rewrittenBy = rewrite(of: oid, committed: committed?[oid], knownCommitted: committed != nil)
            guard !newModes.isEmpty || rewrittenBy?.rewritten == true else { continue }
            let mode = newModes.max() ?? seen.modes.max() ?? .accessShare
            var when = taken[oid]?[mode]
            // A mode an earlier file of the same transaction took shows no new row; the statement
            // that rewrote the relation certainly held it.
            if when == nil, let statement = rewrittenBy?.statement, let at = pieceStarts[statement] {
                when = Taken(statement: statement, at: at)
            }
            let first = before[oid] ?? firstSeen[oid] ?? seen
            var lock = RelationLock(
                oid: oid, relation: seen.relation ?? committed?[oid]?.relation ?? "oid \(oid)",
                kind: seen.kind ?? committed?[oid]?.kind ?? "relation", mode: mode,
                isNew: committed.map { $0[oid] == nil }, rewritten: rewrittenBy?.rewritten,
                sizeBytes: first.sizeBytes, heldMs: (endedAt - (when?.at ?? started)).milliseconds,
                heldIsUpperBound: heldIsUpperBound && when?.statement == nil, statement: when?.statement,
                line: nil, rewrittenByStatement: rewrittenBy?.statement)
            lock.blockingStatements = Set(
                (taken[oid] ?? [:]).filter { $0.key.blocksWrites }.compactMap(\.value.statement)
                    + [rewrittenBy?.statement].compactMap { $0 }
            ).sorted()
            if lock.isNew == true { lock.sizeBytes = nil }
            if let fact = committed?[oid], seen.relation == nil { lock.sizeBytes = fact.estimatedBytes }
            if rewrittenBy?.rewritten == true, rewrittenBy?.atFirstSight == true, let fact = committed?[oid] {
                // The first look came after the rewrite: the new copy's size, or the planner's figure
                // for the old one, whichever is larger.
                lock.sizeBytes = max(lock.sizeBytes ?? 0, fact.estimatedBytes)
            }
            if let migration, let statement = lock.statement {
                lock.line = Self.line(of: statement, in: migration)
            }
            locks.append(lock)
        }
        var notes = self.notes
        if committed == nil {
            notes.append(
                "the committed catalog could not be read on a second connection: rewrites and new relations unknown")
        }
        return LockReport(locks: locks, notes: notes)
    }

    /// Whether this file rewrote `oid`, and in which statement.
    private func rewrite(of oid: UInt32, committed: Committed?, knownCommitted: Bool)
        -> (rewritten: Bool?, statement: Int?, atFirstSight: Bool)?
    {
        if let statement = rewrittenAt[oid] { return (true, statement, false) }
        guard let first = firstSeen[oid] ?? latest[oid] else { return nil }
        // A relation an earlier file already showed us: its relfilenode then is the baseline.
        if let earlier = before[oid]?.relfilenode {
            return (first.relfilenode != earlier, nil, first.relfilenode != earlier)
        }
        guard knownCommitted else { return (nil, nil, false) }
        guard let committed, let now = first.relfilenode else { return (false, nil, false) }
        let changed = now != committed.relfilenode && committed.relfilenode != 0
        return (changed, changed ? taken[oid]?.values.compactMap(\.statement).min() : nil, changed)
    }

    static func line(of statement: Int, in migration: Migration) -> Int? {
        let pieces = migration.pieces
        guard statement >= 1 && statement <= pieces.count else { return nil }
        let piece = pieces[statement - 1]
        return migration.location(ofByte: piece.byteOffset + (piece.statements.first?.range.lowerBound ?? 0)).line
    }
}
