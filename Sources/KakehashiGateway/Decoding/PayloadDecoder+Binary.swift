import KakehashiModel

extension PayloadDecoder {
    func decodeBinary(_ payload: [UInt8], topicLevels: [String: String], receivedAt: Timestamp) throws(Rejection) -> DecodedReading {
        func number(_ location: Location) throws(Rejection) -> (Double, String) {
            guard case .binary(let field) = location else { throw Rejection(.missingField, "not a binary field") }
            guard let value = field.read(payload) else {
                throw Rejection(.shortPayload, "\(field) needs \(field.offset + field.kind.size) bytes, the payload has \(payload.count)")
            }
            return (value, field.description)
        }
        let sensorID = try sensorID(topicLevels: topicLevels) { (location) throws(Rejection) -> String in
            let (value, field) = try number(location)
            guard value.isFinite, value == value.rounded() else { throw Rejection(.wrongType, "\(field): not an integer sensor id") }
            return String(UInt64(max(0, value)))
        }
        let observedAt: Timestamp
        switch timestamp {
        case .arrival: observedAt = receivedAt
        case .field(let location, let format):
            let (value, field) = try number(location)
            observedAt = try format.timestamp(from: value, field: field)
        }
        var values = [DecodedReading.Value]()
        for spec in self.values {
            let (value, field) = try number(spec.location)
            values.append(try scaled(value, spec, field: field))
        }
        return DecodedReading(sensor: sensorID, observedAt: observedAt, values: values)
    }
}
