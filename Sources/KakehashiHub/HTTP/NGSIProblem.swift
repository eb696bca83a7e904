import Hummingbird
import KakehashiHubCore
import KakehashiModel

/// An NGSI-LD error, answered as ProblemDetails (RFC 7807) with the NGSI-LD error type URI:
/// `{"type": "https://uri.etsi.org/ngsi-ld/errors/BadRequestData", "title": …, "status": 400, "detail": …}`.
public struct NGSIProblem: Error, HTTPResponseError, Sendable, Hashable {
    /// The NGSI-LD error types the hub answers with.
    public enum Kind: String, Sendable, Hashable, CaseIterable {
        case invalidRequest = "InvalidRequest"
        case badRequestData = "BadRequestData"
        case resourceNotFound = "ResourceNotFound"
        case alreadyExists = "AlreadyExists"
        case nonexistentTenant = "NonexistentTenant"
        case operationNotSupported = "OperationNotSupported"
        case tooManyResults = "TooManyResults"
        case internalError = "InternalError"
        case notAcceptable = "NotAcceptable"
        case unsupportedMediaType = "UnsupportedMediaType"
        case requestEntityTooLarge = "RequestEntityTooLarge"
        case serviceUnavailable = "ServiceUnavailable"
        case ldContextNotAvailable = "LdContextNotAvailable"
        /// No usable API key (not an NGSI-LD error type: the hub's own).
        case unauthorized = "Unauthorized"
        /// The key may not do this, or not for this tenant (the hub's own).
        case forbidden = "Forbidden"
        /// The key's request rate or open feeds are over its limit (the hub's own).
        case tooManyRequests = "TooManyRequests"

        /// The type URI.
        public var uri: String {
            switch self {
            case .unauthorized, .forbidden, .tooManyRequests: "urn:kakehashi:problem:\(rawValue)"
            default: "https://uri.etsi.org/ngsi-ld/errors/\(rawValue)"
            }
        }

        var defaultStatus: HTTPResponse.Status {
            switch self {
            case .invalidRequest, .badRequestData: .badRequest
            case .resourceNotFound, .nonexistentTenant: .notFound
            case .alreadyExists: .conflict
            case .operationNotSupported: .unprocessableContent
            case .tooManyResults: .forbidden
            case .internalError: .internalServerError
            case .notAcceptable: .notAcceptable
            case .unsupportedMediaType: .unsupportedMediaType
            case .requestEntityTooLarge: .contentTooLarge
            case .serviceUnavailable, .ldContextNotAvailable: .serviceUnavailable
            case .unauthorized: .unauthorized
            case .forbidden: .forbidden
            case .tooManyRequests: .tooManyRequests
            }
        }
    }

    /// The error type.
    public let kind: Kind
    /// The HTTP status.
    public let status: HTTPResponse.Status
    /// What went wrong, specifically.
    public let detail: String
    /// Headers sent with it (`WWW-Authenticate`, `Retry-After`).
    public let headers: HTTPFields

    /// Creates a problem with the type's usual status.
    public init(_ kind: Kind, _ detail: String, status: HTTPResponse.Status? = nil, headers: HTTPFields = [:]) {
        self.kind = kind
        self.detail = detail
        self.status = status ?? kind.defaultStatus
        self.headers = headers
    }

    /// A bad parameter.
    init(_ error: QueryError) { self.init(.badRequestData, error.description) }

    /// The ProblemDetails body.
    public var json: JSONValue {
        ["type": .string(kind.uri), "title": .string(kind.rawValue), "status": .number(Double(status.code)), "detail": .string(detail)]
    }

    public func response(from request: Request, context: some RequestContext) throws -> Response {
        var headers = self.headers
        headers[.contentType] = "application/json"
        return Response(status: status, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(bytes: json.serialized())))
    }
}
