import ArgumentParser

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#endif

/// The thin entry point: block signals before any thread exists, parse, run, exit with the contract's code.
@main
enum Main {
    static func main() {
        SignalWatcher.install()
        do {
            var command = try MigratorCommand.parseAsRoot()
            try command.run()
            exit(0)
        } catch let code as ExitCode {
            exit(code.rawValue)
        } catch {
            if MigratorCommand.exitCode(for: error) == .success {
                print(MigratorCommand.fullMessage(for: error))  // --help, --version
                exit(0)
            }
            // Usage errors: argument-parser's own code (64) is not ours; the contract says 2.
            let message =
                MigratorCommand.message(for: error).split(separator: "\n").first.map(String.init) ?? "\(error)"
            RunReport.usageError(message)
            exit(ExitStatus.configuration)
        }
    }
}
