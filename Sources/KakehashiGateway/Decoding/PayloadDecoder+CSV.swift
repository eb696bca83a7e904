import KakehashiModel

extension PayloadDecoder {
    /// One line of delimited cells (a trailing newline is allowed; quoting is not: sensors that
    /// send CSV lines write plain numbers).
    func decodeCSV(_ payload: [UInt8], topicLevels: [String: String], receivedAt: Timestamp) throws(Rejection) -> DecodedReading {
        var text = Substring(try Self.validatedText(payload))
        while text.last == "\n" || text.last == "\r" || text.last == "\r\n" { text.removeLast() }
        guard !text.isEmpty else { throw Rejection(.malformedCSV, "the payload is empty") }
        guard !text.contains(where: { $0.isNewline }) else { throw Rejection(.malformedCSV, "expected one line, found several") }
        let cells = text.split(separator: delimiter, omittingEmptySubsequences: false)

        func cell(_ location: Location) throws(Rejection) -> (Substring, String) {
            guard case .column(let index) = location else { throw Rejection(.missingField, "not a CSV column") }
            guard index < cells.count else {
                throw Rejection(.missingField, "column \(index) is missing (the line has \(cells.count) cells)")
            }
            let value = cells[index].trimmingSpaces
            guard !value.isEmpty else { throw Rejection(.missingField, "column \(index) is empty") }
            return (value, "column \(index)")
        }
        let sensorID = try sensorID(topicLevels: topicLevels) { (location) throws(Rejection) -> String in String(try cell(location).0) }
        let observedAt: Timestamp
        switch timestamp {
        case .arrival: observedAt = receivedAt
        case .field(let location, let format):
            let (value, field) = try cell(location)
            observedAt = try format.timestamp(from: value, field: field)
        }
        var values = [DecodedReading.Value]()
        for spec in self.values {
            if spec.optional, case .column(let index) = spec.location, index >= cells.count || cells[index].trimmingSpaces.isEmpty { continue }
            let (value, field) = try cell(spec.location)
            guard let number = Double(value) else {
                throw Rejection(.wrongType, "\(field): '\(value.prefix(40))' is not a number")
            }
            values.append(try scaled(number, spec, field: field))
        }
        return DecodedReading(sensor: sensorID, observedAt: observedAt, values: values)
    }
}
