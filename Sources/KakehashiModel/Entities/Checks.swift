/// Text checks shared by the typed models.
enum Checks {
    static func optionalText(_ text: String?, field: String) throws(ModelError) -> String? {
        guard let text else { return nil }
        return try ModelLimits.checkLength(text, field: field)
    }

    static func quantity(_ quantity: Quantity?, canonical: MeasurementUnit, field: String) throws(ModelError) -> Quantity? {
        guard let quantity else { return nil }
        return try quantity.converted(to: canonical, field: field + ".unitCode")
    }

    static func range(_ value: Double, _ range: ClosedRange<Double>, field: String) throws(ModelError) {
        _ = try ModelLimits.checkFinite(value, field: field)
        guard range.contains(value) else {
            throw ModelError(field: field, .outOfRange(value: value, range: "\(range.lowerBound)...\(range.upperBound)"))
        }
    }
}
