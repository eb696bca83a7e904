/// Multi-attributes (NGSI-LD 4.5.5): an attribute may have several instances, each with its own
/// `datasetId` (a URI), and at most one without (the default instance). Each instance is kept in
/// ``NGSIEntity/attributes`` under its own name, `<attribute>\u{1F}<datasetId>` (the default one
/// under the attribute's name), so each has its own time series; ``NGSIEntity/json(_:)`` shows
/// an attribute with several instances as an array of them, each with its `datasetId`.
extension NGSIEntity {
    /// Between an attribute's name and a datasetId in the name an instance is kept under.
    public static let datasetSeparator: Character = "\u{1F}"

    /// The name an instance of `attribute` with `datasetId` is kept under.
    public static func keptName(_ attribute: String, datasetId: String?) -> String {
        datasetId.map { attribute + String(datasetSeparator) + $0 } ?? attribute
    }

    /// The attribute name and datasetId of a kept name.
    public static func splitName(_ kept: String) -> (attribute: String, datasetId: String?) {
        // By bytes (the separator is U+001F, one byte): names are split at every change.
        let utf8 = kept.utf8
        guard let separator = utf8.firstIndex(of: 0x1F) else { return (kept, nil) }
        return (String(kept[..<separator]), String(kept[utf8.index(after: separator)...]))
    }

    /// The kept names of every instance of `attribute`.
    public func instanceNames(of attribute: String) -> [String] {
        attributes.keys.filter { Self.splitName($0).attribute == attribute }.sorted()
    }

    /// Whether any instance of `attribute` is there.
    public func hasAttribute(_ attribute: String) -> Bool {
        attributes[attribute] != nil || attributes.keys.contains { Self.splitName($0).attribute == attribute }
    }

    /// One attribute's normalized JSON (without `datasetId`).
    public static func normalizedJSON(_ attribute: NGSIAttribute) -> JSONValue { normalized(attribute) }

    /// The instance `value` (an attribute object) names by its `datasetId` member, checked.
    public static func datasetId(of value: JSONValue, field: String) throws(ModelError) -> String? {
        guard case .object(let members) = value, let given = members["datasetId"] else { return nil }
        guard case .string(let text) = given else { throw ModelError(field: field + ".datasetId", .wrongType(expected: "a URI string")) }
        try EntityID.checkURI(text, field: field + ".datasetId")
        return text
    }

    /// Decodes one attribute member of an entity: one instance, or an array of them (each with
    /// its own datasetId, at most one without), into `attributes` under their kept names.
    static func decodeInstances(_ value: JSONValue, name: String, into attributes: inout [String: NGSIAttribute]) throws(ModelError) {
        let (attribute, keptDataset) = splitName(name)
        guard case .array(let instances) = value, keptDataset == nil else {
            let dataset = try datasetId(of: value, field: name)
            if keptDataset != nil && dataset != nil && dataset != keptDataset {
                throw ModelError(field: name + ".datasetId", .invalid("does not match the datasetId of the name"))
            }
            attributes[keptName(attribute, datasetId: keptDataset ?? dataset)] = try decodeNormalized(value, name: name)
            return
        }
        guard !instances.isEmpty else {
            throw ModelError(field: name, .wrongType(expected: "an attribute object, or an array of its instances (not an empty array)"))
        }
        guard instances.count <= 64 else { throw ModelError(field: name, .invalid("more than 64 instances")) }
        var seen = Set<String?>()
        for (index, instance) in instances.enumerated() {
            let field = "\(name)[\(index)]"
            let dataset = try datasetId(of: instance, field: field)
            guard seen.insert(dataset).inserted else {
                throw ModelError(
                    field: field + ".datasetId",
                    .invalid(dataset.map { "datasetId \($0) is given twice" } ?? "two instances without a datasetId (one is the default)")
                )
            }
            attributes[keptName(attribute, datasetId: dataset)] = try decodeNormalized(instance, name: field)
        }
    }

    /// `members` with the instances of each multi-attribute gathered under its name: an array of
    /// `render`ed instances, each with its `datasetId` (the default one first).
    static func gatheringInstances(
        _ members: inout [String: JSONValue],
        attributes: [String: NGSIAttribute],
        markingDatasets: Bool = true,
        render: (NGSIAttribute) -> JSONValue
    ) {
        var instances = [String: [(datasetId: String?, attribute: NGSIAttribute)]]()
        for (name, attribute) in attributes where name.contains(datasetSeparator) {
            let (base, dataset) = splitName(name)
            instances[base, default: []].append((dataset, attribute))
            members[name] = nil
        }
        for (base, list) in instances {
            var all = list.sorted { ($0.datasetId ?? "") < ($1.datasetId ?? "") }
            if let plain = attributes[base] { all.insert((nil, plain), at: 0) }
            members[base] = .array(
                all.map { instance in
                    let shown = render(instance.attribute)
                    guard markingDatasets, case .object(var fields) = shown else { return shown }
                    if let dataset = instance.datasetId { fields["datasetId"] = .string(dataset) }
                    return .object(fields)
                }
            )
        }
    }
}
