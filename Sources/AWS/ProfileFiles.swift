import SystemSupport

/// The shared `credentials` and `config` files (INI), read the way the AWS CLI reads them.
struct ProfileFiles: Sendable {
    /// Section name → keys, per file. Config sections are stored under the profile name (without the
    /// `profile ` prefix); keys are lower-cased.
    var credentials: [String: [String: String]] = [:]
    var config: [String: [String: String]] = [:]
    var credentialsPath: String?
    var configPath: String?

    static func load(_ context: AWSContext) throws(AWSError) -> ProfileFiles {
        var files = ProfileFiles()
        let home = context.env("HOME")
        files.credentialsPath = context.env("AWS_SHARED_CREDENTIALS_FILE") ?? home.map { "\($0)/.aws/credentials" }
        files.configPath = context.env("AWS_CONFIG_FILE") ?? home.map { "\($0)/.aws/config" }
        if let path = files.credentialsPath, let text = try read(path) {
            files.credentials = parse(text, isConfig: false)
        }
        if let path = files.configPath, let text = try read(path) {
            files.config = parse(text, isConfig: true)
        }
        return files
    }

    static func profileName(_ context: AWSContext) -> String {
        context.env("AWS_PROFILE") ?? context.env("AWS_DEFAULT_PROFILE") ?? "default"
    }

    private static func read(_ path: String) throws(AWSError) -> String? {
        do {
            return try Files.read(path).map { String(decoding: $0, as: UTF8.self) }
        } catch {
            throw AWSError(code: .configuration, message: "cannot read \(path): \(error.reason)")
        }
    }

    static func parse(_ text: String, isConfig: Bool) -> [String: [String: String]] {
        var sections: [String: [String: String]] = [:]
        var current: String?
        for rawLine in text.split(
            omittingEmptySubsequences: true, whereSeparator: { $0 == "\n" || $0 == "\r\n" || $0 == "\r" })
        {
            // Indented lines continue a nested setting (`s3 =` blocks); nothing we read is nested.
            if rawLine.first == " " || rawLine.first == "\t" { continue }
            let line = String(rawLine).trimmingCharacters(in: " \t")
            if line.isEmpty || line.hasPrefix("#") || line.hasPrefix(";") { continue }
            if line.hasPrefix("[") {
                guard let close = line.firstIndex(of: "]") else { current = nil; continue }
                var name = String(line[line.index(after: line.startIndex)..<close]).trimmingCharacters(in: " \t")
                if isConfig {
                    if name.hasPrefix("profile ") || name.hasPrefix("profile\t") {
                        name = String(name.dropFirst("profile".count)).trimmingCharacters(in: " \t")
                    } else if name != "default" {
                        current = nil  // [sso-session x], [services x]: not profiles
                        continue
                    }
                }
                current = name
                if sections[name] == nil { sections[name] = [:] }
                continue
            }
            guard let section = current, let equals = line.firstIndex(of: "=") else { continue }
            let key = String(line[..<equals]).trimmingCharacters(in: " \t").lowercased()
            var value = String(line[line.index(after: equals)...]).trimmingCharacters(in: " \t")
            // `key = value ; comment` and `# comment` after whitespace, as botocore strips them.
            for marker in [" ;", "\t;", " #", "\t#"] {
                if let range = value.firstRange(of: marker) { value = String(value[..<range.lowerBound]) }
            }
            sections[section]?[key] = value.trimmingCharacters(in: " \t")
        }
        return sections
    }
}

/// `aws_access_key_id` / `aws_secret_access_key` / `aws_session_token` of the profile named by
/// `AWS_PROFILE` (else `default`), from the credentials file first, then the config file.
///
/// Profiles that obtain credentials some other way (SSO, `role_arn`, `credential_process`, web identity)
/// are reported, not silently skipped: the way out is `aws configure export-credentials`.
struct SharedFilesCredentialsProvider: CredentialsProvider {
    let name = "shared-files"

    func credentials(_ context: AWSContext) throws(AWSError) -> CredentialsLookup {
        let files = try ProfileFiles.load(context)
        let profile = ProfileFiles.profileName(context)
        let explicit = context.env("AWS_PROFILE") != nil || context.env("AWS_DEFAULT_PROFILE") != nil
        for section in [files.credentials[profile], files.config[profile]] {
            guard let section, let accessKeyId = nonEmpty(section["aws_access_key_id"]) else { continue }
            guard let secret = nonEmpty(section["aws_secret_access_key"]) else {
                throw AWSError(
                    code: .credentials, message: "profile \(profile) has aws_access_key_id but no aws_secret_access_key"
                )
            }
            let token = nonEmpty(section["aws_session_token"]) ?? nonEmpty(section["aws_security_token"])
            return .found(AWSCredentials(accessKeyId: accessKeyId, secretAccessKey: secret, sessionToken: token))
        }
        if let config = files.config[profile] {
            let unsupported = [
                "sso_session", "sso_start_url", "role_arn", "credential_process", "web_identity_token_file",
            ]
            .filter { config[$0] != nil }
            if !unsupported.isEmpty {
                throw AWSError(
                    code: .credentials,
                    message: "profile \(profile) gets credentials through \(unsupported.joined(separator: ", ")), "
                        + "which migrator does not support; run with the variables printed by "
                        + "`aws configure export-credentials --profile \(profile) --format env`")
            }
        }
        if explicit && files.credentials[profile] == nil && files.config[profile] == nil {
            throw AWSError(
                code: .credentials,
                message:
                    "profile \(profile) (AWS_PROFILE) is in neither \(files.credentialsPath ?? "no credentials file") "
                    + "nor \(files.configPath ?? "no config file")")
        }
        return .notConfigured
    }

    private func nonEmpty(_ value: String?) -> String? {
        guard let value, !value.isEmpty else { return nil }
        return value
    }
}
