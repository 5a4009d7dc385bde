/// Text between two `--> statement-breakpoint` markers, sent to the server as one simple query.
public struct Piece: Sendable {
    /// 1-based, as operators count statements in a drizzle file.
    public var number: Int
    /// Where the piece starts in the file, for line/column reports.
    public var byteOffset: Int
    /// The piece's text inside the file's: pieces do not copy the file (a 30 MB file is 30 MB once).
    let slice: Substring
    /// What is sent to the server; a copy of `slice`, made when asked for.
    public var text: String { String(slice) }
    /// Lexed once: the mode, error reports and the log all ask for them.
    public let statements: [SQLLexer.Statement]
    /// See `SQLLexer.scan`: whether this piece may share a query string with the next.
    let isSelfContained: Bool

    init(number: Int, byteOffset: Int, slice: Substring) {
        self.number = number
        self.byteOffset = byteOffset
        self.slice = slice
        (self.statements, self.isSelfContained) = SQLLexer.scan(slice)
    }

    /// True when the piece holds only whitespace and comments (the server sends an empty-query response).
    public var isBlank: Bool { statements.isEmpty }

    /// Converts the server's 1-based character position within this piece to a byte offset in it.
    public func byteOffset(ofCharacterPosition position: Int) -> Int {
        var characters = 0
        var offset = 0
        for byte in slice.utf8 {
            if byte & 0xC0 != 0x80 {
                characters += 1
                if characters == position { return offset }
            }
            offset += 1
        }
        return offset
    }
}

extension Migration {
    static let breakpoint = Array("--> statement-breakpoint".utf8)

    /// Drizzle's split: the exact, case-sensitive marker; nothing trimmed, every piece kept
    /// (empty ones too, which the server answers with an empty-query response).
    static func split(_ sql: String) -> [Piece] {
        var text = sql
        let offsets = text.withUTF8 { breakpointOffsets(in: $0) }
        let utf8 = sql.utf8
        // The marker is ASCII, so every cut falls between characters.
        func slice(_ from: Int, _ to: Int) -> Substring {
            sql[utf8.index(utf8.startIndex, offsetBy: from)..<utf8.index(utf8.startIndex, offsetBy: to)]
        }
        var pieces: [Piece] = []
        var pieceStart = 0
        for markerStart in offsets {
            pieces.append(
                Piece(number: pieces.count + 1, byteOffset: pieceStart, slice: slice(pieceStart, markerStart)))
            pieceStart = markerStart + breakpoint.count
        }
        pieces.append(Piece(number: pieces.count + 1, byteOffset: pieceStart, slice: slice(pieceStart, utf8.count)))
        return pieces
    }

    private static func breakpointOffsets(in bytes: UnsafeBufferPointer<UInt8>) -> [Int] {
        var offsets: [Int] = []
        var cursor = 0
        while cursor + breakpoint.count <= bytes.count {
            if bytes[cursor] == breakpoint[0] && bytes[cursor..<cursor + breakpoint.count].elementsEqual(breakpoint) {
                offsets.append(cursor)
                cursor += breakpoint.count
            } else {
                cursor += 1
            }
        }
        return offsets
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
    static func oneQuery(_ sql: String, pieces: [Piece], mode: Mode) -> Bool {
        guard mode == .transactional && pieces.count > 1 else { return false }
        let safe = pieces.allSatisfy { piece in
            piece.isSelfContained
                && !piece.statements.contains { $0.firstWord == "PREPARE" && $0.secondWord == "TRANSACTION" }
        }
        guard safe else { return false }
        let bytes = sql.utf8
        // The marker ends where the piece begins; a breakpoint with text after it on its own line
        // would hide that text inside the comment.
        return pieces.dropFirst().allSatisfy { piece in
            let rest = bytes.dropFirst(piece.byteOffset)
            return rest.isEmpty || rest.starts(with: [UInt8(ascii: "\n")])
                || rest.starts(with: [UInt8(ascii: "\r"), UInt8(ascii: "\n")])
        }
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
        var finished = 0
        for piece in pieces {
            finished += piece.statements.count
            if finished > completed { return piece }
        }
        return pieces[pieces.count - 1]
    }
}
