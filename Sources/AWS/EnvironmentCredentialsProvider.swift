/// `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY` and optionally `AWS_SESSION_TOKEN`.
struct EnvironmentCredentialsProvider: CredentialsProvider {
    let name = "environment"

    func credentials(_ context: AWSContext) throws(AWSError) -> CredentialsLookup {
        let accessKeyId = context.env("AWS_ACCESS_KEY_ID")
        let secretAccessKey = context.env("AWS_SECRET_ACCESS_KEY")
        switch (accessKeyId, secretAccessKey) {
        case (nil, nil):
            return .notConfigured
        case (let accessKeyId?, let secretAccessKey?):
            // AWS_SECURITY_TOKEN is the name older SDKs and tools still export.
            let token = context.env("AWS_SESSION_TOKEN") ?? context.env("AWS_SECURITY_TOKEN")
            return .found(
                AWSCredentials(accessKeyId: accessKeyId, secretAccessKey: secretAccessKey, sessionToken: token))
        case (nil, _):
            throw AWSError(code: .credentials, message: "AWS_SECRET_ACCESS_KEY is set but AWS_ACCESS_KEY_ID is not")
        case (_, nil):
            throw AWSError(code: .credentials, message: "AWS_ACCESS_KEY_ID is set but AWS_SECRET_ACCESS_KEY is not")
        }
    }
}
