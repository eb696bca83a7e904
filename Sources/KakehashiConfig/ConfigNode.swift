import Foundation
import KakehashiModel
import Yams

/// Whether secrets named by `*_env` keys must be set while a configuration is read.
public enum SecretPolicy: Sendable {
    /// An unset variable is a problem (`run`: the secret is needed now).
    case required
    /// An unset variable is a warning and a placeholder stands in (checking a configuration
    /// before its secrets are set; commands that only read, such as listing dead letters).
    case deferred
}

/// Collects issues while a configuration document is read.
public final class ConfigReader {
    /// The file being read, as named in issues.
    public let file: String
    /// Where `*_env` keys find their values.
    public let environment: [String: String]
    /// Whether unset secrets are problems or warnings.
    public let secrets: SecretPolicy
    /// Every problem found so far.
    public private(set) var issues: [ConfigurationIssue] = []
    /// What is not a problem for this reading but will be for `run` (unset secrets).
    public private(set) var warnings: [ConfigurationIssue] = []

    /// Creates a reader for `file`.
    public init(file: String, environment: [String: String], secrets: SecretPolicy = .required) {
        self.file = file
        self.environment = environment
        self.secrets = secrets
    }

    /// Records a warning at `key`.
    public func warn(_ problem: String, key: String, mark: Mark?) {
        warnings.append(ConfigurationIssue(file: file, line: mark?.line, column: mark?.column, key: key, problem: problem))
    }

    /// Records problems found by another reader (an included file).
    public func report(contentsOf more: [ConfigurationIssue]) { issues.append(contentsOf: more) }

    /// Records a problem at `key` (and the node's line, when known).
    public func report(_ problem: String, key: String, mark: Mark?) {
        issues.append(ConfigurationIssue(file: file, line: mark?.line, column: mark?.column, key: key, problem: problem))
    }
}

/// A YAML node with its key path, whose typed accessors report problems (with line and key) to
/// the reader and return nil, so that reading goes on and every problem is found.
///
/// ```swift
/// guard let m = root.mapping(allowed: ["port", "storage"]) else { return nil }
/// let port = m["port"]?.int(in: 1...65535) ?? 8080
/// ```
public struct ConfigNode {
    /// The YAML node.
    public let node: Node
    /// The key path, e.g. `storage.retention[0].raw`.
    public let path: String
    /// The reader that collects problems.
    public let reader: ConfigReader

    /// Creates a cursor on `node`.
    public init(node: Node, path: String, reader: ConfigReader) {
        self.node = node
        self.path = path
        self.reader = reader
    }

    /// Where the node starts in the file.
    public var mark: Mark? { node.mark }

    /// The key path of a member.
    public func child(_ key: String) -> String { path.isEmpty ? key : "\(path).\(key)" }

    /// Records a problem with this node.
    public func fail(_ problem: String) { reader.report(problem, key: path, mark: mark) }

    /// The mapping's members, after checking that every key is one of `allowed`.
    public func mapping(allowed: [String]) -> [String: ConfigNode]? {
        guard let mapping = node.mapping else {
            fail("expected a mapping of keys (\(allowed.joined(separator: ", ")))")
            return nil
        }
        var members = [String: ConfigNode]()
        for (key, value) in mapping {
            guard let name = key.string else {
                reader.report("keys must be plain text", key: path, mark: key.mark)
                continue
            }
            guard allowed.contains(name) else {
                let nearest = allowed.min { Self.distance($0, name) < Self.distance($1, name) }
                let hint = nearest.flatMap { Self.distance($0, name) <= 3 ? " (did you mean '\($0)'?)" : nil } ?? ""
                reader.report("unknown key '\(name)'\(hint); known keys: \(allowed.joined(separator: ", "))", key: child(name), mark: key.mark)
                continue
            }
            members[name] = ConfigNode(node: value, path: child(name), reader: reader)
        }
        return members
    }

    /// The mapping's members when any key is allowed (a table keyed by names).
    public func table() -> [(key: String, node: ConfigNode)]? {
        guard let mapping = node.mapping else {
            fail("expected a mapping")
            return nil
        }
        var members = [(key: String, node: ConfigNode)]()
        for (key, value) in mapping {
            guard let name = key.string else {
                reader.report("keys must be plain text", key: path, mark: key.mark)
                continue
            }
            members.append((name, ConfigNode(node: value, path: child(name), reader: reader)))
        }
        return members
    }

    /// The elements of a list.
    public func sequence() -> [ConfigNode]? {
        guard let sequence = node.sequence else {
            fail("expected a list")
            return nil
        }
        return sequence.enumerated().map { ConfigNode(node: $1, path: "\(path)[\($0)]", reader: reader) }
    }

    /// The text of a scalar.
    public var string: String? {
        guard case .scalar(let scalar) = node else {
            fail("expected a text value")
            return nil
        }
        return scalar.string
    }

    /// An integer within `range`.
    public func int(in range: ClosedRange<Int>) -> Int? {
        guard let text = string else { return nil }
        guard let value = Int(text) else { fail("'\(text)' is not an integer"); return nil }
        guard range.contains(value) else { fail("\(value) is outside \(range.lowerBound)...\(range.upperBound)"); return nil }
        return value
    }

    /// A finite number.
    public var double: Double? {
        guard let text = string else { return nil }
        guard let value = Double(text), value.isFinite else { fail("'\(text)' is not a finite number"); return nil }
        return value
    }

    /// `true`/`false` (also yes/no, on/off).
    public var bool: Bool? {
        guard let text = string else { return nil }
        switch text.lowercased() {
        case "true", "yes", "on": return true
        case "false", "no", "off": return false
        default: fail("'\(text)' is not true or false"); return nil
        }
    }

    /// `250ms`, `10s`, `5m`, `2h`, `7d`, or a bare number of seconds.
    public var duration: Duration? {
        guard let text = string else { return nil }
        let units: [(String, Double)] = [("ms", 0.001), ("s", 1), ("m", 60), ("h", 3600), ("d", 86400)]
        for (suffix, seconds) in units where text.hasSuffix(suffix) {
            if let number = Double(text.dropLast(suffix.count)), number >= 0, number.isFinite {
                return .milliseconds(Int64((number * seconds * 1000).rounded()))
            }
        }
        if let number = Double(text), number >= 0, number.isFinite { return .milliseconds(Int64((number * 1000).rounded())) }
        fail("'\(text)' is not a duration like 250ms, 10s, 5m or 2h")
        return nil
    }

    /// `512KiB`, `256MiB`, `1GiB`, `10MB`, or a bare number of bytes.
    public var byteCount: Int64? {
        guard let text = string?.replacingSpaces else { return nil }
        let units: [(String, Double)] = [
            ("KiB", 1024), ("MiB", 1_048_576), ("GiB", 1_073_741_824), ("KB", 1000), ("MB", 1e6), ("GB", 1e9), ("B", 1),
        ]
        for (suffix, factor) in units where text.hasSuffix(suffix) {
            if let number = Double(text.dropLast(suffix.count)), number >= 0, number.isFinite { return Int64(number * factor) }
        }
        if let number = Int64(text), number >= 0 { return number }
        fail("'\(text)' is not a size like 64MiB or 1GiB")
        return nil
    }

    /// A secret, given inline (`key`) or by environment variable (`key_env`).
    public static func secret(_ members: [String: ConfigNode], _ key: String, reader: ConfigReader, path: String) -> String? {
        if let variable = members["\(key)_env"] {
            guard let name = variable.string else { return nil }
            guard let value = reader.environment[name], !value.isEmpty else {
                switch reader.secrets {
                case .required:
                    variable.fail("the environment variable \(name) is not set")
                    return nil
                case .deferred:
                    reader.warn("the environment variable \(name) is not set (needed to run)", key: variable.path, mark: variable.mark)
                    return "unset \(name): a placeholder that is never used"
                }
            }
            if members[key] != nil { members[key]?.fail("give \(key) or \(key)_env, not both") }
            return value
        }
        return members[key]?.string
    }

    /// Reports a problem unless `path` (as resolved) is a file this process can read.
    public func checkReadableFile(_ path: String, what: String) {
        var isDirectory: ObjCBool = false
        if !FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) {
            fail("\(what) \(path) does not exist")
        } else if isDirectory.boolValue {
            fail("\(what) \(path) is a directory")
        } else if !FileManager.default.isReadableFile(atPath: path) {
            fail("\(what) \(path) cannot be read by this user")
        }
    }

    /// Reports a problem unless the file at `path` can be created or written: its directory
    /// exists and is writable (and the file, when it exists, too).
    public func checkWritableFile(_ path: String, what: String) {
        let directory = (path as NSString).deletingLastPathComponent.isEmpty ? "." : (path as NSString).deletingLastPathComponent
        var isDirectory: ObjCBool = false
        if !FileManager.default.fileExists(atPath: directory, isDirectory: &isDirectory) || !isDirectory.boolValue {
            fail("the directory of \(what) \(path) does not exist (create \(directory))")
        } else if FileManager.default.fileExists(atPath: path) {
            if !FileManager.default.isWritableFile(atPath: path) { fail("\(what) \(path) cannot be written by this user") }
        } else if !FileManager.default.isWritableFile(atPath: directory) {
            fail("\(what) \(path) cannot be created: \(directory) is not writable by this user")
        }
    }

    /// Edit distance, for "did you mean" hints.
    static func distance(_ a: String, _ b: String) -> Int {
        let a = Array(a), b = Array(b)
        var row = Array(0...b.count)
        for i in 1...max(a.count, 1) where !a.isEmpty {
            var previous = row[0]
            row[0] = i
            for j in 1...max(b.count, 1) where !b.isEmpty {
                let current = row[j]
                row[j] = min(row[j] + 1, row[j - 1] + 1, previous + (a[i - 1] == b[j - 1] ? 0 : 1))
                previous = current
            }
        }
        return row[b.count]
    }

    /// The member `key`, or a "is required" problem when it is absent.
    public func required(_ members: [String: ConfigNode], _ key: String) -> ConfigNode? {
        guard let node = members[key] else {
            reader.report("is required", key: child(key), mark: mark)
            return nil
        }
        return node
    }

    /// A value of the model (a tenant, an entity id…) built from this node's text; the model's
    /// own error becomes the problem.
    public func model<T>(_ make: (String) throws(ModelError) -> T) -> T? {
        guard let text = string else { return nil }
        do {
            return try make(text)
        } catch {
            var text = error.description
            if text.hasPrefix("\(error.field): ") { text.removeFirst(error.field.count + 2) }
            fail(text)
            return nil
        }
    }
}

extension String {
    var replacingSpaces: String { filter { $0 != " " } }
}
