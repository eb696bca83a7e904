/// A CSV file (RFC 4180: quoted fields, doubled quotes, CRLF or LF, optional UTF-8 BOM) read into
/// a header and rows, each row with its 1-based line number.
public struct CSVTable: Sendable {
    /// One data row.
    public struct Row: Sendable {
        /// The line the row starts on.
        public let line: Int
        /// The fields, as many as the header has.
        public let fields: [String]
    }

    /// The header's column names.
    public let header: [String]
    /// The data rows (blank lines are skipped).
    public let rows: [Row]
    /// Rows whose field count differs from the header's, as errors.
    public let malformed: [TraceError]

    /// Parses `text`; `file` names the source in errors. An unterminated quote is an error for the
    /// whole file, since everything after it would be misread.
    public init(text: String, file: String) throws(TraceError) {
        var records = [(line: Int, fields: [String])]()
        var fields = [String]()
        var field = [UInt8]()
        var inQuotes = false
        var line = 1
        var recordLine = 1
        var quoteLine = 0
        var bytes = Array(text.utf8)
        if bytes.starts(with: [0xEF, 0xBB, 0xBF]) { bytes.removeFirst(3) }
        var i = 0
        func endField() {
            fields.append(String(decoding: field, as: UTF8.self))
            field.removeAll(keepingCapacity: true)
        }
        func endRecord() {
            endField()
            if !(fields.count == 1 && fields[0].isEmpty) { records.append((recordLine, fields)) }
            fields.removeAll(keepingCapacity: true)
        }
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
        guard !inQuotes else { throw TraceError(file: file, line: quoteLine, reason: "a quoted field is never closed") }
        if !field.isEmpty || !fields.isEmpty { endRecord() }
        guard let first = records.first else { throw TraceError(file: file, line: 0, reason: "the file is empty (no header)") }
        header = first.fields.map { $0.trimmingSpaces }
        var rows = [Row]()
        var malformed = [TraceError]()
        rows.reserveCapacity(records.count)
        for record in records.dropFirst() {
            if record.fields.count == header.count {
                rows.append(Row(line: record.line, fields: record.fields))
            } else {
                malformed.append(TraceError(file: file, line: record.line, reason: "\(record.fields.count) fields where the header has \(header.count)"))
            }
        }
        self.rows = rows
        self.malformed = malformed
    }

    /// The index of each of `columns` in the header; a missing column is an error naming all
    /// the columns expected.
    public func columnIndexes(_ columns: [String], file: String) throws(TraceError) -> [Int] {
        var indexes = [Int]()
        for column in columns {
            guard let index = header.firstIndex(of: column) else {
                throw TraceError(file: file, line: 1, column: column, reason: "missing column; expected the columns \(columns.joined(separator: ", "))")
            }
            indexes.append(index)
        }
        return indexes
    }
}

extension String {
    var trimmingSpaces: String {
        var view = Substring(self)
        while view.first == " " || view.first == "\t" { view.removeFirst() }
        while view.last == " " || view.last == "\t" { view.removeLast() }
        return String(view)
    }
}
