#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

/// The one way the engine reads a file: whole, regular files only, up to `maximumSize`.
enum FileReader {
    /// Applying a file costs about four times its size in memory (the text, its pieces, libpq's
    /// send buffer, the lexer's work), and the ECS task has 512 MB; a bigger file is almost always
    /// a data dump, which belongs in `COPY` or `psql`, not in a migration.
    static let maximumSize = 32 << 20

    struct Failure: Error {
        var reason: String
    }

    enum Kind {
        case missing
        case directory
        case regularFile
        case other
    }

    /// What `path` is, following symbolic links, without opening it (a FIFO would block `open`).
    static func kind(of path: String) -> Kind {
        var info = stat()
        guard stat(path, &info) == 0 else { return .missing }
        switch info.st_mode & S_IFMT {
        case S_IFDIR: return .directory
        case S_IFREG: return .regularFile
        default: return .other
        }
    }

    static func contents(of path: String) throws(Failure) -> [UInt8] {
        // O_NONBLOCK: opening a FIFO for reading would otherwise wait for a writer, forever.
        let descriptor = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK)
        guard descriptor >= 0 else { throw Failure(reason: errnoText()) }
        defer { close(descriptor) }
        var info = stat()
        guard fstat(descriptor, &info) == 0 else { throw Failure(reason: errnoText()) }
        switch info.st_mode & S_IFMT {
        case S_IFREG: break
        case S_IFDIR: throw Failure(reason: "is a directory")
        default: throw Failure(reason: "not a regular file (a FIFO, socket or device); migrations must be plain files")
        }
        let size = Int(info.st_size)
        guard size <= maximumSize else {
            throw Failure(
                reason: "\(size) bytes, more than the \(maximumSize >> 20) MiB a migration file may have (load "
                    + "large data with COPY or psql instead)")
        }
        // fstat's size is only a hint (the file may change meanwhile): read until end of file.
        var bytes = [UInt8](repeating: 0, count: size + 1)
        var filled = 0
        while true {
            if filled == bytes.count {
                guard bytes.count <= maximumSize else {
                    throw Failure(reason: "grew past \(maximumSize >> 20) MiB while being read")
                }
                bytes.append(contentsOf: repeatElement(0, count: max(4096, bytes.count)))
            }
            let space = bytes.count - filled
            let count = bytes.withUnsafeMutableBytes { read(descriptor, $0.baseAddress! + filled, space) }
            if count < 0 {
                if errno == EINTR { continue }
                throw Failure(reason: errnoText())
            }
            if count == 0 { break }
            filled += count
        }
        bytes.removeLast(bytes.count - filled)
        return bytes
    }

    /// Names in a directory (not `.` and `..`), unsorted; empty when it cannot be listed.
    static func names(in path: String) -> [String] {
        guard let directory = opendir(path) else { return [] }
        defer { closedir(directory) }
        var names: [String] = []
        while let entry = readdir(directory) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(cString: raw.bindMemory(to: CChar.self).baseAddress!)
            }
            if name != "." && name != ".." { names.append(name) }
        }
        return names
    }

    static func errnoText() -> String {
        String(cString: strerror(errno)).lowercased()
    }
}
