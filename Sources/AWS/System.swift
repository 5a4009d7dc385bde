#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

private let systemRead = read

enum Files {
    struct ReadError: Error {
        var path: String
        var reason: String
    }

    /// Reads a small file whole. `nil` when it does not exist, which for the shared AWS files is normal.
    static func read(_ path: String, limit: Int = 1 << 20) throws(ReadError) -> [UInt8]? {
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else {
            let code = errno
            if code == ENOENT { return nil }
            throw ReadError(path: path, reason: String(cString: strerror(code)))
        }
        defer { close(descriptor) }
        var result: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 16_384)
        while true {
            let count = buffer.withUnsafeMutableBytes { systemRead(descriptor, $0.baseAddress, $0.count) }
            if count < 0 {
                if errno == EINTR { continue }
                throw ReadError(path: path, reason: String(cString: strerror(errno)))
            }
            if count == 0 { break }
            result.append(contentsOf: buffer[0..<count])
            guard result.count <= limit else { throw ReadError(path: path, reason: "larger than \(limit) bytes") }
        }
        return result
    }
}

/// Blocks the calling thread; the whole AWS path is synchronous.
func threadSleep(_ duration: Duration) {
    let (seconds, attoseconds) = duration.components
    guard seconds > 0 || attoseconds > 0 else { return }
    var request = timespec(tv_sec: Int(seconds), tv_nsec: Int(attoseconds / 1_000_000_000))
    var remaining = timespec()
    while nanosleep(&request, &remaining) != 0 && errno == EINTR {
        request = remaining
    }
}
