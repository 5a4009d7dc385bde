import Logging

/// The same events for people: `15:04:05.123 INFO  migration.applied  message  key=value …`.
/// As in the JSON form, the message and the values pass through `Redaction`; keys and the event name
/// do not.
public struct TextLogHandler: LogHandler {
    public var metadata: Logger.Metadata = [:]
    public var logLevel: Logger.Level = .info
    private let writer: LineWriter
    private let redaction: Redaction

    public init(writer: LineWriter = .standardOutput, logLevel: Logger.Level = .info, redaction: Redaction = .shared) {
        self.writer = writer
        self.logLevel = logLevel
        self.redaction = redaction
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        var fields = metadata
        if let extra = event.metadata { fields.merge(extra) { _, new in new } }
        let name = fields.removeValue(forKey: "event")?.description ?? "log"
        fields.removeValue(forKey: "_aws")  // metric plumbing, noise for people
        let time = rfc3339Timestamp().dropFirst(11).dropLast()
        let level = JSONLogHandler.levelName(event.level).uppercased()
        let message = redaction.scrub(event.message.description)
        var line = "\(time) \(level.padding(to: 7)) \(name.padding(to: 22)) \(message)"
        for key in fields.keys.sorted() {
            let value = Self.text(fields[key]!, redaction)
            line += " \(key)=" + (value.contains(" ") ? JSONLogHandler.jsonString(value) : value)
        }
        writer.write(line: line)
    }

    /// A value as text with each string in it scrubbed (not the whole rendering, whose brackets and
    /// keys are ours).
    static func text(_ value: Logger.MetadataValue, _ redaction: Redaction) -> String {
        switch value {
        case .string(let string): redaction.scrub(string)
        case .stringConvertible(let value): redaction.scrub(value.description)
        case .array(let values): "[" + values.map { text($0, redaction) }.joined(separator: ", ") + "]"
        case .dictionary(let fields):
            "[" + fields.keys.sorted().map { "\($0): \(text(fields[$0]!, redaction))" }.joined(separator: ", ") + "]"
        }
    }
}

extension String {
    fileprivate func padding(to width: Int) -> String {
        count >= width ? self : self + String(repeating: " ", count: width - count)
    }
}
