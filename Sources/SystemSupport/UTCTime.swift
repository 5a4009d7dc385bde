#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

/// UTC calendar arithmetic, the one place it is done: log timestamps, the status table's dates,
/// Drizzle 1.0's folder times, SigV4's dates. Howard Hinnant's civil-from-days algorithms: exact
/// for any year, no time zone database, no formatter library.
public enum UTCTime {
    public struct Fields: Equatable, Sendable {
        public var year: Int64, month: Int64, day: Int64, hour: Int64, minute: Int64, second: Int64

        public init(year: Int64, month: Int64, day: Int64, hour: Int64 = 0, minute: Int64 = 0, second: Int64 = 0) {
            (self.year, self.month, self.day) = (year, month, day)
            (self.hour, self.minute, self.second) = (hour, minute, second)
        }
    }

    /// The calendar fields of `seconds` since 1970-01-01T00:00:00Z.
    public static func fields(epochSeconds seconds: Int64) -> Fields {
        let days = floorDivide(seconds, 86_400)
        let secondOfDay = seconds - days * 86_400
        let z = days + 719_468
        let era = floorDivide(z, 146_097)
        let dayOfEra = z - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36_524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let mp = (5 * dayOfYear + 2) / 153
        let day = dayOfYear - (153 * mp + 2) / 5 + 1
        let month = mp < 10 ? mp + 3 : mp - 9
        return Fields(
            year: yearOfEra + era * 400 + (month <= 2 ? 1 : 0), month: month, day: day,
            hour: secondOfDay / 3600, minute: secondOfDay % 3600 / 60, second: secondOfDay % 60)
    }

    /// Seconds since the epoch of `fields` (month 1-12; a day past the month's end rolls over).
    public static func epochSeconds(_ fields: Fields) -> Int64 {
        let days = daysFromCivil(year: fields.year, month: fields.month) + fields.day - 1
        return days * 86_400 + fields.hour * 3600 + fields.minute * 60 + fields.second
    }

    /// Days from 1970-01-01 to the first of `month` of `year`.
    public static func daysFromCivil(year: Int64, month: Int64) -> Int64 {
        let y = month <= 2 ? year - 1 : year
        let era = floorDivide(y, 400)
        let yearOfEra = y - era * 400
        let dayOfYear = (153 * (month > 2 ? month - 3 : month + 9) + 2) / 5
        let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
        return era * 146_097 + dayOfEra - 719_468
    }

    /// The wall clock: seconds since the epoch and the milliseconds past them.
    public static func now() -> (seconds: Int64, milliseconds: Int64) {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        return (Int64(now.tv_sec), Int64(now.tv_nsec) / 1_000_000)
    }

    /// `value` in decimal, zero-padded to `width` digits.
    public static func pad(_ value: Int64, _ width: Int) -> String {
        let digits = String(value)
        return String(repeating: "0", count: max(0, width - digits.count)) + digits
    }

    public static func floorDivide(_ value: Int64, _ divisor: Int64) -> Int64 {
        value >= 0 ? value / divisor : -((-value + divisor - 1) / divisor)
    }
}
