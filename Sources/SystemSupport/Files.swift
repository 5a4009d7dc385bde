#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

private let systemRead = read

/// The one way the program reads a file whole: the AWS shared files, the migrations folder.
public enum Files {
    public struct ReadError: Error, Sendable {
        public var path: String
        public var reason: String
    }

    /// Reads a file whole. `nil` when it does not exist, which for the shared AWS files is normal.
    /// Only regular files: opening is non-blocking and anything else (a FIFO that would wait forever
    /// for a writer, a device, a directory) is refused by name.
    public static func read(_ path: String, limit: Int = 1 << 20) throws(ReadError) -> [UInt8]? {
        let descriptor = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK)
        guard descriptor >= 0 else {
            let code = errno
            if code == ENOENT { return nil }
            throw ReadError(path: path, reason: String(cString: strerror(code)))
        }
        defer { close(descriptor) }
        var status = stat()
        guard fstat(descriptor, &status) == 0 else {
            throw ReadError(path: path, reason: String(cString: strerror(errno)))
        }
        guard status.st_mode & S_IFMT == S_IFREG else {
            throw ReadError(path: path, reason: "not a regular file")
        }
        // Straight into an array of the size fstat reported (one more byte shows a file that grew
        // meanwhile): no zero-filled scratch buffer per file, which cost more than the reads for a
        // folder of small migrations.
        let expected = Int(status.st_size)
        guard expected <= limit else { throw ReadError(path: path, reason: "larger than \(limit) bytes") }
        var result = [UInt8](repeating: 0, count: expected + 1)
        var filled = 0
        while true {
            if filled == result.count {
                guard result.count <= limit else {
                    throw ReadError(path: path, reason: "larger than \(limit) bytes")
                }
                result.append(contentsOf: repeatElement(0, count: max(4096, result.count)))
            }
            let count = result.withUnsafeMutableBytes {
                systemRead(descriptor, $0.baseAddress! + filled, $0.count - filled)
            }
            if count < 0 {
                if errno == EINTR { continue }
                throw ReadError(path: path, reason: String(cString: strerror(errno)))
            }
            if count == 0 { break }
            filled += count
        }
        guard filled <= limit else { throw ReadError(path: path, reason: "larger than \(limit) bytes") }
        result.removeSubrange(filled...)
        return result
    }
}
