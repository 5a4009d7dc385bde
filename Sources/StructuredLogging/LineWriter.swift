import Synchronization

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

/// `2026-11-25T15:12:27.123Z`: UTC, RFC 3339 with milliseconds, without Foundation's formatters.
public func rfc3339Timestamp() -> String {
    var bytes: [UInt8] = []
    bytes.reserveCapacity(24)
    appendTimestamp(to: &bytes)
    return String(decoding: bytes, as: UTF8.self)
}

/// The same, appended to a line being built (one per log line, so no intermediate strings).
func appendTimestamp(to out: inout [UInt8]) {
    var now = timespec()
    clock_gettime(CLOCK_REALTIME, &now)
    var seconds = now.tv_sec
    var parts = tm()
    gmtime_r(&seconds, &parts)
    func digits(_ value: Int32, _ width: Int) {
        var divisor: Int32 = 1
        for _ in 1..<width { divisor *= 10 }
        var value = max(0, value)
        while divisor > 0 {
            out.append(UInt8(ascii: "0") + UInt8(value / divisor % 10))
            value %= divisor
            divisor /= 10
        }
    }
    digits(parts.tm_year + 1900, 4)
    out.append(UInt8(ascii: "-"))
    digits(parts.tm_mon + 1, 2)
    out.append(UInt8(ascii: "-"))
    digits(parts.tm_mday, 2)
    out.append(UInt8(ascii: "T"))
    digits(parts.tm_hour, 2)
    out.append(UInt8(ascii: ":"))
    digits(parts.tm_min, 2)
    out.append(UInt8(ascii: ":"))
    digits(parts.tm_sec, 2)
    out.append(UInt8(ascii: "."))
    digits(Int32(now.tv_nsec / 1_000_000), 3)
    out.append(UInt8(ascii: "Z"))
}
