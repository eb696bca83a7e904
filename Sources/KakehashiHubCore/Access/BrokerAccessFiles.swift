import Foundation
import KakehashiModel

#if canImport(Glibc)
import Glibc
#endif

/// The central mosquitto's password file and ACL for the hub's gateways: each gateway logs in
/// with its id as user name and may publish only under `kakehashi/v1/<tenant>/<gateway>/#`; the
/// hub's own user reads every batch and publishes alerts and confirmations (`…/ack`, which each
/// gateway may read for itself). `kakehashi-hub gateway add` keeps both
/// files; mosquitto reads them again on SIGHUP (`systemctl reload mosquitto`).
public struct BrokerAccessFiles: Sendable {
    /// The password file (mosquitto's format, written by `mosquitto_passwd`).
    public let passwordFile: String
    /// The ACL file (rewritten whole from the gateway list).
    public let aclFile: String
    /// The hub's user name on the broker.
    public let hubUser: String

    public init(passwordFile: String, aclFile: String, hubUser: String) {
        self.passwordFile = passwordFile
        self.aclFile = aclFile
        self.hubUser = hubUser
    }

    /// The ACL for these gateways.
    public static func acl(gateways: [(tenant: Tenant, gateway: GatewayID)], hubUser: String) -> String {
        var lines = [
            "# The central broker's ACL, written by `kakehashi-hub gateway add`: edits are lost on the next one.",
            "# A gateway publishes only under its own tenant and id and reads the hub's confirmations of its batches;",
            "# the hub reads every batch and publishes alerts and confirmations.",
            "",
            "user \(hubUser)",
            "topic read \(WireTopic.prefix)/#",
            "topic write \(WireTopic.prefix)/+/alerts",
            "topic write \(WireTopic.allAcknowledgements)",
        ]
        for (tenant, gateway) in gateways.sorted(by: { ($0.tenant.name, $0.gateway.rawValue) < ($1.tenant.name, $1.gateway.rawValue) }) {
            lines += [
                "", "user \(gateway.rawValue)", "topic write \(WireTopic.prefix)/\(tenant.name)/\(gateway.rawValue)/#",
                "topic read \(WireAcknowledgement.topic(tenant: tenant, gateway: gateway))",
            ]
        }
        return lines.joined(separator: "\n") + "\n"
    }

    /// A new random broker password (32 hex digits).
    public static func generatePassword() -> String {
        var generator = SystemRandomNumberGenerator()
        return (0..<16).map { _ in String(format: "%02x", UInt8.random(in: 0...255, using: &generator)) }.joined()
    }

    /// Sets `user`'s password in the password file (created if missing) with `mosquitto_passwd`.
    public func setPassword(user: String, password: String) throws(AccessFileError) {
        if !FileManager.default.fileExists(atPath: passwordFile) {
            guard FileManager.default.createFile(atPath: passwordFile, contents: nil, attributes: [.posixPermissions: 0o640]) else {
                throw AccessFileError("cannot create the broker password file \(passwordFile)")
            }
        }
        guard let tool = Self.which("mosquitto_passwd") else {
            throw AccessFileError("mosquitto_passwd is not installed (Debian package mosquitto): it writes the broker's password file")
        }
        let errors = FileManager.default.temporaryDirectory.appendingPathComponent("kakehashi-passwd-\(UUID().uuidString.prefix(8)).err").path
        defer { try? FileManager.default.removeItem(atPath: errors) }
        let status = Self.run(tool, ["-b", passwordFile, user, password], errors: errors)
        guard status == 0 else {
            let text = (try? String(contentsOfFile: errors, encoding: .utf8)) ?? ""
            throw AccessFileError(
                "mosquitto_passwd failed on \(passwordFile) (status \(status)): \(text.trimmingCharacters(in: .whitespacesAndNewlines))"
            )
        }
    }

    /// Runs `tool` to its end with posix_spawn and waitpid (Foundation's `Process` can spin in
    /// `waitUntilExit` when used from concurrency's worker threads); its standard error goes to
    /// `errors`. Returns the exit status, or -1 when it could not start.
    static func run(_ tool: String, _ arguments: [String], errors: String) -> Int32 {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 2, errors, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        let argv = ([tool] + arguments).map { strdup($0) } + [nil]
        defer { for pointer in argv { free(pointer) } }
        var child = pid_t()
        guard posix_spawn(&child, tool, &actions, nil, argv, environ) == 0 else { return -1 }
        var status: Int32 = 0
        while waitpid(child, &status, 0) == -1 && errno == EINTR {}
        // WIFEXITED / WEXITSTATUS
        return (status & 0x7f) == 0 ? (status >> 8) & 0xff : -1
    }

    /// Removes `user` from the password file (`mosquitto_passwd -D`).
    public func removeUser(_ user: String) throws(AccessFileError) {
        guard FileManager.default.fileExists(atPath: passwordFile) else { return }
        guard let tool = Self.which("mosquitto_passwd") else {
            throw AccessFileError("mosquitto_passwd is not installed (Debian package mosquitto): it writes the broker's password file")
        }
        let errors = FileManager.default.temporaryDirectory.appendingPathComponent("kakehashi-passwd-\(UUID().uuidString.prefix(8)).err").path
        defer { try? FileManager.default.removeItem(atPath: errors) }
        let status = Self.run(tool, ["-D", passwordFile, user], errors: errors)
        guard status == 0 else {
            let text = (try? String(contentsOfFile: errors, encoding: .utf8)) ?? ""
            throw AccessFileError(
                "mosquitto_passwd -D failed on \(passwordFile) (status \(status)): \(text.trimmingCharacters(in: .whitespacesAndNewlines))"
            )
        }
    }

    /// Rewrites the ACL file for `gateways`.
    public func writeACL(gateways: [(tenant: Tenant, gateway: GatewayID)]) throws(AccessFileError) {
        do {
            try Self.acl(gateways: gateways, hubUser: hubUser).write(toFile: aclFile, atomically: true, encoding: .utf8)
        } catch {
            throw AccessFileError("cannot write the broker ACL \(aclFile): \(error.localizedDescription)")
        }
    }

    static func which(_ program: String) -> String? {
        let paths = (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin") + ":/usr/sbin:/sbin"
        for directory in paths.split(separator: ":") {
            let candidate = "\(directory)/\(program)"
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        }
        return nil
    }
}

/// A broker file could not be written, with the reason.
public struct AccessFileError: Error, CustomStringConvertible {
    public let description: String
    init(_ description: String) { self.description = description }
}
