/// MQTT 5 properties of a published message that Kakehashi reads or sets.
public struct MQTTMessageProperties: Sendable, Hashable {
    /// Content type, e.g. `application/json`.
    public var contentType: String?
    /// Whether the payload is UTF-8 text (payload format indicator 1).
    public var payloadIsUTF8: Bool?
    /// Seconds after which the broker discards an undelivered message.
    public var messageExpiryInterval: UInt32?
    /// Response topic of a request.
    public var responseTopic: String?
    /// Correlation data of a request.
    public var correlationData: [UInt8]?
    /// User properties, in order.
    public var userProperties: [(name: String, value: String)]

    /// Creates properties.
    public init(
        contentType: String? = nil,
        payloadIsUTF8: Bool? = nil,
        messageExpiryInterval: UInt32? = nil,
        responseTopic: String? = nil,
        correlationData: [UInt8]? = nil,
        userProperties: [(name: String, value: String)] = []
    ) {
        self.contentType = contentType
        self.payloadIsUTF8 = payloadIsUTF8
        self.messageExpiryInterval = messageExpiryInterval
        self.responseTopic = responseTopic
        self.correlationData = correlationData
        self.userProperties = userProperties
    }

    /// Whether no property is set.
    public var isEmpty: Bool {
        contentType == nil && payloadIsUTF8 == nil && messageExpiryInterval == nil && responseTopic == nil
            && correlationData == nil && userProperties.isEmpty
    }

    public static func == (lhs: MQTTMessageProperties, rhs: MQTTMessageProperties) -> Bool {
        lhs.contentType == rhs.contentType && lhs.payloadIsUTF8 == rhs.payloadIsUTF8
            && lhs.messageExpiryInterval == rhs.messageExpiryInterval && lhs.responseTopic == rhs.responseTopic
            && lhs.correlationData == rhs.correlationData
            && lhs.userProperties.map(\.name) == rhs.userProperties.map(\.name)
            && lhs.userProperties.map(\.value) == rhs.userProperties.map(\.value)
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(contentType)
        hasher.combine(responseTopic)
        hasher.combine(userProperties.count)
    }
}

/// A message received on a subscription.
public struct MQTTMessage: Sendable, Hashable {
    /// The topic it was published on.
    public let topic: String
    /// The payload bytes (possibly empty).
    public let payload: [UInt8]
    /// The QoS it was delivered with.
    public let qos: MQTTQoS
    /// Whether it is a retained message sent on subscribing.
    public let retain: Bool
    /// MQTT 5 properties, when the broker sent any.
    public let properties: MQTTMessageProperties?

    /// Creates a message.
    public init(topic: String, payload: [UInt8], qos: MQTTQoS, retain: Bool, properties: MQTTMessageProperties? = nil) {
        self.topic = topic
        self.payload = payload
        self.qos = qos
        self.retain = retain
        self.properties = properties
    }
}
