import Logging
import PostgresClient
import StructuredLogging
import SystemSupport

/// Where in a file's round trips a failure happened, so the report names the right place: a
/// deferred foreign key fails at COMMIT, not "while taking the migration lock".
enum FilePhase: Equatable {
    case lock
    case statement(Piece)
    case trackingInsert
    case commit

    var piece: Piece? {
        if case .statement(let piece) = self { return piece }
        return nil
    }

    static func == (left: FilePhase, right: FilePhase) -> Bool {
        switch (left, right) {
        case (.lock, .lock), (.trackingInsert, .trackingInsert), (.commit, .commit): true
        case (.statement(let a), .statement(let b)): a.number == b.number
        default: false
        }
    }
}

extension Migrator {
    /// For bootstrap, baseline and forget.
    func failure(_ error: PostgresError, label: String) -> FileFailure {
        if let reason = interruption.reason {
            return .failed(
                MigrationError(.interrupted, "stopped by \(reason.signalName) during \(label)", interruption: reason))
        }
        if error.sqlState == "55P03" || error.sqlState == "40P01" { return .lockTimeout(error, locks.lastBlockers) }
        if error.code == .connectionLost {
            return .failed(MigrationError(.database, "lost the database connection during \(label): \(error.message)"))
        }
        return .failed(MigrationError(.migrationFailed, "\(label) failed: \(error)"))
    }

    func failure(
        _ error: PostgresError, migration: Migration, phase: FilePhase, retryable: Bool, partial: String?,
        selfManaged: Bool = false
    ) -> FileFailure {
        if let reason = interruption.reason {
            var message = "stopped by \(reason.signalName) while applying \(migration.tag)"
            message += partial.map { "; " + $0 } ?? "; the file was rolled back"
            logger.event(
                .warning, "migration.cancelled", message,
                [
                    "migration": "\(migration.tag)", "index": .int(migration.index),
                    "statement": .int(phase.piece?.number ?? 0),
                ])
            return .failed(MigrationError(.interrupted, message, interruption: reason))
        }
        if (error.sqlState == "55P03" || error.sqlState == "40P01") && retryable {
            return .lockTimeout(error, locks.lastBlockers)
        }
        var fields: Logger.Metadata = [
            "migration": "\(migration.tag)", "index": .int(migration.index), "file": "\(migration.fileName)",
            "sqlstate": "\(error.sqlState ?? "")", "error": "\(error.message)", "phase": "\(phase.name)",
        ]
        if let detail = error.detail { fields["detail"] = .string(detail) }
        if let hint = error.hint { fields["hint"] = .string(hint) }
        let place = describe(phase, of: migration, error: error, fields: &fields)
        var reason = error.message
        if error.sqlState == "57014" && error.message.contains("statement timeout") {
            reason = "cancelled by the statement timeout of \(settings.statementTimeout.milliseconds) ms"
            if let piece = phase.piece { reason += " while running \(Self.beginning(of: piece))" }
        } else if error.sqlState == "55P03" {
            reason = "lock timeout after statements had already taken effect: \(error.message)"
        }
        if error.code == .connectionLost { reason = "the database connection was lost: \(error.message)" }
        var message = "\(migration.tag) failed \(place): \(reason)"
        if let sqlState = error.sqlState { message += " (SQLSTATE \(sqlState))" }
        if error.code == .connectionLost && !selfManaged {
            // Nothing half-happened: the transaction committed with its row or not at all.
            message += "; the file either committed whole or not at all"
            logger.event(.warning, "migration.interrupted_by_connection", message, fields)
            var lost = MigrationError(.database, message)
            lost.lostConnection = true
            return .failed(lost)
        }
        message += partial.map { "; " + $0 } ?? "; the file was rolled back, earlier files stay applied"
        logger.event(.error, "migration.failed", message, fields)
        return .failed(MigrationError(.migrationFailed, message))
    }

    /// "at statement 3 (file line 7, column 5)", "at the tracking insert" ...; adds the fields that
    /// locate a statement.
    private func describe(
        _ phase: FilePhase, of migration: Migration, error: PostgresError, fields: inout Logger.Metadata
    ) -> String {
        switch phase {
        case .lock: return "while taking the migration lock"
        case .trackingInsert:
            return "at the tracking insert into \(table.qualifiedName) (the file's statements had run)"
        case .commit: return "at COMMIT (a deferred constraint or trigger failed after every statement had run)"
        case .statement(let piece):
            fields["statement"] = .int(piece.number)
            let statements = piece.statements
            var offsetInPiece = statements.first?.range.lowerBound ?? 0
            if let position = error.position {
                offsetInPiece = piece.byteOffset(ofCharacterPosition: position)
                if statements.count > 1,
                    let part = statements.firstIndex(where: { $0.range.upperBound >= offsetInPiece })
                {
                    fields["statement_part"] = .int(part + 1)
                }
            } else if statements.count > 1 {
                fields["statement_parts"] = .int(statements.count)
            }
            let (line, column) = migration.location(ofByte: piece.byteOffset + offsetInPiece)
            fields["line"] = .int(line)
            fields["column"] = .int(column)
            return "at statement \(piece.number) (\(migration.fileName) line \(line), column \(column))"
        }
    }

    /// What a failed self-managed file leaves behind, for its failure message.
    func partialEffect(_ migration: Migration, failedPiece: Piece? = nil, committedThrough: Int) -> String {
        var text =
            committedThrough == 0
            ? "nothing of the file had taken effect"
            : "statements 1-\(committedThrough) had already taken effect and stay"
        if let failedPiece, failedPiece.number > committedThrough + 1 {
            text += "; statements \(committedThrough + 1)-\(failedPiece.number - 1) were rolled back"
        }
        text += "; no tracking row was written"
        if failedPiece?.text.uppercased().contains("CONCURRENTLY") == true {
            text +=
                "; a failed CREATE INDEX CONCURRENTLY leaves an INVALID index: find it with "
                + "SELECT indexrelid::regclass FROM pg_index WHERE NOT indisvalid, drop it with DROP INDEX CONCURRENTLY"
        }
        if committedThrough > 0 {
            text += "; make the file idempotent (IF NOT EXISTS) or undo statements 1-\(committedThrough), then rerun"
        }
        return text
    }

    /// The first line of a piece's first statement, shortened, so an operator recognises it in the log.
    static func beginning(of piece: Piece) -> String {
        let bytes = Array(piece.text.utf8)
        let text = piece.statements.first.map { String(decoding: bytes[$0.range], as: UTF8.self) } ?? piece.text
        let firstLine = text.split(whereSeparator: \.isNewline).first.map(String.init) ?? ""
        return "\"" + (firstLine.count > 80 ? firstLine.prefix(80) + "…" : firstLine) + "\""
    }
}

extension FilePhase {
    /// The `phase` field of `migration.failed`.
    var name: String {
        switch self {
        case .lock: "lock"
        case .statement: "statement"
        case .trackingInsert: "tracking_insert"
        case .commit: "commit"
        }
    }
}
