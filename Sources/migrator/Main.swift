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
        let signals = SignalWatcher.install()
        if let invocation = QuickStart.invocation(for: CommandLine.arguments.dropFirst()) {
            exit(invocation.execute(signals: signals))
        }
        do {
            var command = try MigratorCommand.parseAsRoot()
            if let runnable = command as? any RunnableCommand {
                exit(runnable.invocation.execute(signals: signals))
            }
            try command.run()
            exit(0)
        } catch {
            let code = MigratorCommand.exitCode(for: error)
            if code == .success {
                print(MigratorCommand.fullMessage(for: error))
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
