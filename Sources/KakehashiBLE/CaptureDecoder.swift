import KakehashiModel

/// One advertising report decoded from a capture or a live scan.
public struct DecodedAdvertisement: Sendable, Hashable {
    /// When it was received.
    public let timestamp: Timestamp
    /// The report as the controller gave it.
    public let report: AdvertisingReport
    /// Its AD structures.
    public let data: AdvertisingData
    /// The beacon it carries, if any.
    public let beacon: Beacon?
}

/// What decoding a sequence of HCI events produced.
public struct DecodedCapture: Sendable {
    /// Every advertising report, in order.
    public var advertisements: [DecodedAdvertisement] = []
    /// HCI events, reports or AD structures that could not be read, with the record index.
    public var problems: [(record: Int, error: BLEParseError)] = []
    /// HCI event packets examined.
    public var events = 0

    /// An empty result, to decode events into.
    public init() {}
}

/// Decodes the advertising reports of HCI event packets (from a btsnoop capture or a scanner).
public enum CaptureDecoder {
    /// Decodes every received HCI event of `capture`.
    public static func decode(_ capture: BTSnoopReader) -> DecodedCapture {
        var result = DecodedCapture()
        for (index, problem) in capture.problems.enumerated() { result.problems.append((capture.records.count + index, problem)) }
        for record in capture.records where record.type == .event {
            decode(event: record.packet, at: record.timestamp, record: record.index, into: &result)
        }
        return result
    }

    /// Decodes one HCI event packet (starting at the event code) received at `timestamp`.
    public static func decode(event packet: [UInt8], at timestamp: Timestamp, record: Int, into result: inout DecodedCapture) {
        result.events += 1
        let reports: [AdvertisingReport]
        do {
            reports = try HCIEventParser.advertisingReports(inEvent: packet)
        } catch {
            result.problems.append((record, error))
            return
        }
        for report in reports {
            do {
                let data = try AdvertisingData(parsing: report.data)
                let beacon = try Beacon.decode(data)
                result.advertisements.append(DecodedAdvertisement(timestamp: timestamp, report: report, data: data, beacon: beacon))
            } catch {
                result.problems.append((record, error))
            }
        }
    }
}
