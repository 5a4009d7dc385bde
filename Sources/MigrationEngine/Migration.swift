import Crypto

/// One migration with its file, read and hashed before the database is touched.
///
/// Pieces, mode and the one-query decision come from splitting and lexing the file, which a run
/// with nothing to apply never needs (lexing a folder of 500 files cost more than the rest of such
/// a run). `Plan.pending` hands out `analyzed()` copies, which carry them, worked out once; other
/// copies work them out on each use.
public struct Migration: Sendable {
    /// Position in the folder's application order (0-based): journal order, or folder-name order.
    public var index: Int
    /// The journal tag (0.x), or the folder name, which Drizzle 1.0 records as `name`.
    public var tag: String
    /// The journal's `when`, or the folder name's time: the value recorded in `created_at`.
    public var when: Int64
    /// Lower-case hex SHA-256 of the file bytes: exactly what Drizzle stores in `hash`.
    public var hash: String
    /// The file text, byte for byte (BOM and CRLF kept, as Drizzle keeps them).
    public let sql: String
    private var analysis: Analysis?

    /// Drizzle's split (see `Piece`), each piece lexed.
    public var pieces: [Piece] { (analysis ?? Analysis(sql)).pieces }
    /// How the file must run: inside our transaction, or managing its own (see the contract).
    public var mode: Mode { (analysis ?? Analysis(sql)).mode }
    /// See `Migration.oneQuery(_:pieces:mode:)`.
    var runsAsOneQuery: Bool { (analysis ?? Analysis(sql)).runsAsOneQuery }

    /// This migration with its pieces, mode and one-query decision worked out, for applying it.
    public func analyzed() -> Migration {
        var copy = self
        if copy.analysis == nil { copy.analysis = Analysis(sql) }
        return copy
    }

    private struct Analysis: Sendable {
        let pieces: [Piece]
        let mode: Mode
        let runsAsOneQuery: Bool

        init(_ sql: String) {
            pieces = Migration.split(sql)
            mode =
                Migration.hasNoTransactionMarker(sql)
                ? .noTransaction
                : pieces.contains { $0.statements.contains(where: \.isTransactionControl) }
                    ? .selfManaged : .transactional
            runsAsOneQuery = Migration.oneQuery(sql, pieces: pieces, mode: mode)
        }
    }
    /// Which layout the migration came from; decides its file name and its tracking row.
    public var layout: MigrationFolder.Layout

    public init(index: Int, tag: String, when: Int64, sql: String, layout: MigrationFolder.Layout = .journal) {
        self.init(index: index, tag: tag, when: when, sql: sql, hash: Migration.hash(of: sql), layout: layout)
    }

    /// For the folder reader, which hashes the bytes it has just read.
    init(index: Int, tag: String, when: Int64, sql: String, hash: String, layout: MigrationFolder.Layout = .journal) {
        self.index = index
        self.tag = tag
        self.when = when
        self.sql = sql
        self.hash = hash
        self.layout = layout
    }

    public var byteCount: Int { sql.utf8.count }

    /// The file's path inside the migrations folder.
    public var fileName: String {
        switch layout {
        case .journal: tag + ".sql"
        case .folders: tag + "/migration.sql"
        }
    }

    /// The `name` Drizzle 1.0 records: the folder name; nil for a journal migration (0.x has no name).
    public var name: String? { layout == .folders ? tag : nil }

    static func hash(of sql: String) -> String {
        let hexDigits = Array("0123456789abcdef".utf8)
        var hex: [UInt8] = []
        hex.reserveCapacity(64)
        var text = sql
        var hasher = SHA256()
        text.withUTF8 { hasher.update(bufferPointer: UnsafeRawBufferPointer($0)) }
        for byte in hasher.finalize() {
            hex.append(hexDigits[Int(byte >> 4)])
            hex.append(hexDigits[Int(byte & 0x0F)])
        }
        return String(decoding: hex, as: UTF8.self)
    }

    /// The first line that turns a file into a no-transaction file, exactly (`-- migrator:no-transactional-note`
    /// is a comment, not the marker).
    static let noTransactionMarker = "-- migrator:no-transaction"

    private static func hasNoTransactionMarker(_ sql: String) -> Bool {
        guard sql.utf8.starts(with: noTransactionMarker.utf8) else { return false }
        let after = sql.utf8.dropFirst(noTransactionMarker.utf8.count).first
        return after == nil || after == UInt8(ascii: "\n") || after == UInt8(ascii: "\r")
            || after == UInt8(ascii: " ") || after == UInt8(ascii: "\t")
    }

    public enum Mode: String, Sendable, Codable {
        /// BEGIN, lock, statements, row, COMMIT.
        case transactional
        /// The file has its own COMMIT/BEGIN…: session lock, our BEGIN, its pieces.
        case selfManaged = "self-managed"
        /// `-- migrator:no-transaction`: session lock, pieces in autocommit.
        case noTransaction = "no-transaction"
    }

    /// Line and column (1-based, in characters) of a byte offset in the file, for error reports.
    public func location(ofByte offset: Int) -> (line: Int, column: Int) {
        var line = 1
        var column = 1
        for byte in sql.utf8.prefix(offset) {
            if byte == UInt8(ascii: "\n") {
                line += 1
                column = 1
            } else if byte & 0xC0 != 0x80 {
                column += 1
            }
        }
        return (line, column)
    }
}
