#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Gives back the pages of code that only starting up needed.
///
/// Starting the gateway touches code and tables it never uses again: the dynamic loader reads the
/// executable's relocations and symbol tables (about 3 MB in the static build), and argument
/// parsing, YAML and the registry's loading run once. Linux keeps those pages in the process's
/// resident set until memory runs short, so on a board they count against the gateway for as long
/// as it runs. ``release()`` unmaps the resident pages of every read-only code mapping of a file
/// (`r-xp` in `/proc/self/maps`, nothing written to it, nothing anonymous in it) with
/// `madvise(MADV_DONTNEED)`; the pages the gateway still runs come back from the page cache at
/// their first touch (a minor fault, no disk read while the file stays cached). Nothing a
/// mapping holds is lost: a private file mapping that was never written reads back the file.
///
/// `run` calls it twice: before reading the configuration (the loader's share) and once the
/// gateway is built (configuration, registry, outbox opened).
public enum ExecutablePages {
    /// One code mapping as `/proc/self/smaps` describes it.
    struct Mapping: Equatable {
        var start: UInt
        var end: UInt
        var permissions: Substring
        var path: Substring
        var resident = 0
        var privateDirty = 0
        var anonymous = 0

        /// Read-only code of a file that was never written: safe to drop and read back.
        var releasable: Bool {
            permissions == "r-xp" && path.hasPrefix("/") && privateDirty == 0 && anonymous == 0 && resident > 0
        }
    }

    /// Drops the resident pages of the read-only code mappings; returns the resident kilobytes
    /// they held (0 where `/proc` cannot be read).
    @discardableResult
    public static func release() -> Int {
        guard let text = readSmaps() else { return 0 }
        var released = 0
        for mapping in mappings(inSmaps: text) where mapping.releasable {
            guard let address = UnsafeMutableRawPointer(bitPattern: mapping.start) else { continue }
            if madvise(address, Int(mapping.end - mapping.start), MADV_DONTNEED) == 0 { released += mapping.resident }
        }
        return released
    }

    /// The mappings of an smaps text, with the sizes the decision needs (kB).
    static func mappings(inSmaps text: String) -> [Mapping] {
        var result = [Mapping]()
        for line in text.split(separator: "\n", omittingEmptySubsequences: true) {
            let fields = line.split(separator: " ", omittingEmptySubsequences: true)
            guard let first = fields.first else { continue }
            if first.contains("-"), !first.hasSuffix(":"), fields.count >= 5 {
                let bounds = first.split(separator: "-")
                guard bounds.count == 2, let start = UInt(bounds[0], radix: 16), let end = UInt(bounds[1], radix: 16) else { continue }
                let path = fields.count >= 6 ? line[fields[5].startIndex...] : ""
                result.append(Mapping(start: start, end: end, permissions: fields[1], path: path))
            } else if !result.isEmpty, fields.count >= 2, let value = Int(fields[1]) {
                switch first {
                case "Rss:": result[result.count - 1].resident = value
                case "Private_Dirty:": result[result.count - 1].privateDirty = value
                case "Anonymous:": result[result.count - 1].anonymous = value
                default: break
                }
            }
        }
        return result
    }

    static func readSmaps() -> String? {
        guard let file = fopen("/proc/self/smaps", "r") else { return nil }
        defer { fclose(file) }
        var bytes = [UInt8]()
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let count = fread(&buffer, 1, buffer.count, file)
            if count <= 0 { break }
            bytes.append(contentsOf: buffer[0..<count])
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}
