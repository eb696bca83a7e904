import Yams

/// Collects issues while a configuration document is read.
final class ConfigReader {
    let file: String
    let environment: [String: String]
    var issues: [ConfigurationIssue] = []

    init(file: String, environment: [String: String]) {
        self.file = file
        self.environment = environment
    }

    func report(_ problem: String, key: String, mark: Mark?) {
        issues.append(ConfigurationIssue(file: file, line: mark?.line, column: mark?.column, key: key, problem: problem))
    }
}

/// A YAML node with its key path, whose typed accessors report problems (with line and key) to
/// the reader and return nil, so that reading goes on and every problem is found.
struct ConfigNode {
    let node: Node
    let path: String
    let reader: ConfigReader

    var mark: Mark? { node.mark }

    func child(_ key: String) -> String { path.isEmpty ? key : "\(path).\(key)" }

    func fail(_ problem: String) { reader.report(problem, key: path, mark: mark) }

    /// The mapping's members, after checking that every key is one of `allowed`.
    func mapping(allowed: [String]) -> [String: ConfigNode]? {
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

    func sequence() -> [ConfigNode]? {
        guard let sequence = node.sequence else {
            fail("expected a list")
            return nil
        }
        return sequence.enumerated().map { ConfigNode(node: $1, path: "\(path)[\($0)]", reader: reader) }
    }

    var string: String? {
        guard case .scalar(let scalar) = node else {
            fail("expected a text value")
            return nil
        }
        return scalar.string
    }

    func int(in range: ClosedRange<Int>) -> Int? {
        guard let text = string else { return nil }
        guard let value = Int(text) else { fail("'\(text)' is not an integer"); return nil }
        guard range.contains(value) else { fail("\(value) is outside \(range.lowerBound)...\(range.upperBound)"); return nil }
        return value
    }

    var double: Double? {
        guard let text = string else { return nil }
        guard let value = Double(text), value.isFinite else { fail("'\(text)' is not a finite number"); return nil }
        return value
    }

    var bool: Bool? {
        guard let text = string else { return nil }
        switch text.lowercased() {
        case "true", "yes", "on": return true
        case "false", "no", "off": return false
        default: fail("'\(text)' is not true or false"); return nil
        }
    }

    /// `250ms`, `10s`, `5m`, `2h`, `7d`, or a bare number of seconds.
    var duration: Duration? {
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
    var byteCount: Int64? {
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
    static func secret(_ members: [String: ConfigNode], _ key: String, reader: ConfigReader, path: String) -> String? {
        if let variable = members["\(key)_env"] {
            guard let name = variable.string else { return nil }
            guard let value = reader.environment[name], !value.isEmpty else {
                variable.fail("the environment variable \(name) is not set")
                return nil
            }
            if members[key] != nil { members[key]?.fail("give \(key) or \(key)_env, not both") }
            return value
        }
        return members[key]?.string
    }

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
}

extension String {
    var replacingSpaces: String { filter { $0 != " " } }
}
