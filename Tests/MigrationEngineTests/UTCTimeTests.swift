import Foundation
import SystemSupport
import Testing

/// The one UTC calendar (log timestamps, status dates, Drizzle 1.0 folder times, SigV4) against
/// libc's gmtime_r and timegm, across leap years, centuries and before 1970.
@Suite("UTC calendar")
struct UTCTimeTests {
    @Test(
        "fields and epoch seconds agree with gmtime_r and timegm",
        arguments: [
            Int64(0), -1, 951_782_400, 951_868_799, 4_107_542_399, -2_208_988_800, 1_733_400_000,
            253_402_300_799, -62_135_596_800,
        ])
    func agreesWithLibc(seconds: Int64) {
        var time = time_t(seconds)
        var parts = tm()
        gmtime_r(&time, &parts)
        let fields = UTCTime.fields(epochSeconds: seconds)
        #expect(fields.year == Int64(parts.tm_year) + 1900)
        #expect(fields.month == Int64(parts.tm_mon) + 1)
        #expect(fields.day == Int64(parts.tm_mday))
        #expect(
            [fields.hour, fields.minute, fields.second] == [parts.tm_hour, parts.tm_min, parts.tm_sec].map(Int64.init))
        #expect(UTCTime.epochSeconds(fields) == Int64(timegm(&parts)))
        #expect(UTCTime.epochSeconds(fields) == seconds)
    }

    @Test("a day past the month's end rolls over, as JavaScript's Date.UTC does")
    func rollOver() {
        let march1 = UTCTime.epochSeconds(.init(year: 2024, month: 3, day: 1))
        #expect(UTCTime.epochSeconds(.init(year: 2024, month: 2, day: 30)) == march1)
        #expect(UTCTime.pad(7, 3) == "007")
    }
}
