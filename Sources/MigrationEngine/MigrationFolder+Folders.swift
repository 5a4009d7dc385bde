import SystemSupport

/// The 1.0 layout ("folders v3"): `<YYYYMMDDHHmmss>_<name>/migration.sql`, as drizzle-orm 1.0's
/// `readMigrationFiles` takes it: every sub-folder holding `migration.sql`, in folder-name order,
/// `created_at` from the first 14 characters read as a UTC time, the folder name as `name`.
extension MigrationFolder {
    static func readFolders(_ names: [String], in path: String) throws(MigrationError) -> [Migration] {
        var migrations: [Migration] = []
        for name in names.sorted(by: { localeOrder($0, $1) }) {
            guard let when = folderMillis(name) else {
                // Drizzle reads NaN here and its insert fails after the earlier files ran; say it up front.
                throw MigrationError(
                    .configuration,
                    "\(path)/\(name)/: a migration folder's name must start with 14 digits YYYYMMDDHHmmss (UTC), "
                        + "as drizzle-kit 1.0 writes it; rename it or move it out of the migrations folder")
            }
            let (sql, hash) = try load(name + "/migration.sql", in: path, origin: "a drizzle-kit 1.0 migration")
            migrations.append(
                Migration(index: migrations.count, tag: name, when: when, sql: sql, hash: hash, layout: .folders))
        }
        return migrations
    }

    /// JavaScript's `Date.UTC(year, month - 1, day, hour, minute, second)` of the name's first 14
    /// digits, with its roll-over (month 13 is January of the next year); nil when they are not digits.
    static func folderMillis(_ name: String) -> Int64? {
        let digits = Array(name.utf8.prefix(14))
        guard digits.count == 14, digits.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }) else {
            return nil
        }
        func number(_ from: Int, _ count: Int) -> Int64 {
            digits[from..<from + count].reduce(0) { $0 * 10 + Int64($1 - UInt8(ascii: "0")) }
        }
        let monthIndex = number(4, 2) - 1
        let yearCarry = UTCTime.floorDivide(monthIndex, 12)
        return 1_000
            * UTCTime.epochSeconds(
                UTCTime.Fields(
                    year: number(0, 4) + yearCarry, month: monthIndex - yearCarry * 12 + 1, day: number(6, 2),
                    hour: number(8, 2), minute: number(10, 2), second: number(12, 2)))
    }

    /// `a.localeCompare(b) < 0` as Node's ICU root collation orders the names drizzle-kit writes:
    /// punctuation before digits before letters, letters case-insensitive first (lower before upper
    /// on a tie). It only decides between folders of the same second; beyond ASCII it falls back to
    /// code points.
    static func localeOrder(_ a: String, _ b: String) -> Bool {
        let left = a.unicodeScalars.map(collationWeight)
        let right = b.unicodeScalars.map(collationWeight)
        let primary = { (weights: [(UInt32, UInt32)]) in weights.map(\.0) }
        if primary(left) != primary(right) { return primary(left).lexicographicallyPrecedes(primary(right)) }
        return left.map(\.1).lexicographicallyPrecedes(right.map(\.1))
    }

    /// (primary, tertiary) weight of one character.
    private static func collationWeight(_ scalar: Unicode.Scalar) -> (UInt32, UInt32) {
        let punctuation = Array("_-,;:!?.'\"()[]{}@*/\\&#%`^+<=>|~$".unicodeScalars)
        if let position = punctuation.firstIndex(of: scalar) { return (UInt32(position) + 1, 0) }
        switch scalar.value {
        case 0x30...0x39: return (100 + scalar.value - 0x30, 0)
        case 0x61...0x7A: return (200 + (scalar.value - 0x61), 0)
        case 0x41...0x5A: return (200 + (scalar.value - 0x41), 1)
        default: return (1_000 + scalar.value, 0)
        }
    }
}
