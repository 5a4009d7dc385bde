import Synchronization
import SystemSupport

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

/// Writes whole lines to a file descriptor, one `write` per line under a lock, so lines from the
/// signal thread and the main thread never interleave and CloudWatch sees one event per line.
public final class LineWriter: Sendable {
    public static let standardOutput = LineWriter(descriptor: 1)
    public static let standardError = LineWriter(descriptor: 2)

    private let descriptor: Int32
    private let lock = Mutex(())

    public init(descriptor: Int32) { self.descriptor = descriptor }

    public func write(line: String) {
        var bytes = Array(line.utf8)
        bytes.append(UInt8(ascii: "\n"))
        lock.withLock { _ in
            var offset = 0
            while offset < bytes.count {
                let written = bytes[offset...].withUnsafeBytes { Glibc.write(descriptor, $0.baseAddress, $0.count) }
                if written < 0 {
                    if errno == EINTR { continue }
                    return  // stdout closed: nothing sensible left to do with a log line
                }
                offset += written
            }
        }
    }
}

/// `2026-11-25T15:12:27.123Z`: UTC, RFC 3339 with milliseconds, on SystemSupport's calendar.
public func rfc3339Timestamp() -> String {
    var bytes: [UInt8] = []
    bytes.reserveCapacity(24)
    appendTimestamp(to: &bytes)
    return String(decoding: bytes, as: UTF8.self)
}

/// The same, appended to a line being built (one per log line, so no intermediate strings).
func appendTimestamp(to out: inout [UInt8]) {
    let (seconds, milliseconds) = UTCTime.now()
    let time = UTCTime.fields(epochSeconds: seconds)
    func digits(_ value: Int64, _ width: Int) {
        var divisor: Int64 = 1
        for _ in 1..<width { divisor *= 10 }
        var value = max(0, value)
        while divisor > 0 {
            out.append(UInt8(ascii: "0") + UInt8(value / divisor % 10))
            value %= divisor
            divisor /= 10
        }
    }
    digits(time.year, 4)
    out.append(UInt8(ascii: "-"))
    digits(time.month, 2)
    out.append(UInt8(ascii: "-"))
    digits(time.day, 2)
    out.append(UInt8(ascii: "T"))
    digits(time.hour, 2)
    out.append(UInt8(ascii: ":"))
    digits(time.minute, 2)
    out.append(UInt8(ascii: ":"))
    digits(time.second, 2)
    out.append(UInt8(ascii: "."))
    digits(milliseconds, 3)
    out.append(UInt8(ascii: "Z"))
}
