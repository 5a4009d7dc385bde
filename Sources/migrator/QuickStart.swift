/// The deploy's own invocations, answered without argument-parser.
///
/// ECS runs `migrator up` on every deploy with its whole configuration in the environment, and a
/// deploy usually has nothing to apply, so start-up is most of the run. argument-parser builds its
/// model of every command by reflection before it looks at the arguments: 17.5M of the 148M
/// instructions of a run with nothing to apply (callgrind), and a few hundred KB of binary paged in.
/// Only argument lists with nothing to parse take this path; everything else, `--help` included,
/// goes through the parser, so both paths accept and refuse exactly the same things.
enum QuickStart {
    static func invocation(for arguments: ArraySlice<String>) -> Invocation? {
        switch arguments.count {
        case 0:
            return Up.invocation(options: OptionValues())
        case 1:
            switch arguments[arguments.startIndex] {
            case "up": return Up.invocation(options: OptionValues())
            case "status": return Status.invocation(options: OptionValues())
            case "verify": return Verify.invocation(options: OptionValues())
            default: return nil
            }
        default:
            return nil
        }
    }
}
