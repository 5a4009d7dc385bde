import Crypto

/// One journal entry with its file, read and hashed before the database is touched.
public struct Migration: Sendable {
    /// Position in the journal's `entries` array (0-based): the order of application.
    public var index: Int
    public var tag: String
    /// The journal's `when`: the migration's identity in the tracking table (`created_at`).
    public var when: Int64
    /// Lower-case hex SHA-256 of the file bytes: exactly what Drizzle stores in `hash`.
    public var hash: String
    /// The file text, byte for byte (BOM and CRLF kept, as Drizzle keeps them).
    public var sql: String
    public var byteCount: Int

    public init(index: Int, tag: String, when: Int64, sql: String) {
        self.index = index
        self.tag = tag
        self.when = when
        self.sql = sql
        self.byteCount = sql.utf8.count
        self.hash = Migration.hash(of: sql)
    }

    public var fileName: String { tag + ".sql" }

    static func hash(of sql: String) -> String {
        let digest = SHA256.hash(data: Array(sql.utf8))
        let hex: [UInt8] = Array("0123456789abcdef".utf8)
        var out: [UInt8] = []
        out.reserveCapacity(64)
        for byte in digest {
            out.append(hex[Int(byte >> 4)])
            out.append(hex[Int(byte & 0x0F)])
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// Drizzle's split: the exact, case-sensitive marker; nothing trimmed, every piece kept
    /// (empty ones too, which the server answers with an empty-query response).
    public var pieces: [Piece] {
        let marker = Array("--> statement-breakpoint".utf8)
        let bytes = Array(sql.utf8)
        var pieces: [Piece] = []
        var pieceStart = 0
        var cursor = 0
        while cursor + marker.count <= bytes.count {
            if bytes[cursor] == marker[0] && bytes[cursor..<cursor + marker.count].elementsEqual(marker) {
                pieces.append(Piece(number: pieces.count + 1, byteOffset: pieceStart, bytes: bytes[pieceStart..<cursor]))
                cursor += marker.count
                pieceStart = cursor
            } else {
                cursor += 1
            }
        }
        pieces.append(Piece(number: pieces.count + 1, byteOffset: pieceStart, bytes: bytes[pieceStart...]))
        return pieces
    }

    /// How the file must run: inside our transaction, or managing its own (see the contract).
    public var mode: Mode {
        if sql.utf8.starts(with: "-- migrator:no-transaction".utf8) { return .noTransaction }
        for piece in pieces where piece.statements.contains(where: \.isTransactionControl) {
            return .selfManaged
        }
        return .transactional
    }

    public enum Mode: String, Sendable {
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
        var position = 0
        for byte in sql.utf8 {
            if position >= offset { break }
            position += 1
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

/// Text between two `--> statement-breakpoint` markers, sent to the server as one simple query.
public struct Piece: Sendable {
    /// 1-based, as operators count statements in a drizzle file.
    public var number: Int
    /// Where the piece starts in the file, for line/column reports.
    public var byteOffset: Int
    public var text: String

    init(number: Int, byteOffset: Int, bytes: ArraySlice<UInt8>) {
        self.number = number
        self.byteOffset = byteOffset
        self.text = String(decoding: bytes, as: UTF8.self)
    }

    public var statements: [SQLLexer.Statement] { SQLLexer.statements(in: text) }

    /// True when the piece holds only whitespace and comments (the server sends an empty-query response).
    public var isBlank: Bool { statements.isEmpty }

    /// Converts the server's 1-based character position within this piece to a byte offset in it.
    public func byteOffset(ofCharacterPosition position: Int) -> Int {
        var characters = 0
        var offset = 0
        for byte in text.utf8 {
            if byte & 0xC0 != 0x80 {
                characters += 1
                if characters == position { return offset }
            }
            offset += 1
        }
        return offset
    }
}
