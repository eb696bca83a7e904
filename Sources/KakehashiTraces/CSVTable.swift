import KakehashiModel

/// A CSV file read into a header and rows (by ``CSV``, RFC 4180), each row with its 1-based line number.
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
        let records: [CSV.Record]
        do { records = try CSV.records(text) } catch {
            throw TraceError(file: file, line: error.line, reason: "a quoted field is never closed")
        }
        guard let first = records.first else { throw TraceError(file: file, line: 0, reason: "the file is empty (no header)") }
        header = first.fields.map { $0.trimmingSpaces }
        var rows = [Row]()
        var malformed = [TraceError]()
        rows.reserveCapacity(records.count)
        for record in records.dropFirst() {
            if record.fields.count == header.count {
                rows.append(Row(line: record.line, fields: record.fields))
            } else {
                malformed.append(
                    TraceError(file: file, line: record.line, reason: "\(record.fields.count) fields where the header has \(header.count)")
                )
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
                throw TraceError(
                    file: file,
                    line: 1,
                    column: column,
                    reason: "missing column; expected the columns \(columns.joined(separator: ", "))"
                )
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
