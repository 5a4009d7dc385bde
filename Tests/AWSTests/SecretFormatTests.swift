import Foundation
import StructuredLogging
import Testing

@testable import AWS

@Suite("Secret formats")
struct SecretFormatTests {
    @Test(
        "accepted shapes",
        arguments: [
            (
                #"{"DATABASE_URL":"postgres://app:pw@db:5432/app"}"#, "DATABASE_URL", "postgres://app:pw@db:5432/app",
                "json-key"
            ),
            (#"{"OTHER":"x","MY_URL":"postgresql://a:b@h/d"}"#, "MY_URL", "postgresql://a:b@h/d", "json-key"),
            (
                "postgres://app:pw@db.internal:5432/app?sslmode=require", "DATABASE_URL",
                "postgres://app:pw@db.internal:5432/app?sslmode=require", "url"
            ),
            ("  postgresql://u@h/d\n", "DATABASE_URL", "postgresql://u@h/d", "url"),
            (
                #"{"engine":"postgres","host":"db.example.internal","port":5432,"username":"app","password":"pw","dbname":"bcos"}"#,
                "DATABASE_URL", "postgresql://app:pw@db.example.internal:5432/bcos", "rds"
            ),
            (
                #"{"engine":"aurora-postgresql","host":"h","port":"6543","username":"u","password":"p","dbname":"d"}"#,
                "DATABASE_URL", "postgresql://u:p@h:6543/d", "rds"
            ),
            (#"{"host":"h","username":"u","password":"p"}"#, "DATABASE_URL", "postgresql://u:p@h:5432/postgres", "rds"),
            (
                #"{"host":"h","port":5432,"username":"us er@x","password":"p@ss:w/rd?#%&=+ ü","dbname":"my db/x"}"#,
                "DATABASE_URL",
                "postgresql://us%20er%40x:p%40ss%3Aw%2Frd%3F%23%25%26%3D%2B%20%C3%BC@h:5432/my%20db%2Fx", "rds"
            ),
            (
                #"{"host":"::1","port":5432,"username":"u","password":"p","dbname":"d"}"#,
                "DATABASE_URL", "postgresql://u:p@[::1]:5432/d", "rds"
            ),
        ])
    func accepted(secret: String, key: String, url: String, shape: String) throws {
        let result = try SecretFormat.databaseURL(secretString: secret, key: key)
        #expect(result.url == url)
        #expect(result.shape.rawValue == shape)
    }

    @Test(
        "rejected shapes name keys, never values",
        arguments: [
            (#"{"user":"u-SECRETVALUE","pass":"p-SECRETVALUE"}"#, "\"pass\", \"user\""),
            (#"{"DATABASE_URL":12345}"#, "holds a number"),
            (#"{"DATABASE_URL":""}"#, "holds a string"),
            ("mysql://u:SECRETVALUE@h/d", "neither JSON nor"),
            ("just-a-SECRETVALUE-string", "neither JSON nor"),
            (#"["SECRETVALUE"]"#, "JSON array"),
            (#"{"host":"h","username":"u","password":"SECRETVALUE","engine":"mysql"}"#, "engine is not postgres"),
            (#"{"host":"h","username":"u"}"#, "no password; keys found: \"host\", \"username\""),
            (#"{"host":"h","username":"u","password":"SECRETVALUE","port":"http"}"#, "port is not a port number"),
            (#"{"host":"h","username":"u","password":"SECRETVALUE","port":70000}"#, "port is not a port number"),
            (#"{"host":"h","username":"u","password":"SECRETVALUE","port":5432.5}"#, "port is not a port number"),
        ])
    func rejected(secret: String, expectedFragment: String) throws {
        let error = try #require(awsError { try SecretFormat.databaseURL(secretString: secret, key: "DATABASE_URL") })
        #expect(error.code == .secretFormat)
        #expect(error.description.contains(expectedFragment), "\(error.description)")
        #expect(!error.description.contains("SECRETVALUE"))
        #expect(!error.description.contains("\n"))
    }

    @Test("the secret and the password inside it are registered for redaction")
    func registersSecrets() throws {
        let secret = #"{"host":"h","username":"u","password":"pw-registered-1234","dbname":"d"}"#
        _ = try SecretFormat.databaseURL(secretString: secret, key: "DATABASE_URL")
        #expect(!Redaction.shared.scrub("x pw-registered-1234 y").contains("pw-registered-1234"))
        #expect(!Redaction.shared.scrub(secret).contains("pw-registered"))

        _ = try SecretFormat.databaseURL(secretString: "postgres://u:url%40pass-5678@h/d", key: "DATABASE_URL")
        #expect(Redaction.shared.scrub("url%40pass-5678") == "***")
        #expect(Redaction.shared.scrub("url@pass-5678") == "***")
    }
}
