import KakehashiModel

extension PayloadDecoder {
    func decodeJSON(_ payload: [UInt8], topicLevels: [String: String], receivedAt: Timestamp) throws(Rejection) -> DecodedReading {
        _ = try Self.validatedText(payload)
        let document: JSONValue
        do {
            document = try JSONValue(parsing: payload)
        } catch {
            if case .notFinite = error.reason { throw Rejection(.notFinite, error.description) }
            throw Rejection(.malformedJSON, error.description)
        }
        guard case .object = document else { throw Rejection(.wrongType, "expected a JSON object, found \(document.typeName)") }

        func lookup(_ location: Location) throws(Rejection) -> (JSONValue, String) {
            guard case .json(let path) = location else { throw Rejection(.missingField, "not a JSON field") }
            guard let value = path.value(in: document), value != .null else {
                throw Rejection(.missingField, "field '\(path)' is missing")
            }
            return (value, path.description)
        }
        let sensorID = try sensorID(topicLevels: topicLevels) { (location) throws(Rejection) -> String in
            let (value, field) = try lookup(location)
            switch value {
            case .string(let text): return text
            case .number(let number) where number == number.rounded() && abs(number) < 1e15: return String(Int64(number))
            default: throw Rejection(.wrongType, "\(field): expected a text or integer sensor id, found \(value.typeName)")
            }
        }
        let observedAt: Timestamp
        switch timestamp {
        case .arrival: observedAt = receivedAt
        case .field(let location, let format):
            let (value, field) = try lookup(location)
            observedAt = try format.timestamp(from: value, field: field)
        }
        var values = [DecodedReading.Value]()
        values.reserveCapacity(self.values.count)
        for spec in self.values {
            if spec.optional, case .json(let path) = spec.location, (path.value(in: document) ?? .null) == .null { continue }
            let (value, field) = try lookup(spec.location)
            guard case .number(let number) = value else {
                throw Rejection(.wrongType, "\(field): expected a number, found \(value.typeName)")
            }
            values.append(try scaled(number, spec, field: field))
        }
        return DecodedReading(sensor: sensorID, observedAt: observedAt, values: values)
    }
}
