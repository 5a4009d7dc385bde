/// Just enough of PostgreSQL's lexical rules to find statement boundaries and top-level transaction
/// control in a migration piece: comments (nested `/* */`), quoted strings (`'…'`, `E'…'`), quoted
/// identifiers, dollar quotes and `BEGIN ATOMIC … END` bodies. It never decides what is sent to the
/// server (pieces go whole, as Drizzle sends them); it only explains errors and picks the mode.
public struct SQLLexer {
    public struct Statement: Equatable, Sendable {
        /// Byte range of the statement within the lexed text, without surrounding whitespace/comments.
        public var range: Range<Int>
        /// Upper-cased first and second words, e.g. `START`, `TRANSACTION`.
        public var firstWord: String
        public var secondWord: String

        /// True for statements that end, open or abort a transaction at top level.
        public var isTransactionControl: Bool {
            switch firstWord {
            case "COMMIT", "END", "ABORT", "BEGIN": return true
            case "ROLLBACK": return secondWord != "TO"  // ROLLBACK TO SAVEPOINT stays inside the transaction
            case "START": return secondWord == "TRANSACTION"
            default: return false
            }
        }
    }

    public static func statements(in text: String) -> [Statement] {
        var lexer = Lexer(bytes: Array(text.utf8))
        return lexer.run()
    }
}

private struct Lexer {
    let bytes: [UInt8]
    var index = 0
    var statements: [SQLLexer.Statement] = []
    var start: Int? = nil  // first significant byte of the current statement
    var end = 0  // one past its last significant byte
    var words: [String] = []
    var previousWord = ""
    var atomicDepth = 0

    init(bytes: [UInt8]) { self.bytes = bytes }

    mutating func run() -> [SQLLexer.Statement] {
        while index < bytes.count {
            let byte = bytes[index]
            let tokenStart = index
            var significant = true
            switch byte {
            case UInt8(ascii: "-") where peek(1) == UInt8(ascii: "-"):
                while index < bytes.count && bytes[index] != UInt8(ascii: "\n") { index += 1 }
                significant = false
            case UInt8(ascii: "/") where peek(1) == UInt8(ascii: "*"):
                skipBlockComment()
                significant = false
            case UInt8(ascii: ";") where atomicDepth == 0:
                finishStatement()
                index += 1
                significant = false
            case UInt8(ascii: "'"):
                skipQuoted(UInt8(ascii: "'"), backslashEscapes: false)
            case UInt8(ascii: "\""):
                skipQuoted(UInt8(ascii: "\""), backslashEscapes: false)
            case UInt8(ascii: "$"):
                if !skipDollarQuote() { index += 1 }
            case _ where isWordStart(byte):
                // E'…' and e'…' strings take backslash escapes.
                if (byte == UInt8(ascii: "E") || byte == UInt8(ascii: "e")) && peek(1) == UInt8(ascii: "'") {
                    index += 1
                    skipQuoted(UInt8(ascii: "'"), backslashEscapes: true)
                } else {
                    while index < bytes.count && isWordPart(bytes[index]) { index += 1 }
                    mark(tokenStart)
                    noteWord(String(decoding: bytes[tokenStart..<index], as: UTF8.self).uppercased())
                }
            case UInt8(ascii: " "), UInt8(ascii: "\t"), UInt8(ascii: "\n"), UInt8(ascii: "\r"), 0x0C:
                index += 1
                significant = false
            default:
                index += 1
            }
            if significant {
                mark(tokenStart)
                end = index
            }
        }
        finishStatement()
        return statements
    }

    func peek(_ offset: Int) -> UInt8? {
        index + offset < bytes.count ? bytes[index + offset] : nil
    }

    mutating func mark(_ position: Int) {
        if start == nil { start = position }
    }

    mutating func noteWord(_ word: String) {
        if words.count < 2 { words.append(word) }
        // Only CREATE FUNCTION/PROCEDURE bodies use BEGIN ATOMIC; inside one, CASE…END nests too.
        if word == "ATOMIC" && previousWord == "BEGIN" && words.first != "BEGIN" {
            atomicDepth += 1
        } else if atomicDepth > 0 && word == "CASE" {
            atomicDepth += 1
        } else if atomicDepth > 0 && word == "END" {
            atomicDepth -= 1
        }
        previousWord = word
    }

    mutating func finishStatement() {
        if let start {
            statements.append(
                SQLLexer.Statement(
                    range: start..<max(end, start + 1), firstWord: words.first ?? "",
                    secondWord: words.count > 1 ? words[1] : ""))
        }
        start = nil
        end = 0
        words = []
        previousWord = ""
        atomicDepth = 0
    }

    mutating func skipBlockComment() {
        var depth = 0
        while index < bytes.count {
            if bytes[index] == UInt8(ascii: "/") && peek(1) == UInt8(ascii: "*") {
                depth += 1
                index += 2
            } else if bytes[index] == UInt8(ascii: "*") && peek(1) == UInt8(ascii: "/") {
                depth -= 1
                index += 2
                if depth == 0 { return }
            } else {
                index += 1
            }
        }
    }

    mutating func skipQuoted(_ quote: UInt8, backslashEscapes: Bool) {
        index += 1
        while index < bytes.count {
            let byte = bytes[index]
            if backslashEscapes && byte == UInt8(ascii: "\\") {
                index += 2
            } else if byte == quote {
                if peek(1) == quote {
                    index += 2
                } else {
                    index += 1
                    return
                }
            } else {
                index += 1
            }
        }
    }

    /// `$tag$ … $tag$`; returns false when the `$` does not open a dollar quote (e.g. `$1`).
    mutating func skipDollarQuote() -> Bool {
        var tagEnd = index + 1
        while tagEnd < bytes.count && bytes[tagEnd] != UInt8(ascii: "$") {
            let byte = bytes[tagEnd]
            let allowed = tagEnd == index + 1 ? isWordStart(byte) : isWordPart(byte) && byte != UInt8(ascii: "$")
            if !allowed { return false }
            tagEnd += 1
        }
        guard tagEnd < bytes.count else { return false }
        let tag = bytes[index...tagEnd]
        var cursor = tagEnd + 1
        while cursor < bytes.count {
            if bytes[cursor] == UInt8(ascii: "$") && bytes.count - cursor >= tag.count
                && bytes[cursor..<cursor + tag.count].elementsEqual(tag)
            {
                index = cursor + tag.count
                return true
            }
            cursor += 1
        }
        index = bytes.count  // unterminated: the server will say so
        return true
    }

    func isWordStart(_ byte: UInt8) -> Bool {
        (byte >= UInt8(ascii: "a") && byte <= UInt8(ascii: "z")) || (byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "Z"))
            || byte == UInt8(ascii: "_") || byte >= 0x80
    }

    func isWordPart(_ byte: UInt8) -> Bool {
        isWordStart(byte) || (byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9")) || byte == UInt8(ascii: "$")
    }

}
