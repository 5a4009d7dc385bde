import Logging

/// One JSON object per line: `timestamp`, `level`, `message`, `event`, then the event's fields in
/// key order. This is the contract's log shape, read by CloudWatch Logs Insights.
///
/// Every value (the message and each field's strings, nested ones too) passes through `Redaction`
/// before it is escaped; keys, the level and the event name never do, so a password that happens to
/// be a word (`postgres`) cannot turn `postgres.notice` into `***.notice`.
public struct JSONLogHandler: LogHandler {
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
        writer.write(line: Self.render(event: event, handlerMetadata: metadata, redaction: redaction))
    }

    public static func render(
        event: LogEvent, handlerMetadata: Logger.Metadata, redaction: Redaction = .shared
    ) -> String {
        var fields = handlerMetadata
        if let extra = event.metadata {
            if fields.isEmpty { fields = extra } else { fields.merge(extra) { _, new in new } }
        }
        // Built as bytes and turned into a String once: per-scalar String appends made rendering the
        // costliest thing a run did between two statements.
        var line: [UInt8] = []
        line.reserveCapacity(512)
        line.append(contentsOf: #"{"timestamp":""#.utf8)
        appendTimestamp(to: &line)
        line.append(contentsOf: #"","level":"#.utf8)
        appendJSONString(levelName(event.level), to: &line)
        line.append(contentsOf: #","message":"#.utf8)
        appendJSONString(redaction.scrub(event.message.description), to: &line)
        line.append(contentsOf: #","event":"#.utf8)
        appendJSONValue(fields.removeValue(forKey: "event") ?? .string("log"), to: &line, scrubbing: nil)
        for key in fields.keys.sorted() {
            line.append(UInt8(ascii: ","))
            appendJSONString(key, to: &line)
            line.append(UInt8(ascii: ":"))
            appendJSONValue(fields[key]!, to: &line, scrubbing: redaction)
        }
        line.append(UInt8(ascii: "}"))
        return String(decoding: line, as: UTF8.self)
    }

    static func levelName(_ level: Logger.Level) -> String {
        switch level {
        case .trace: "trace"
        case .debug: "debug"
        case .info: "info"
        case .notice: "notice"
        case .warning: "warning"
        case .error: "error"
        case .critical: "critical"
        }
    }

    static func jsonValue(_ value: Logger.MetadataValue) -> String {
        var out: [UInt8] = []
        appendJSONValue(value, to: &out)
        return String(decoding: out, as: UTF8.self)
    }

    /// `scrubbing` is nil only for the event name, which is ours and never holds a secret.
    static func appendJSONValue(
        _ value: Logger.MetadataValue, to out: inout [UInt8], scrubbing: Redaction? = .shared
    ) {
        func text(_ value: String) -> String { scrubbing?.scrub(value) ?? value }
        switch value {
        case .string(let string): appendJSONString(text(string), to: &out)
        case .stringConvertible(let value):
            if let number = value as? JSONNumber {
                out.append(contentsOf: String(number.value).utf8)
            } else if let flag = value as? JSONBool {
                out.append(contentsOf: (flag.value ? "true" : "false").utf8)
            } else {
                appendJSONString(text(value.description), to: &out)
            }
        case .array(let values):
            out.append(UInt8(ascii: "["))
            for (position, value) in values.enumerated() {
                if position > 0 { out.append(UInt8(ascii: ",")) }
                appendJSONValue(value, to: &out, scrubbing: scrubbing)
            }
            out.append(UInt8(ascii: "]"))
        case .dictionary(let fields):
            out.append(UInt8(ascii: "{"))
            for (position, key) in fields.keys.sorted().enumerated() {
                if position > 0 { out.append(UInt8(ascii: ",")) }
                appendJSONString(key, to: &out)
                out.append(UInt8(ascii: ":"))
                appendJSONValue(fields[key]!, to: &out, scrubbing: scrubbing)
            }
            out.append(UInt8(ascii: "}"))
        }
    }

    public static func jsonString(_ text: String) -> String {
        var out: [UInt8] = []
        out.reserveCapacity(text.utf8.count + 2)
        appendJSONString(text, to: &out)
        return String(decoding: out, as: UTF8.self)
    }

    /// Escapes `"`, `\` and control characters; every other byte of the UTF-8 goes through as is.
    static func appendJSONString(_ text: String, to out: inout [UInt8]) {
        out.append(UInt8(ascii: "\""))
        var text = text
        text.withUTF8 { bytes in
            var clean = 0  // start of the run of bytes that need no escaping
            for (index, byte) in bytes.enumerated() where byte == 0x22 || byte == 0x5C || byte < 0x20 {
                out.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[clean..<index]))
                clean = index + 1
                out.append(UInt8(ascii: "\\"))
                switch byte {
                case 0x22, 0x5C: out.append(byte)
                case 0x0A: out.append(UInt8(ascii: "n"))
                case 0x0D: out.append(UInt8(ascii: "r"))
                case 0x09: out.append(UInt8(ascii: "t"))
                default:
                    let hex = Array("0123456789abcdef".utf8)
                    out.append(contentsOf: "u00".utf8)
                    out.append(hex[Int(byte >> 4)])
                    out.append(hex[Int(byte & 0x0F)])
                }
            }
            out.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[clean...]))
        }
        out.append(UInt8(ascii: "\""))
    }
}
