import Foundation

/// Paths inside the repository, for tests that read fixtures and traces.
public enum RepositoryPaths {
    /// The repository root (the folder holding Package.swift).
    public static let root: URL = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// `Tests/Fixtures/<relative>`.
    public static func fixture(_ relative: String) -> URL {
        root.appendingPathComponent("Tests/Fixtures").appendingPathComponent(relative)
    }

    /// `simulators/traces/<relative>`.
    public static func trace(_ relative: String) -> URL {
        root.appendingPathComponent("simulators/traces").appendingPathComponent(relative)
    }

    /// The UTF-8 text of a file.
    public static func text(_ url: URL) throws -> String {
        String(decoding: try Data(contentsOf: url), as: UTF8.self)
    }
}
