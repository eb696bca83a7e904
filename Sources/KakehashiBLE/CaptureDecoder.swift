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
    /// Why a beacon frame it carries could not be read (an Eddystone frame type this decoder
    /// does not know, a frame too short): the advertisement is kept, without a beacon.
    public var beaconProblem: BLEParseError? = nil
}

/// What decoding a sequence of HCI events produced.
public struct DecodedCapture: Sendable {
    /// Every advertising report, in order.
    public var advertisements: [DecodedAdvertisement] = []
    /// HCI events, reports or AD structures that could not be read, with the record index.
    public var problems: [(record: Int, error: BLEParseError)] = []
    /// HCI event packets examined.
    public var events = 0
    /// AD structures of types this decoder does not interpret, by type (kept raw in each
    /// advertisement's `data.other`).
    public var unknownStructures: [UInt8: Int] = [:]
    /// AD structures that could not be read, by type (kept raw in `data.unreadable`; a
    /// structure cut off before its type byte counts under 0).
    public var unreadableStructures: [UInt8: Int] = [:]
    /// Advertisements kept without a beacon because their beacon frame could not be read.
    public var unreadableBeacons = 0
    /// Extended advertisements reassembled from fragments ("more to come").
    public var reassembled = 0
    /// Fragments waiting for the rest of their advertisement, by advertiser and set.
    var fragments: [FragmentKey: AdvertisingReport] = [:]

    /// An advertiser's advertising set.
    struct FragmentKey: Hashable, Sendable {
        let address: BluetoothAddress
        let addressType: UInt8
        let sid: UInt8?
    }

    /// Forgets the counts and the advertisements (kept: fragments waiting for the rest).
    public mutating func clearCounts() {
        advertisements.removeAll(keepingCapacity: true)
        problems.removeAll()
        unknownStructures.removeAll()
        unreadableStructures.removeAll()
        unreadableBeacons = 0
        reassembled = 0
    }

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
            guard let report = reassemble(report, into: &result) else { continue }
            let data = AdvertisingData(keeping: report.data)
            for structure in data.other { result.unknownStructures[structure.type, default: 0] += 1 }
            for structure in data.unreadable { result.unreadableStructures[structure.type ?? 0, default: 0] += 1 }
            var advertisement: DecodedAdvertisement
            do {
                advertisement = DecodedAdvertisement(timestamp: timestamp, report: report, data: data, beacon: try Beacon.decode(data))
            } catch {
                advertisement = DecodedAdvertisement(timestamp: timestamp, report: report, data: data, beacon: nil)
                advertisement.beaconProblem = error
                result.unreadableBeacons += 1
            }
            result.advertisements.append(advertisement)
        }
    }

    /// The most data kept for one extended advertisement (the Core Specification's limit).
    public static let maximumAdvertisingData = 1650

    /// An extended advertisement's fragments ("more to come") are held until the last one
    /// (complete or truncated) and returned as one report with all the data; other reports pass.
    static func reassemble(_ report: AdvertisingReport, into result: inout DecodedCapture) -> AdvertisingReport? {
        guard report.extended && !report.legacy else { return report }
        let key = DecodedCapture.FragmentKey(address: report.address, addressType: report.addressType, sid: report.advertisingSID)
        let held = result.fragments.removeValue(forKey: key)
        let data = (held?.data ?? []) + report.data
        if report.dataStatus == .incompleteMoreToCome && data.count < maximumAdvertisingData {
            // A controller that never sends the last fragment cannot make this grow without end.
            if result.fragments.count >= 256 { result.fragments.removeAll() }
            result.fragments[key] = report.with(data: data, dataStatus: .incompleteMoreToCome)
            return nil
        }
        guard held != nil else { return report }
        result.reassembled += 1
        let status: AdvertisingReport.DataStatus = report.dataStatus == .incompleteMoreToCome ? .incompleteTruncated : report.dataStatus
        return report.with(data: Array(data.prefix(maximumAdvertisingData)), dataStatus: status)
    }
}
