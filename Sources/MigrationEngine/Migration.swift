import Crypto
import Synchronization

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
    public var sql: String {
        didSet { analysis = Analysis() }
    }
    public var byteCount: Int
    /// Pieces and mode, worked out on first use and shared by copies: a run with nothing to apply
    /// never splits or lexes a file, and an applied file is lexed once, not at every use.
    private var analysis = Analysis()

    public init(index: Int, tag: String, when: Int64, sql: String) {
        self.index = index
        self.tag = tag
        self.when = when
        self.sql = sql
        self.byteCount = sql.utf8.count
        self.hash = Migration.hash(of: sql)
    }

    /// For the folder reader, which hashes the bytes it has just read.
    init(index: Int, tag: String, when: Int64, sql: String, hash: String) {
        self.index = index
        self.tag = tag
        self.when = when
        self.sql = sql
        self.byteCount = sql.utf8.count
        self.hash = hash
    }

    public var fileName: String { tag + ".sql" }

    static func hash(of sql: String) -> String {
        var sql = sql
        return sql.withUTF8 { hash(of: $0) }
    }

    static func hash(of bytes: UnsafeBufferPointer<UInt8>) -> String {
        var hasher = SHA256()
        hasher.update(bufferPointer: UnsafeRawBufferPointer(bytes))
        let digest = hasher.finalize()
        return String(unsafeUninitializedCapacity: 64) { out in
            var position = 0
            for byte in digest {
                out[position] = hexDigit(byte >> 4)
                out[position + 1] = hexDigit(byte & 0x0F)
                position += 2
            }
            return 64
        }
    }

    private static func hexDigit(_ value: UInt8) -> UInt8 {
        value < 10 ? UInt8(ascii: "0") + value : UInt8(ascii: "a") + value - 10
    }

    /// Drizzle's split: the exact, case-sensitive marker; nothing trimmed, every piece kept
    /// (empty ones too, which the server answers with an empty-query response).
    public var pieces: [Piece] {
        if let pieces = analysis.pieces { return pieces }
        let pieces = Self.split(sql)
        analysis.pieces = pieces
        return pieces
    }

    private static func split(_ sql: String) -> [Piece] {
        let marker = Array("--> statement-breakpoint".utf8)
        let bytes = Array(sql.utf8)
        var pieces: [Piece] = []
        var pieceStart = 0
        var cursor = 0
        while cursor + marker.count <= bytes.count {
            if bytes[cursor] == marker[0] && bytes[cursor..<cursor + marker.count].elementsEqual(marker) {
                pieces.append(
                    Piece(number: pieces.count + 1, byteOffset: pieceStart, bytes: bytes[pieceStart..<cursor]))
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
        if let mode = analysis.mode { return mode }
        let mode: Mode
        if sql.utf8.starts(with: "-- migrator:no-transaction".utf8) {
            mode = .noTransaction
        } else if pieces.contains(where: { $0.statements.contains(where: \.isTransactionControl) }) {
            mode = .selfManaged
        } else {
            mode = .transactional
        }
        analysis.mode = mode
        return mode
    }

    /// Whether the file's pieces can go to the server as one simple query, the file text itself:
    /// one round trip instead of one per piece, with nothing else changed. That holds for a file
    /// in our transaction whose every piece is self-contained (`SQLLexer.scan`) and whose every
    /// breakpoint ends its line: the marker is then a `--` comment to the server, which splits the
    /// text at the same statements, runs them in the same order in the same transaction and stops at
    /// the same error. Its error positions count characters of the file, and the results before an
    /// error count its statements, so `piece(atCharacter:)` and `piece(runningAfter:)` name the
    /// piece exactly as one query per piece would. `PREPARE TRANSACTION` ends a transaction without
    /// the lexer calling it transaction control; a file with one goes piece by piece.
    var runsAsOneQuery: Bool {
        if let known = analysis.runsAsOneQuery { return known }
        let pieces = pieces
        var answer = mode == .transactional && pieces.count > 1
        if answer {
            answer = pieces.allSatisfy { piece in
                piece.isSelfContained
                    && !piece.statements.contains { $0.firstWord == "PREPARE" && $0.secondWord == "TRANSACTION" }
            }
        }
        if answer {
            let bytes = Array(sql.utf8)
            for piece in pieces.dropFirst() {
                // The marker ends where the piece begins; a breakpoint with text after it on its own
                // line would hide that text inside the comment.
                let start = piece.byteOffset
                if start < bytes.count && bytes[start] != UInt8(ascii: "\n")
                    && !(bytes[start] == UInt8(ascii: "\r") && start + 1 < bytes.count
                        && bytes[start + 1] == UInt8(ascii: "\n"))
                {
                    answer = false
                    break
                }
            }
        }
        analysis.runsAsOneQuery = answer
        return answer
    }

    /// The piece holding the server's 1-based character `position` in the file text, and the
    /// position counted from the start of that piece (what the server reports for a piece alone).
    func piece(atCharacter position: Int) -> (piece: Piece, position: Int)? {
        var characters = 0
        var offset = 0
        for byte in sql.utf8 {
            if byte & 0xC0 != 0x80 {
                characters += 1
                if characters == position { break }
            }
            offset += 1
        }
        guard let piece = pieces.last(where: { $0.byteOffset <= offset }) else { return nil }
        var before = 0
        for byte in sql.utf8.prefix(piece.byteOffset) where byte & 0xC0 != 0x80 { before += 1 }
        return (piece, position - before)
    }

    /// The piece whose statement was running (or failed) after `completed` statements of the file
    /// had finished; the last piece if they all had.
    func piece(runningAfter completed: Int) -> Piece {
        let pieces = pieces
        var finished = 0
        for piece in pieces {
            finished += piece.statements.count
            if finished > completed { return piece }
        }
        return pieces[pieces.count - 1]
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
    public var text: String {
        didSet { (statements, isSelfContained) = SQLLexer.scan(text) }
    }
    /// Lexed once: the mode, error reports and the log all ask for them.
    public private(set) var statements: [SQLLexer.Statement]
    /// See `SQLLexer.scan`: whether this piece may share a query string with the next.
    private(set) var isSelfContained: Bool

    init(number: Int, byteOffset: Int, bytes: ArraySlice<UInt8>) {
        self.number = number
        self.byteOffset = byteOffset
        self.text = String(decoding: bytes, as: UTF8.self)
        (self.statements, self.isSelfContained) = SQLLexer.scan(text)
    }

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

/// The lazily computed part of a `Migration`. A class, so the struct's getters can fill it in; copies
/// of a migration share it, and `sql`'s `didSet` replaces it.
private final class Analysis: Sendable {
    private let state = Mutex<(pieces: [Piece]?, mode: Migration.Mode?, runsAsOneQuery: Bool?)>((nil, nil, nil))

    var runsAsOneQuery: Bool? {
        get { state.withLock { $0.runsAsOneQuery } }
        set { state.withLock { $0.runsAsOneQuery = newValue } }
    }

    var pieces: [Piece]? {
        get { state.withLock { $0.pieces } }
        set { state.withLock { $0.pieces = newValue } }
    }

    var mode: Migration.Mode? {
        get { state.withLock { $0.mode } }
        set { state.withLock { $0.mode = newValue } }
    }
}
