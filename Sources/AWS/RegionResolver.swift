/// `AWS_REGION` > `AWS_DEFAULT_REGION` > the region inside the secret ARN > the profile's `region`.
///
/// The ARN outranks the profile because it names where the secret actually lives; the profile is the
/// laptop fallback for a secret given by name.
enum RegionResolver {
    static func region(secretId: String, context: AWSContext) throws(AWSError) -> String {
        try region(
            hint: SecretARN(secretId).map { ($0.region, "the secret ARN") }, context: context,
            missing: "no AWS region: set AWS_REGION, or give the secret as a full ARN")
    }

    /// The chain every AWS request of ours follows: `AWS_REGION` > `AWS_DEFAULT_REGION` > `hint` (what
    /// the request itself names: a secret ARN, an RDS host name) > the profile's `region`.
    static func region(hint: (region: String, source: String)?, context: AWSContext, missing: String)
        throws(AWSError) -> String
    {
        let region: String
        let source: String
        if let value = context.env("AWS_REGION") {
            (region, source) = (value, "AWS_REGION")
        } else if let value = context.env("AWS_DEFAULT_REGION") {
            (region, source) = (value, "AWS_DEFAULT_REGION")
        } else if let hint {
            (region, source) = hint
        } else if let value = try ProfileFiles.load(context).config[ProfileFiles.profileName(context)]?["region"],
            !value.isEmpty
        {
            (region, source) = (value, "profile \(ProfileFiles.profileName(context))")
        } else {
            throw AWSError(code: .configuration, message: missing)
        }
        // The region becomes part of a host name: keep it to what real region names look like.
        guard isValid(region) else {
            throw AWSError(code: .configuration, message: "region from \(source) is not a valid AWS region name")
        }
        return region
    }

    static func isValid(_ region: String) -> Bool {
        !region.isEmpty && region.count <= 64 && !region.hasPrefix("-") && !region.hasSuffix("-")
            && region.allSatisfy { $0.isASCII && ($0.isLowercase || $0.isNumber || $0 == "-") }
    }
}

/// `arn:<partition>:secretsmanager:<region>:<account>:secret:<name>`
struct SecretARN: Equatable {
    var partition: String
    var region: String
    var account: String
    var name: String

    init?(_ text: String) {
        let parts = text.split(separator: ":", maxSplits: 6, omittingEmptySubsequences: false)
        guard parts.count == 7, parts[0] == "arn", parts[2] == "secretsmanager", parts[5] == "secret",
            !parts[3].isEmpty, !parts[6].isEmpty
        else { return nil }
        partition = String(parts[1])
        region = String(parts[3])
        account = String(parts[4])
        name = String(parts[6])
    }
}

/// Where Secrets Manager is: an explicit override, or the regional (optionally FIPS) host of the
/// region's partition.
enum SecretsManagerEndpoint {
    static func resolve(region: String, context: AWSContext) throws(AWSError) -> EndpointURL {
        if !context.flag("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS") {
            for variable in ["AWS_ENDPOINT_URL_SECRETS_MANAGER", "AWS_ENDPOINT_URL"] {
                guard let text = context.env(variable) else { continue }
                guard let url = EndpointURL(text), url.query.isEmpty else {
                    throw AWSError(code: .configuration, message: "\(variable) is not an http(s) URL")
                }
                return url
            }
        }
        let fips = context.flag("AWS_USE_FIPS_ENDPOINT")
        let host = "\(fips ? "secretsmanager-fips" : "secretsmanager").\(region).\(dnsSuffix(region: region))"
        return EndpointURL("https://\(host)/")!
    }

    static func dnsSuffix(region: String) -> String {
        if region.hasPrefix("cn-") { return "amazonaws.com.cn" }
        if region.hasPrefix("us-isob-") { return "sc2s.sgov.gov" }
        if region.hasPrefix("us-iso-") { return "c2s.ic.gov" }
        return "amazonaws.com"
    }
}
