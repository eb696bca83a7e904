/// The one CSV reader (RFC 4180: quoted fields, doubled quotes, commas and line breaks inside
/// quotes, CRLF or LF, an optional UTF-8 BOM), for recorded traces and device registries. Blank
/// lines are skipped; each record keeps the 1-based line it starts on, for error messages.
///
/// ```swift
/// let records = try CSV.records("id,name\n3100000017,\"Chikugo, Kurume\"\n")
/// records[1].fields   // ["3100000017", "Chikugo, Kurume"]
/// ```
public enum CSV {
    /// One record: its fields, and the line it starts on.
    public struct Record: Sendable, Hashable {
        public let line: Int
        public let fields: [String]
    }

    /// A quoted field that is never closed: everything after it would be misread.
    public struct UnclosedQuote: Error, Sendable, Hashable, CustomStringConvertible {
        /// The line the quote opens on.
        public let line: Int
        public init(line: Int) { self.line = line }
        public var description: String { "line \(line): a quoted field is never closed" }
    }

    /// The records of `text`, in order.
    public static func records(_ text: String) throws(UnclosedQuote) -> [Record] {
        var records = [Record]()
        var fields = [String]()
        var field = [UInt8]()
        var inQuotes = false
        var line = 1, recordLine = 1, quoteLine = 0
        var bytes = Array(text.utf8)
        if bytes.starts(with: [0xEF, 0xBB, 0xBF]) { bytes.removeFirst(3) }
        func endField() {
            fields.append(String(decoding: field, as: UTF8.self))
            field.removeAll(keepingCapacity: true)
        }
        func endRecord() {
            endField()
            if !(fields.count == 1 && fields[0].isEmpty) { records.append(Record(line: recordLine, fields: fields)) }
            fields.removeAll(keepingCapacity: true)
        }
        var i = 0
        while i < bytes.count {
            let b = bytes[i]
            if inQuotes {
                if b == UInt8(ascii: "\"") {
                    if i + 1 < bytes.count, bytes[i + 1] == UInt8(ascii: "\"") {
                        field.append(b)
                        i += 1
                    } else {
                        inQuotes = false
                    }
                } else {
                    if b == 0x0A { line += 1 }
                    field.append(b)
                }
            } else {
                switch b {
                case UInt8(ascii: "\""):
                    inQuotes = true
                    quoteLine = line
                case UInt8(ascii: ","):
                    endField()
                case 0x0D:
                    break
                case 0x0A:
                    endRecord()
                    line += 1
                    recordLine = line
                default:
                    field.append(b)
                }
            }
            i += 1
        }
        guard !inQuotes else { throw UnclosedQuote(line: quoteLine) }
        if !field.isEmpty || !fields.isEmpty { endRecord() }
        return records
    }
}
