import Foundation
import KakehashiHubCore
import KakehashiModel

/// The dashboard's files, read into memory when the hub starts: the page, its script and style,
/// and the base map outlines. Nothing is fetched from elsewhere at run time.
///
/// The built-in files are the `site` folder of the hub's resource bundle
/// (`Kakehashi_KakehashiHub.resources`, which is installed beside the `kakehashi-hub` binary);
/// `dashboard.assets` points to a folder that replaces them.
public struct DashboardAssets: Sendable {
    /// One file as served.
    public struct File: Sendable {
        /// Its bytes.
        public var bytes: [UInt8]
        /// Its media type.
        public var contentType: String
        /// A strong validator for `If-None-Match`.
        public var etag: String

        init(bytes: [UInt8], contentType: String) {
            self.bytes = bytes
            self.contentType = contentType
            var hash: UInt64 = 0xcbf2_9ce4_8422_2325
            for byte in bytes { hash = (hash ^ UInt64(byte)) &* 0x100_0000_01b3 }
            etag = "\"\(String(hash, radix: 16))-\(bytes.count)\""
        }
    }

    /// The files by name (`index.html`, `app.js`, …).
    public let files: [String: File]
    /// The base map outlines (GeoJSON), if any.
    public let outlines: File?
    /// Where the files were read from.
    public let directory: String

    /// The name of the resource bundle SwiftPM builds beside the executables.
    static let bundleName = "Kakehashi_KakehashiHub.resources"
    /// The built-in outlines file in the site folder.
    static let builtInOutlines = "japan-prefectures.geojson"
    static let mediaTypes = [
        "html": "text/html; charset=utf-8", "js": "text/javascript; charset=utf-8", "css": "text/css; charset=utf-8",
        "json": "application/json", "geojson": "application/geo+json", "svg": "image/svg+xml", "png": "image/png",
        "ico": "image/x-icon", "txt": "text/plain; charset=utf-8", "LICENSE": "text/plain; charset=utf-8",
        "wav": "audio/wav",
    ]

    /// Reads the files named by `configuration`.
    public init(configuration: DashboardConfiguration) throws(DashboardError) {
        let directory: String
        if let assets = configuration.assets { directory = assets } else { directory = try Self.builtInDirectory() }
        var files = [String: File]()
        let names: [String]
        do { names = try FileManager.default.contentsOfDirectory(atPath: directory) } catch {
            throw DashboardError("cannot list the dashboard folder \(directory): \(error.localizedDescription)")
        }
        for name in names.sorted() where !name.hasPrefix(".") {
            let path = directory + "/" + name
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), !isDirectory.boolValue else { continue }
            guard let type = Self.mediaTypes[String(name.split(separator: ".").last ?? "")] else { continue }
            guard let data = FileManager.default.contents(atPath: path) else { throw DashboardError("cannot read the dashboard file \(path)") }
            files[name] = File(bytes: [UInt8](data), contentType: type)
        }
        guard files["index.html"] != nil else { throw DashboardError("the dashboard folder \(directory) has no index.html") }
        switch configuration.outlines {
        case .none:
            outlines = nil
        case .builtIn:
            let builtIn = try Self.builtInDirectory() + "/" + Self.builtInOutlines
            outlines = try Self.readOutlines(builtIn)
        case .file(let path):
            outlines = try Self.readOutlines(path)
        }
        self.files = files
        self.directory = directory
    }

    /// The built-in site folder: in the resource bundle beside the running executable.
    static func builtInDirectory() throws(DashboardError) -> String {
        let executable = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        let folder = URL(fileURLWithPath: executable).deletingLastPathComponent().path
        let candidates = [
            folder + "/" + bundleName + "/site",
            Bundle.main.bundleURL.appendingPathComponent(bundleName).path + "/site",
            folder + "/../share/kakehashi/" + bundleName + "/site",
        ]
        for candidate in candidates where FileManager.default.fileExists(atPath: candidate + "/index.html") { return candidate }
        throw DashboardError(
            "the dashboard's files are not installed: looked for \(candidates[0]) (copy \(bundleName) from the build folder beside "
                + "kakehashi-hub, set dashboard.assets, or set dashboard.enabled: false)"
        )
    }

    static func readOutlines(_ path: String) throws(DashboardError) -> File {
        guard let data = FileManager.default.contents(atPath: path) else { throw DashboardError("cannot read the map outlines \(path)") }
        guard data.count <= 64 << 20 else { throw DashboardError("the map outlines \(path) are larger than 64 MiB: simplify them") }
        let json: JSONValue
        do { json = try JSONValue(parsing: [UInt8](data)) } catch {
            throw DashboardError("the map outlines \(path) are not JSON: \(error.reason)")
        }
        guard json["type"]?.stringValue == "FeatureCollection", json["features"] != nil else {
            throw DashboardError("the map outlines \(path) are not a GeoJSON FeatureCollection")
        }
        return File(bytes: [UInt8](data), contentType: "application/geo+json")
    }
}

/// The dashboard cannot be served: what is missing and where.
public struct DashboardError: Error, CustomStringConvertible, Sendable {
    /// What went wrong.
    public let description: String

    init(_ description: String) { self.description = description }
}
