/// The JSON-LD `@context` URLs, as the NGSI-LD specification and Smart Data Models publish them.
public enum NGSIContext {
    /// The ETSI NGSI-LD core context.
    public static let core = "https://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context.jsonld"
    /// Smart Data Models, dataModel.Environment (WaterObserved, FloodMonitoring).
    public static let environment = "https://raw.githubusercontent.com/smart-data-models/dataModel.Environment/master/context.jsonld"
    /// Smart Data Models, dataModel.Transportation (CrowdFlowObserved).
    public static let transportation = "https://raw.githubusercontent.com/smart-data-models/dataModel.Transportation/master/context.jsonld"
    /// Smart Data Models, dataModel.Device (Device, DeviceMeasurement).
    public static let device = "https://raw.githubusercontent.com/smart-data-models/dataModel.Device/master/context.jsonld"
    /// Smart Data Models, dataModel.Alert (Alert).
    public static let alert = "https://raw.githubusercontent.com/smart-data-models/dataModel.Alert/master/context.jsonld"

    /// The context of a data model: its domain context, then the core context last so that no
    /// domain term can redefine a core one.
    public static func forDomain(_ domain: String) -> [String] { [domain, core] }
}

/// The two NGSI-LD representations of an entity.
public enum NGSIForm: String, Sendable, Hashable, CaseIterable {
    /// Every attribute is an object with `type`, `value`/`object`, `unitCode`, `observedAt`.
    case normalized
    /// Attributes are bare values (`options=keyValues`): compact, but units and times are implied.
    case keyValues
}
