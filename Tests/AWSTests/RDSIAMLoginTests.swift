import Foundation
import TestSupport
import Testing

@testable import AWS

/// Everything that logs in to the IAM-checking PostgreSQL. One at a time: each test reads the
/// verifier's log to learn why its own login was refused.
@Suite(
    "RDS IAM login against a PostgreSQL that checks tokens like RDS", .serialized,
    .enabled(if: RDSIAMFixture.testsEnabled))
struct RDSIAMTests {}

extension RDSIAMTests {
    /// Tokens from `RDSAuthToken` presented by psql: proves the verifier accepts what botocore accepts
    /// and refuses each broken token for the reason RDS would.
    @Suite("tokens presented by psql")
    struct Verifier {
        enum Case: String, CaseIterable, CustomTestStringConvertible {
            case wrongSignature, tokenForAnotherUser, userNotInPolicy, wrongHost, expired, signedInFuture,
                missingSessionToken, unknownKey

            var testDescription: String { rawValue }
        }

        @Test("a token from a long-term key and one with a session token both log in")
        func accepted() throws {
            let fixture = try RDSIAMFixture.require()
            for keys in [fixture.key, fixture.session] {
                let mark = fixture.logMark()
                let result = try fixture.psql(
                    user: fixture.user, password: token(fixture, keys: keys, user: fixture.user))
                #expect(result.exitCode == 0, "\(result.stderr)")
                #expect(result.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == fixture.user)
                #expect(try fixture.verdicts(since: mark).map(\.result) == ["accepted"])
            }
        }

        @Test("a broken token is refused with PAM's failure, for the intended reason", arguments: Case.allCases)
        func refused(_ brokenCase: Case) throws {
            let fixture = try RDSIAMFixture.require()
            var keys = fixture.key
            var loginUser = fixture.user
            var tokenUser = fixture.user
            var host = fixture.host
            var date = Date()
            let reason: String
            switch brokenCase {
            case .wrongSignature:
                keys.secret_access_key += "x"
                reason = "wrong signature"
            case .tokenForAnotherUser:
                tokenUser = fixture.late_user
                reason = "wrong user"
            case .userNotInPolicy:
                (loginUser, tokenUser) = (fixture.denied_user, fixture.denied_user)
                reason = "not allowed by the policy"
            case .wrongHost:
                host = "127.0.0.1"
                reason = "wrong host"
            case .expired:
                date -= 16 * 60
                reason = "expired token"
            case .signedInFuture:
                date += 10 * 60
                reason = "signed in the future"
            case .missingSessionToken:
                keys = fixture.session
                keys.session_token = nil
                reason = "missing session token"
            case .unknownKey:
                keys.access_key_id = "AKIAUNKNOWNEXAMPLE01"
                reason = "unknown access key"
            }
            let password = token(fixture, keys: keys, user: tokenUser, host: host, date: date)
            let mark = fixture.logMark()
            let result = try fixture.psql(user: loginUser, password: password, host: host)
            #expect(result.exitCode != 0)
            #expect(result.stderr.contains("PAM authentication failed for user \"\(loginUser)\""), "\(result.stderr)")
            let verdicts = try fixture.verdicts(since: mark)
            #expect(verdicts.count == 1)
            #expect(verdicts.first?.result == "refused")
            #expect(verdicts.first?.reason.contains(reason) == true, "\(verdicts)")
        }

        func token(
            _ fixture: RDSIAMFixture, keys: RDSIAMFixture.Keys, user: String, host: String? = nil, date: Date = Date()
        ) -> String {
            RDSAuthToken.generate(
                host: host ?? fixture.host, port: fixture.port, user: user, region: fixture.region,
                credentials: AWSCredentials(
                    accessKeyId: keys.access_key_id, secretAccessKey: keys.secret_access_key,
                    sessionToken: keys.session_token),
                date: date)
        }
    }
}
