import SystemSupport

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

/// What a migrations folder holds, looked at without opening anything (a FIFO would block `open`);
/// the files themselves are read with `Files.read`, the program's one file reader.
enum DirectoryListing {
    /// Applying a file costs about five times its size in memory (the text, the statements found in
    /// it, libpq's send buffer and one result per statement: 164 MB peak for 30 MB), and the ECS task
    /// has 512 MB; a bigger file is almost always a data dump, which belongs in `COPY` or `psql`.
    static let maximumSize = 32 << 20

    struct Failure: Error {
        var reason: String
    }

    /// A whole regular file of at most `maximumSize` bytes.
    static func contents(of path: String) throws(Failure) -> [UInt8] {
        var info = stat()
        if stat(path, &info) == 0 && (info.st_mode & S_IFMT) == S_IFREG && Int(info.st_size) > maximumSize {
            throw Failure(
                reason: "\(info.st_size) bytes, more than the \(maximumSize >> 20) MiB a migration file may have "
                    + "(load large data with COPY or psql instead)")
        }
        let bytes: [UInt8]?
        do {
            bytes = try Files.read(path, limit: maximumSize)
        } catch {
            throw Failure(reason: error.reason.lowercased())
        }
        guard let bytes else { throw Failure(reason: "no such file or directory") }
        return bytes
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
