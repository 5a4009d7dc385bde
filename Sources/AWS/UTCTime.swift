import SystemSupport

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

/// SigV4's `yyyyMMdd'T'HHmmss'Z'` and the metadata endpoints' RFC 3339, on SystemSupport's calendar.
extension UTCTime {
    static func fields(of date: Date) -> Fields {
        fields(epochSeconds: Int64(date.timeIntervalSince1970.rounded(.down)))
    }

    static func date(from fields: Fields) -> Date {
        Date(timeIntervalSince1970: TimeInterval(epochSeconds(fields)))
    }

    /// `20150830T123600Z`
    static func amzDate(_ date: Date) -> String {
        let f = fields(of: date)
        return pad(f.year, 4) + pad(f.month, 2) + pad(f.day, 2) + "T" + pad(f.hour, 2) + pad(f.minute, 2)
            + pad(f.second, 2) + "Z"
    }

    /// `2015-08-30T12:36:00Z`, for log lines and messages.
    static func iso8601(_ date: Date) -> String {
        let f = fields(of: date)
        return pad(f.year, 4) + "-" + pad(f.month, 2) + "-" + pad(f.day, 2) + "T" + pad(f.hour, 2) + ":"
            + pad(f.minute, 2) + ":" + pad(f.second, 2) + "Z"
    }

    /// Parses the RFC 3339 timestamps of the credential endpoints: `2015-08-30T12:36:00Z`, with optional
    /// fractional seconds and a `Z` or `±hh:mm` offset.
    static func parseISO8601(_ text: String) -> Date? {
        let bytes = Array(text.utf8)
        func number(_ start: Int, _ count: Int) -> Int? {
            guard start + count <= bytes.count else { return nil }
            var value = 0
            for byte in bytes[start..<start + count] {
                guard byte >= 0x30, byte <= 0x39 else { return nil }
                value = value * 10 + Int(byte - 0x30)
            }
            return value
        }
        func byte(_ index: Int) -> UInt8? { index < bytes.count ? bytes[index] : nil }
        guard let year = number(0, 4), byte(4) == UInt8(ascii: "-"), let month = number(5, 2),
            byte(7) == UInt8(ascii: "-"), let day = number(8, 2),
            byte(10) == UInt8(ascii: "T") || byte(10) == UInt8(ascii: "t") || byte(10) == UInt8(ascii: " "),
            let hour = number(11, 2), byte(13) == UInt8(ascii: ":"), let minute = number(14, 2),
            byte(16) == UInt8(ascii: ":"), let second = number(17, 2),
            (1...12).contains(month), (1...31).contains(day), hour < 24, minute < 60, second < 61
        else { return nil }
        var index = 19
        if byte(index) == UInt8(ascii: ".") {
            index += 1
            while let b = byte(index), b >= 0x30, b <= 0x39 { index += 1 }
        }
        var offset = 0
        switch byte(index) {
        case UInt8(ascii: "Z"), UInt8(ascii: "z"):
            index += 1
        case UInt8(ascii: "+"), UInt8(ascii: "-"):
            guard let h = number(index + 1, 2), byte(index + 3) == UInt8(ascii: ":"), let m = number(index + 4, 2)
            else { return nil }
            offset = (h * 3600 + m * 60) * (byte(index) == UInt8(ascii: "+") ? 1 : -1)
            index += 6
        default:
            return nil
        }
        guard index == bytes.count else { return nil }
        let local = date(
            from: Fields(
                year: Int64(year), month: Int64(month), day: Int64(day), hour: Int64(hour), minute: Int64(minute),
                second: Int64(second)))
        return local.addingTimeInterval(TimeInterval(-offset))
    }
}
