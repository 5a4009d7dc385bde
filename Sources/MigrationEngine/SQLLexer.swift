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

    /// The statements, and whether the text is *self-contained*: every statement ends with its `;`,
    /// no comment, quote or dollar body is left open, parentheses balance and hold no `;`, and nothing
    /// is lexed where the server's lexer could differ. Only such pieces are sent together (see
    /// `Migration.runsAsOneQuery`): the server then splits the text exactly where it splits each
    /// piece, and sends one result per statement found here.
    static func scan(_ text: some StringProtocol) -> (statements: [Statement], selfContained: Bool) {
        var lexer = Lexer(bytes: Array(text.utf8))
        let statements = lexer.run()
        return (statements, lexer.selfContained)
    }
}

private struct Lexer {
    let bytes: [UInt8]
    var index = 0
    var statements: [SQLLexer.Statement] = []
    var start: Int? = nil  // first significant byte of the current statement
    var end = 0  // one past its last significant byte
    // Only the first two words are kept as strings: an allocation per word made lexing the
    // costliest client-side step of applying a file.
    var wordCount = 0
    var firstWord = ""
    var secondWord = ""
    var previousWord = Keyword.other
    var atomicDepth = 0
    // Only for `selfContained`; they change nothing in how statements are split.
    var parenthesisDepth = 0
    var semicolonInParentheses = false
    var unterminated = false
    var endsInsideStatement = false
    /// Where this lexer and the server's could split differently: a `BEGIN ATOMIC` body (found by a
    /// heuristic), a line comment ended by a bare CR (the server ends it there, we at LF), a vertical
    /// tab (whitespace to the server only), a backslash in a standard string (which
    /// `standard_conforming_strings = off` would make an escape).
    var ambiguous = false

    var selfContained: Bool {
        !unterminated && !endsInsideStatement && !semicolonInParentheses && parenthesisDepth == 0 && !ambiguous
    }

    /// The words the statement splitter cares about, matched without allocating.
    enum Keyword { case begin, atomic, `case`, end, other }

    init(bytes: [UInt8]) { self.bytes = bytes }

    mutating func run() -> [SQLLexer.Statement] {
        while index < bytes.count {
            let byte = bytes[index]
            let tokenStart = index
            var significant = true
            switch byte {
            case UInt8(ascii: "-") where peek(1) == UInt8(ascii: "-"):
                while index < bytes.count && bytes[index] != UInt8(ascii: "\n") {
                    if bytes[index] == UInt8(ascii: "\r") && peek(1) != UInt8(ascii: "\n") { ambiguous = true }
                    index += 1
                }
                significant = false
            case UInt8(ascii: "/") where peek(1) == UInt8(ascii: "*"):
                skipBlockComment()
                significant = false
            case UInt8(ascii: ";") where atomicDepth == 0:
                if parenthesisDepth != 0 { semicolonInParentheses = true }
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
                    noteWord(tokenStart..<index)
                }
            case UInt8(ascii: " "), UInt8(ascii: "\t"), UInt8(ascii: "\n"), UInt8(ascii: "\r"), 0x0C:
                index += 1
                significant = false
            case UInt8(ascii: "("):
                parenthesisDepth += 1
                index += 1
            case UInt8(ascii: ")"):
                parenthesisDepth -= 1
                index += 1
            case 0x0B:
                ambiguous = true
                index += 1
            default:
                index += 1
            }
            if significant {
                mark(tokenStart)
                end = index
            }
        }
        endsInsideStatement = start != nil || atomicDepth > 0
        finishStatement()
        return statements
    }

    func peek(_ offset: Int) -> UInt8? {
        index + offset < bytes.count ? bytes[index + offset] : nil
    }

    mutating func mark(_ position: Int) {
        if start == nil { start = position }
    }

    mutating func noteWord(_ range: Range<Int>) {
        if wordCount < 2 {
            let word = String(decoding: bytes[range], as: UTF8.self).uppercased()
            if wordCount == 0 { firstWord = word } else { secondWord = word }
            wordCount += 1
        }
        let word = keyword(range)
        // Only CREATE FUNCTION/PROCEDURE bodies use BEGIN ATOMIC; inside one, CASE…END nests too.
        if word == .atomic && previousWord == .begin && firstWord != "BEGIN" {
            atomicDepth += 1
            ambiguous = true
        } else if atomicDepth > 0 && word == .case {
            atomicDepth += 1
        } else if atomicDepth > 0 && word == .end {
            atomicDepth -= 1
        }
        previousWord = word
    }

    func keyword(_ range: Range<Int>) -> Keyword {
        let count = range.count
        guard count >= 3 && count <= 6 else { return .other }
        var ascii = true
        for byte in bytes[range] where byte >= 0x80 { ascii = false }
        // Non-ASCII words go through uppercased() as before (Unicode case mapping can yield ASCII).
        if !ascii {
            switch String(decoding: bytes[range], as: UTF8.self).uppercased() {
            case "BEGIN": return .begin
            case "ATOMIC": return .atomic
            case "CASE": return .case
            case "END": return .end
            default: return .other
            }
        }
        func matches(_ word: StaticString) -> Bool {
            guard word.utf8CodeUnitCount == count else { return false }
            var position = range.lowerBound
            for letter in UnsafeBufferPointer(start: word.utf8Start, count: count) {
                if bytes[position] & 0xDF != letter { return false }  // ASCII letters only: clear the case bit
                position += 1
            }
            return true
        }
        switch count {
        case 3: return matches("END") ? .end : .other
        case 4: return matches("CASE") ? .case : .other
        case 5: return matches("BEGIN") ? .begin : .other
        default: return matches("ATOMIC") ? .atomic : .other
        }
    }

    mutating func finishStatement() {
        if let start {
            statements.append(
                SQLLexer.Statement(
                    range: start..<max(end, start + 1), firstWord: firstWord, secondWord: secondWord))
        }
        start = nil
        end = 0
        wordCount = 0
        firstWord = ""
        secondWord = ""
        previousWord = .other
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
        unterminated = true
    }

    mutating func skipQuoted(_ quote: UInt8, backslashEscapes: Bool) {
        index += 1
        while index < bytes.count {
            let byte = bytes[index]
            if !backslashEscapes && quote == UInt8(ascii: "'") && byte == UInt8(ascii: "\\") { ambiguous = true }
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
        unterminated = true
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
        unterminated = true
        return true
    }

    func isWordStart(_ byte: UInt8) -> Bool {
        (byte >= UInt8(ascii: "a") && byte <= UInt8(ascii: "z"))
            || (byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "Z"))
            || byte == UInt8(ascii: "_") || byte >= 0x80
    }

    func isWordPart(_ byte: UInt8) -> Bool {
        isWordStart(byte) || (byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9")) || byte == UInt8(ascii: "$")
    }

}
