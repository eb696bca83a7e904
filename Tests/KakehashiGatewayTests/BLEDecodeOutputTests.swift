import Foundation
import KakehashiTestSupport
import Testing

@testable import KakehashiBLE
@testable import KakehashiGateway
@testable import KakehashiModel

/// What `kakehashi-gateway ble decode` prints, built by the same functions it calls.
struct BLEDecodeOutputTests {
    static func lines(_ name: String, secret: String? = nil) throws -> [JSONValue] {
        let capture = try BTSnoopReader(bytes: Array(try Data(contentsOf: RepositoryPaths.trace("ble/\(name)"))))
        let pseudonymizer = secret.map { Pseudonymizer(secret: Array($0.utf8)) }
        return try CaptureDecoder.decode(capture).advertisements.map {
            try JSONValue(parsing: AdvertisementJSON.object($0, pseudonymizer: pseudonymizer).serialized())
        }
    }

    @Test func countsAgreeWithTheCaptureTests() throws {
        let horizon = try Self.lines("horizon-74.btsnoop")
        #expect(horizon.count == 412)
        #expect(horizon.filter { $0["beacon"]?["kind"] == "ibeacon" }.count == 11)
        let yeelock = try Self.lines("yeelock.btsnoop")
        #expect(yeelock.count == 26)
        #expect(yeelock.filter { $0["beacon"]?["kind"] == "ibeacon" }.count == 6)
    }

    @Test func plainOutputCarriesTheCapturedIdentity() throws {
        let tag = try #require(try Self.lines("yeelock.btsnoop").first { $0["beacon"] != nil })
        #expect(tag["address"] == "3E:B9:52:70:E9:2E")
        #expect(tag["rssi"] == -74)
        #expect(tag["extended"] == false)
        #expect(tag["time"] == "2019-03-10T13:12:25.722Z")
        #expect(tag["beacon"] == ["kind": "ibeacon", "uuid": "fda50693-a4e2-4fb1-afcf-c6eb07647825", "major": 5, "minor": 6, "txPower": -80])
    }

    @Test func pseudonymsHideIdentitiesStablyPerSecret() throws {
        let a = try Self.lines("yeelock.btsnoop", secret: "kurume-2026-secret")
        let b = try Self.lines("yeelock.btsnoop", secret: "another-city-secret")
        let tag = try #require(a.first { $0["beacon"] != nil })
        let address = try #require(tag["address"]?.stringValue)
        #expect(address.count == 16 && address.allSatisfy(\.isHexDigit))
        #expect(tag["beacon"]?["uuid"] == nil && tag["beacon"]?["major"] == nil, "no raw beacon identity")
        #expect(tag["beacon"]?["id"]?.stringValue?.count == 16)
        // The same device keeps its pseudonym within a secret; another secret gives another.
        let raw = try Self.lines("yeelock.btsnoop")
        let sameDevice = zip(raw, a).filter { $0.0["address"] == "3E:B9:52:70:E9:2E" }.map { $0.1["address"] }
        #expect(Set(sameDevice.compactMap { $0 }).count == 1)
        #expect(a.map { $0["address"] } != b.map { $0["address"] })
        #expect(Set(a.compactMap { $0["address"]?.stringValue }).count == Set(raw.compactMap { $0["address"]?.stringValue }).count)
        // Nothing of the raw address survives in the pseudonymized text.
        let text = a.map(\.jsonText).joined()
        #expect(!text.contains("3E:B9:52:70:E9:2E") && !text.contains("fda50693"))
    }
}
