#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif
#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

/// A drizzle-kit migrations folder (journal layout): `meta/_journal.json` plus one `<tag>.sql` per entry.
///
/// Everything is read, validated and hashed here, before a single query is sent (the login may run
/// meanwhile), so a broken folder fails with exit 2 and the database is never touched (Drizzle does
/// the same for missing files).
public struct MigrationFolder: Sendable {
    public var path: String
    public var migrations: [Migration]
    /// `.sql` files the journal does not name (Drizzle ignores them; we warn).
    public var strayFiles: [String]

    public init(path: String) throws(MigrationError) {
        self.path = path
        var isDirectory = stat()
        guard stat(path, &isDirectory) == 0 else {
            throw MigrationError(.configuration, "migrations folder \(path): \(Self.errnoText())")
        }
        guard (isDirectory.st_mode & S_IFMT) == S_IFDIR else {
            throw MigrationError(.configuration, "migrations folder \(path): not a directory")
        }
        let journalPath = path + "/meta/_journal.json"
        let journalBytes: [UInt8]
        do {
            journalBytes = try Self.readFile(journalPath)
        } catch {
            throw MigrationError(
                .configuration,
                "\(journalPath): \(error.reason) (is \(path) a drizzle-kit migrations folder? set --migrations-dir)")
        }
        let entries = try Self.parseJournal(journalBytes, path: journalPath)

        // Files are opened relative to the folder: one path lookup instead of one per component per
        // file. A folder that can be searched but not read falls back to full paths.
        let directory = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        defer { if directory >= 0 { close(directory) } }
        let loaded = Self.load(entries.map { $0.tag + ".sql" }, in: directory, path: path)

        var migrations: [Migration] = []
        migrations.reserveCapacity(entries.count)
        var seenTags: [String: Int] = [:]
        seenTags.reserveCapacity(entries.count)
        // In journal order, so the first problem reported is the one a file-by-file read would meet.
        for (index, entry) in entries.enumerated() {
            if let first = seenTags[entry.tag] {
                throw MigrationError(
                    .configuration,
                    "\(journalPath): entries \(first) and \(index) have the same tag \"\(entry.tag)\" (merge conflict?)"
                )
            }
            seenTags[entry.tag] = index
            let fileName = entry.tag + ".sql"
            switch loaded[index] {
            case .unreadable(let error):
                throw MigrationError(
                    .configuration, "\(path)/\(fileName): \(error.reason) (named by meta/_journal.json entry \(index))")
            case .notUTF8(let bytes):
                let offset = Self.firstInvalidUTF8Offset(bytes)
                throw MigrationError(
                    .configuration,
                    "\(path)/\(fileName): not valid UTF-8 (first bad byte at offset \(offset)); save the file as UTF-8")
            case .read(let sql, let hash):
                migrations.append(Migration(index: index, tag: entry.tag, when: entry.when, sql: sql, hash: hash))
            }
        }
        self.migrations = migrations
        self.strayFiles = Self.sqlFiles(in: path).filter { seenTags[String($0.dropLast(4))] == nil }.sorted()
    }

    // MARK: journal

    private struct Journal: Decodable {
        var entries: [Entry]
    }

    struct Entry: Decodable {
        var tag: String
        var when: Int64
    }

    static func parseJournal(_ bytes: [UInt8], path: String) throws(MigrationError) -> [Entry] {
        if bytes.isEmpty { throw MigrationError(.configuration, "\(path): the file is empty") }
        if let marker = conflictMarkerLine(bytes) {
            throw MigrationError(
                .configuration, "\(path): line \(marker) holds a merge conflict marker; resolve the conflict first")
        }
        let entries: [Entry]
        if let scanned = JournalScanner.entries(in: bytes) {
            entries = scanned
        } else {
            do {
                entries = try JSONDecoder().decode(Journal.self, from: Data(bytes)).entries
            } catch let error as DecodingError {
                throw MigrationError(.configuration, "\(path): \(describe(error))")
            } catch {
                throw MigrationError(.configuration, "\(path): not valid JSON")
            }
        }
        for (index, entry) in entries.enumerated() {
            // Bytes, not Characters (String.contains cost more than reading the journal did).
            if entry.tag.isEmpty || entry.tag.utf8.contains(where: { $0 == UInt8(ascii: "/") || $0 == 0 })
                || entry.tag == ".." || entry.tag == "."
            {
                throw MigrationError(
                    .configuration, "\(path): entry \(index) has tag \"\(entry.tag)\", which is not a file name")
            }
            if entry.when < 0 {
                throw MigrationError(.configuration, "\(path): entry \(index) (\(entry.tag)) has a negative \"when\"")
            }
        }
        return entries
    }

    private static func describe(_ error: DecodingError) -> String {
        func path(_ context: DecodingError.Context) -> String {
            var parts: [String] = []
            for key in context.codingPath {
                if let index = key.intValue { parts.append("entry \(index)") } else { parts.append(key.stringValue) }
            }
            return parts.isEmpty ? "" : parts.joined(separator: " ") + ": "
        }
        switch error {
        case .dataCorrupted(let context):
            return context.codingPath.isEmpty ? "not valid JSON" : "\(path(context))invalid value"
        case .keyNotFound(let key, let context):
            return "\(path(context))missing \"\(key.stringValue)\""
        case .typeMismatch(_, let context), .valueNotFound(_, let context):
            return "\(path(context))wrong type (\"when\" must be an integer of milliseconds, \"tag\" a string)"
        @unknown default:
            return "not a drizzle-kit journal"
        }
    }

    private static func conflictMarkerLine(_ bytes: [UInt8]) -> Int? {
        bytes.withUnsafeBufferPointer { buffer -> Int? in
            let markers: [[UInt8]] = [Array("<<<<<<<".utf8), Array(">>>>>>>".utf8)]
            var line = 1
            var start = 0
            while start < buffer.count {
                let rest = buffer.count - start
                if rest >= 7, markers.contains(where: { $0.elementsEqual(buffer[start..<start + 7]) }) { return line }
                // Line by line with memchr: a byte-at-a-time loop cost as much as reading the entries.
                guard let newline = memchr(buffer.baseAddress! + start, 0x0A, rest) else { return nil }
                start = buffer.baseAddress!.distance(to: newline.assumingMemoryBound(to: UInt8.self)) + 1
                line += 1
            }
            return nil
        }
    }

    // MARK: files

    struct ReadError: Error {
        var reason: String
    }

    enum Loaded: Sendable {
        case read(sql: String, hash: String)
        case notUTF8([UInt8])
        case unreadable(ReadError)
    }

    /// Reads, validates and hashes every file. A large folder is split between this thread and a
    /// second one: the time goes to open/read/close system calls, which run on both cores at once.
    static func load(_ names: [String], in directory: Int32, path: String) -> [Loaded] {
        let slots = UnsafeMutableBufferPointer<Loaded>.allocate(capacity: names.count)
        defer {
            slots.deinitialize()
            slots.deallocate()
        }
        // Each slot is written by exactly one thread, and read only after both have finished.
        struct Slots: @unchecked Sendable { let base: UnsafeMutablePointer<Loaded>? }
        let share = Slots(base: slots.baseAddress)
        let work: @Sendable (Int, Int) -> Void = { first, step in
            // One read buffer per thread: a fresh array per file cost an allocation, a zero-fill and
            // page faults for every file.
            var scratch = [UInt8](repeating: 0, count: 64 * 1024)
            for index in stride(from: first, to: names.count, by: step) {
                let loaded = loadFile(names[index], in: directory, path: path, scratch: &scratch)
                (share.base! + index).initialize(to: loaded)
            }
        }
        if names.count >= 64 {
            inParallel { half in work(half, 2) }
        } else {
            work(0, 1)
        }
        return Array(slots)
    }

    private static func loadFile(_ name: String, in directory: Int32, path: String, scratch: inout [UInt8]) -> Loaded {
        let count: Int
        do {
            count =
                try directory >= 0
                ? readFile(name, in: directory, into: &scratch)
                : readFile(path + "/" + name, in: AT_FDCWD, into: &scratch)
        } catch {
            return .unreadable(error)
        }
        return scratch.withUnsafeBufferPointer { buffer in
            let bytes = UnsafeBufferPointer(rebasing: buffer[0..<count])
            guard let sql = String(validating: bytes, as: UTF8.self) else { return .notUTF8(Array(bytes)) }
            return .read(sql: sql, hash: Migration.hash(of: bytes))
        }
    }

    static func readFile(_ path: String) throws(ReadError) -> [UInt8] {
        var bytes: [UInt8] = []
        let count = try readFile(path, in: AT_FDCWD, into: &bytes)
        bytes.removeLast(bytes.count - count)
        return bytes
    }

    /// Reads `name` (relative to the open folder `directory`, or a path relative to AT_FDCWD) into
    /// the start of `buffer`, which grows when needed, and returns how many bytes it holds.
    static func readFile(_ name: String, in directory: Int32, into buffer: inout [UInt8]) throws(ReadError) -> Int {
        let descriptor = openat(directory, name, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { throw ReadError(reason: errnoText()) }
        defer { close(descriptor) }
        var info = stat()
        guard fstat(descriptor, &info) == 0 else { throw ReadError(reason: errnoText()) }
        if (info.st_mode & S_IFMT) == S_IFDIR { throw ReadError(reason: "is a directory") }
        // fstat's size is only a hint (a file can change while we read it), so the buffer has a spare
        // byte: a regular file's read that comes back short of it has reached the end, and the read
        // that would say so again is saved.
        let regular = (info.st_mode & S_IFMT) == S_IFREG
        if buffer.count < Int(info.st_size) + 1 { buffer = [UInt8](repeating: 0, count: Int(info.st_size) + 1) }
        var filled = 0
        while true {
            if filled == buffer.count { buffer.append(contentsOf: repeatElement(0, count: max(4096, buffer.count))) }
            let space = buffer.count - filled
            let count = buffer.withUnsafeMutableBytes { read(descriptor, $0.baseAddress! + filled, space) }
            if count < 0 {
                if errno == EINTR { continue }
                throw ReadError(reason: errnoText())
            }
            if count == 0 { break }
            filled += count
            if regular && count < space { break }
        }
        return filled
    }

    static func sqlFiles(in path: String) -> [String] {
        guard let directory = opendir(path) else { return [] }
        defer { closedir(directory) }
        var names: [String] = []
        while let entry = readdir(directory) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(cString: raw.bindMemory(to: CChar.self).baseAddress!)
            }
            if name.hasSuffix(".sql") { names.append(name) }
        }
        return names
    }

    static func errnoText() -> String {
        String(cString: strerror(errno)).lowercased()
    }

    /// Where decoding first goes wrong, so the operator can find the byte; only runs on failure.
    static func firstInvalidUTF8Offset(_ bytes: [UInt8]) -> Int {
        var index = 0
        while index < bytes.count {
            let lead = bytes[index]
            let length: Int
            switch lead {
            case 0x00...0x7F: length = 1
            case 0xC2...0xDF: length = 2
            case 0xE0...0xEF: length = 3
            case 0xF0...0xF4: length = 4
            default: return index
            }
            guard index + length <= bytes.count,
                String(validating: bytes[index..<index + length], as: UTF8.self) != nil
            else { return index }
            index += length
        }
        return bytes.count
    }
}

/// A strict reader for journals as drizzle-kit writes them. JSONDecoder took a tenth of a run with
/// nothing to apply (500 entries); this takes a few microseconds. It only accepts what it decodes
/// exactly as JSONDecoder would: valid JSON without escapes or non-ASCII in strings, no duplicate
/// keys, `tag` a string and `when` a plain integer. For anything else it returns nil, and
/// JSONDecoder decides (with its error messages).
struct JournalScanner {
    private let bytes: UnsafeBufferPointer<UInt8>
    private var index = 0

    private init(_ bytes: UnsafeBufferPointer<UInt8>) { self.bytes = bytes }

    static func entries(in bytes: [UInt8]) -> [MigrationFolder.Entry]? {
        bytes.withUnsafeBufferPointer { buffer in
            var scanner = JournalScanner(buffer)
            return scanner.journal()
        }
    }

    private mutating func journal() -> [MigrationFolder.Entry]? {
        var entries: [MigrationFolder.Entry]?
        var keys: [Range<Int>] = []
        let complete = object { (scanner: inout JournalScanner, key: Range<Int>) -> Bool in
            if keys.contains(where: { scanner.bytes[$0].elementsEqual(scanner.bytes[key]) }) { return false }
            keys.append(key)
            if scanner.isKey(key, "entries") {
                entries = scanner.entryList()
                return entries != nil
            }
            return scanner.skipValue(depth: 1)
        }
        skipSpace()
        return complete && index == bytes.count ? entries : nil
    }

    private mutating func entryList() -> [MigrationFolder.Entry]? {
        guard take(UInt8(ascii: "[")) else { return nil }
        var entries: [MigrationFolder.Entry] = []
        skipSpace()
        if take(UInt8(ascii: "]")) { return entries }
        repeat {
            skipSpace()
            guard let entry = entry() else { return nil }
            entries.append(entry)
            skipSpace()
        } while take(UInt8(ascii: ","))
        return take(UInt8(ascii: "]")) ? entries : nil
    }

    private mutating func entry() -> MigrationFolder.Entry? {
        var tag: String?
        var when: Int64?
        var keys: [Range<Int>] = []
        let complete = object { (scanner: inout JournalScanner, key: Range<Int>) -> Bool in
            if keys.contains(where: { scanner.bytes[$0].elementsEqual(scanner.bytes[key]) }) { return false }
            keys.append(key)
            if scanner.isKey(key, "tag") {
                guard let range = scanner.string() else { return false }
                tag = String(decoding: scanner.bytes[range], as: UTF8.self)
                return true
            }
            if scanner.isKey(key, "when") {
                when = scanner.integer()
                return when != nil
            }
            return scanner.skipValue(depth: 2)
        }
        guard complete, let tag, let when else { return nil }
        return MigrationFolder.Entry(tag: tag, when: when)
    }

    /// `{ "key": value, ... }`, each value read by `member`; false on anything unexpected.
    private mutating func object(_ member: (inout JournalScanner, Range<Int>) -> Bool) -> Bool {
        skipSpace()
        guard take(UInt8(ascii: "{")) else { return false }
        skipSpace()
        if take(UInt8(ascii: "}")) { return true }
        repeat {
            skipSpace()
            guard let key = string() else { return false }
            skipSpace()
            guard take(UInt8(ascii: ":")) else { return false }
            skipSpace()
            guard member(&self, key) else { return false }
            skipSpace()
        } while take(UInt8(ascii: ","))
        return take(UInt8(ascii: "}"))
    }

    /// Validates and skips any JSON value.
    private mutating func skipValue(depth: Int) -> Bool {
        guard depth < 32, index < bytes.count else { return false }
        switch bytes[index] {
        case UInt8(ascii: "\""): return string() != nil
        case UInt8(ascii: "{"): return object { scanner, _ in scanner.skipValue(depth: depth + 1) }
        case UInt8(ascii: "["):
            index += 1
            skipSpace()
            if take(UInt8(ascii: "]")) { return true }
            repeat {
                skipSpace()
                guard skipValue(depth: depth + 1) else { return false }
                skipSpace()
            } while take(UInt8(ascii: ","))
            return take(UInt8(ascii: "]"))
        case UInt8(ascii: "t"): return literal("true")
        case UInt8(ascii: "f"): return literal("false")
        case UInt8(ascii: "n"): return literal("null")
        default: return number()
        }
    }

    /// A string's contents; nil for escapes, control characters and non-ASCII (left to JSONDecoder).
    private mutating func string() -> Range<Int>? {
        guard take(UInt8(ascii: "\"")) else { return nil }
        let start = index
        while index < bytes.count {
            let byte = bytes[index]
            if byte == UInt8(ascii: "\"") {
                index += 1
                return start..<index - 1
            }
            if byte == UInt8(ascii: "\\") || byte < 0x20 || byte >= 0x80 { return nil }
            index += 1
        }
        return nil
    }

    /// `-?(0|[1-9][0-9]*)` that fits an Int64 and is not followed by a fraction or exponent.
    private mutating func integer() -> Int64? {
        let negative = take(UInt8(ascii: "-"))
        let start = index
        var value: Int64 = 0
        while index < bytes.count, bytes[index] >= UInt8(ascii: "0"), bytes[index] <= UInt8(ascii: "9") {
            let digit = Int64(bytes[index] - UInt8(ascii: "0"))
            let (shifted, overflow) = value.multipliedReportingOverflow(by: 10)
            let (sum, overflow2) =
                negative ? shifted.subtractingReportingOverflow(digit) : shifted.addingReportingOverflow(digit)
            if overflow || overflow2 { return nil }
            value = sum
            index += 1
        }
        let count = index - start
        if count == 0 || (count > 1 && bytes[start] == UInt8(ascii: "0")) { return nil }
        if index < bytes.count, [UInt8(ascii: "."), UInt8(ascii: "e"), UInt8(ascii: "E")].contains(bytes[index]) {
            return nil
        }
        return value
    }

    /// Any JSON number (RFC 8259 grammar).
    private mutating func number() -> Bool {
        _ = take(UInt8(ascii: "-"))
        func digits(_ scanner: inout JournalScanner) -> Int {
            let start = scanner.index
            while scanner.index < scanner.bytes.count, scanner.bytes[scanner.index] >= UInt8(ascii: "0"),
                scanner.bytes[scanner.index] <= UInt8(ascii: "9")
            {
                scanner.index += 1
            }
            return scanner.index - start
        }
        let start = index
        let whole = digits(&self)
        if whole == 0 || (whole > 1 && bytes[start] == UInt8(ascii: "0")) { return false }
        if take(UInt8(ascii: ".")), digits(&self) == 0 { return false }
        if take(UInt8(ascii: "e")) || take(UInt8(ascii: "E")) {
            if !take(UInt8(ascii: "+")) { _ = take(UInt8(ascii: "-")) }
            if digits(&self) == 0 { return false }
        }
        return true
    }

    private mutating func literal(_ word: StaticString) -> Bool {
        let count = word.utf8CodeUnitCount
        guard bytes.count - index >= count,
            bytes[index..<index + count].elementsEqual(UnsafeBufferPointer(start: word.utf8Start, count: count))
        else { return false }
        index += count
        return true
    }

    private func isKey(_ key: Range<Int>, _ name: StaticString) -> Bool {
        bytes[key].elementsEqual(UnsafeBufferPointer(start: name.utf8Start, count: name.utf8CodeUnitCount))
    }

    private mutating func take(_ byte: UInt8) -> Bool {
        guard index < bytes.count, bytes[index] == byte else { return false }
        index += 1
        return true
    }

    private mutating func skipSpace() {
        while index < bytes.count {
            switch bytes[index] {
            case 0x20, 0x09, 0x0A, 0x0D: index += 1
            default: return
            }
        }
    }
}

/// Runs `work(1)` on a new thread and `work(0)` on this one, and returns when both are done; both
/// here if no thread can be had.
private func inParallel(_ work: @escaping @Sendable (Int) -> Void) {
    #if canImport(Glibc)
        final class Job: Sendable {
            let work: @Sendable (Int) -> Void
            init(_ work: @escaping @Sendable (Int) -> Void) { self.work = work }
        }
        let job = Unmanaged.passRetained(Job(work))
        var thread = pthread_t()
        let started = pthread_create(
            &thread, nil,
            { context in
                let job = Unmanaged<Job>.fromOpaque(context!).takeRetainedValue()
                job.work(1)
                return nil
            }, job.toOpaque())
        work(0)
        if started == 0 {
            pthread_join(thread, nil)
        } else {
            job.release()
            work(1)
        }
    #else
        work(0)
        work(1)
    #endif
}
