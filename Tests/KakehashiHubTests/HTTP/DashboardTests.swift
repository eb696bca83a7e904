import Foundation
import HTTPTypes
import KakehashiConfig
import KakehashiHub
import KakehashiHubCore
import KakehashiHubSQLite
import KakehashiHubTestSupport
import KakehashiModel
import KakehashiTestSupport
import Testing

/// The map dashboard as the hub serves it: the page and its files from the hub alone, under a
/// policy that keeps the browser on this hub; the session the page starts from; the base map; and
/// the `dashboard` configuration section. (The page itself is exercised in a real browser by
/// `deploy/dashboard/test_dashboard.py`, run by `deploy/demo --check`.)
@Suite("Dashboard")
struct DashboardTests {
    static func configuration(_ dashboard: String = "") throws -> HubConfiguration {
        let yaml = """
            storage: { path: \(Readings.temporaryDatabase()), sync: normal }
            tenants: { kurume: { gateways: [gw-01] }, omuta: { gateways: [gw-om] } }
            default_tenant: kurume
            \(HubAlertTests.rulesYAML)
            \(dashboard)
            """
        return try HubConfiguration.parse(yaml: yaml, file: "hub.yaml", baseDirectory: "/")
    }

    @Test func thePageAndEveryFileItNamesComeFromTheHub() async throws {
        try await HubHarness.withHub(try Self.configuration()) { _, client in
            let page = try await client.call(.get, "/", tenant: nil)
            #expect(page.status == .ok)
            #expect(page.headers[.contentType] == "text/html; charset=utf-8")
            let policy = try #require(page.headers[HTTPField.Name("Content-Security-Policy")!])
            #expect(policy.contains("default-src 'self'") && policy.contains("connect-src 'self'") && policy.contains("script-src 'self'"))
            #expect(!policy.contains("http"), "no other origin without tiles: \(policy)")

            // Every script, style and icon the page names, and every module those scripts import.
            var names = Self.references(in: page.text, pattern: #"(?:src|href)="/dashboard/([^"]+)""#)
            for script in names where script.hasSuffix(".js") {
                let text = try await client.call(.get, "/dashboard/\(script)", tenant: nil).text
                names.formUnion(Self.references(in: text, pattern: #"from "\./([^"]+)""#))
            }
            #expect(names.isSuperset(of: ["app.js", "app.css", "map.js", "i18n.js", "chart.js"]), "\(names.sorted())")
            for name in names {
                let file = try await client.call(.get, "/dashboard/\(name)", tenant: nil)
                #expect(file.status == .ok, "\(name)")
                #expect(file.headers[.eTag] != nil && file.headers[HTTPField.Name("X-Content-Type-Options")!] == "nosniff", "\(name)")
                // Nothing the browser would fetch from elsewhere: no absolute URL in the page's code.
                #expect(Self.references(in: file.text, pattern: #"(?:src|href|url|fetch|import)\W{0,3}(https?://[^"')\s]+)"#).isEmpty, "\(name)")
            }
            #expect(try await client.call(.get, "/dashboard/app.js", tenant: nil).headers[.contentType] == "text/javascript; charset=utf-8")
            let missing = try await client.call(.get, "/dashboard/..%2FPackage.swift", tenant: nil)
            #expect(missing.status == .notFound)
            #expect(try await client.call(.get, "/dashboard/nothing.js", tenant: nil).problemType == "ResourceNotFound")
        }
    }

    @Test func anUnchangedFileIsNotSentAgain() async throws {
        try await HubHarness.withHub(try Self.configuration()) { _, client in
            let first = try await client.call(.get, "/dashboard/app.js", tenant: nil)
            let tag = try #require(first.headers[.eTag])
            let again = try await client.call(.get, "/dashboard/app.js", tenant: nil, headers: [HTTPField.Name("If-None-Match")!: tag])
            #expect(again.status == .notModified && again.text.isEmpty)
            let other = try await client.call(.get, "/dashboard/app.js", tenant: nil, headers: [HTTPField.Name("If-None-Match")!: "\"0-0\""])
            #expect(other.status == .ok && other.text == first.text)
        }
    }

    @Test func theSessionTellsThePageItsTenantRulesAndMap() async throws {
        try await HubHarness.withHub(try Self.configuration("dashboard: { refresh: 7s }")) { _, client in
            let session = try await client.call(.get, "/dashboard/session?tenant=kurume", tenant: nil)
            #expect(session.status == .ok && session.headers[.cacheControl] == "no-store")
            #expect(session.json["tenant"] == "kurume")
            #expect(session.json["tenants"] == .array(["kurume", "omuta"]))
            #expect(session.json["refreshSeconds"] == 7 && session.json["tiles"] == .null)
            #expect(session.json["outlines"] == "/dashboard/outlines.geojson")
            let rule = try #require(session.json["rules"]?.arrayValue?.first)
            #expect(
                rule["id"] == "river-stage" && rule["type"] == "WaterObserved" && rule["attribute"] == "waterLevel" && rule["kind"] == "threshold"
            )
            #expect(
                rule["stages"]
                    == .array([
                        .object(["name": "氾濫注意", "level": 2.0, "severity": "medium"]),
                        .object(["name": "氾濫危険", "levelAttribute": "dangerLevel", "severity": "critical"]),
                    ])
            )
            #expect(rule["event"]?["ja"] == "河川水位")

            // The default tenant when the page names none; another tenant sees none of kurume's rules.
            #expect(try await client.call(.get, "/dashboard/session", tenant: nil).json["tenant"] == "kurume")
            let omuta = try await client.call(.get, "/dashboard/session?tenant=omuta", tenant: nil)
            #expect(omuta.json["tenant"] == "omuta" && omuta.json["rules"] == .array([]))
            let unknown = try await client.call(.get, "/dashboard/session?tenant=nowhere", tenant: nil)
            #expect(unknown.status.code >= 400 && unknown.status.code < 500 && unknown.json["detail"]?.stringValue?.contains("nowhere") == true)
            #expect(try await client.call(.get, "/dashboard/session?tenant=kurume&x=1", tenant: nil).problemType == "BadRequestData")
        }
    }

    @Test func theBuiltInBaseMapHasEveryPrefecture() async throws {
        try await HubHarness.withHub(try Self.configuration()) { _, client in
            let outlines = try await client.call(.get, "/dashboard/outlines.geojson", tenant: nil)
            #expect(outlines.headers[.contentType] == "application/geo+json")
            let features = outlines.json["features"]?.arrayValue ?? []
            #expect(features.count == 47)
            #expect(features.allSatisfy { ["Polygon", "MultiPolygon"].contains($0["geometry"]?["type"]?.stringValue ?? "") })
            let names = Set(features.compactMap { feature in feature["properties"]?["name"]?.stringValue })
            #expect(names.isSuperset(of: ["三重県", "徳島県", "北海道", "沖縄県"]), "\(names.sorted())")
        }
    }

    @Test func tilesOwnOutlinesAndNoDashboardAreTheOperatorsChoice() async throws {
        // A tile server of the deployment's own: its origin, and only it, is allowed for images.
        let outlines = FileManager.default.temporaryDirectory.appendingPathComponent("outlines-\(UUID().uuidString).geojson").path
        try #"{"type":"FeatureCollection","features":[]}"#.write(toFile: outlines, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: outlines) }
        let tiles = """
            dashboard:
              outlines: \(outlines)
              tiles: { url: "https://tiles.example.lg.jp:8443/xyz/{z}/{x}/{y}.png", attribution: 地理院タイル, max_zoom: 17 }
            """
        try await HubHarness.withHub(try Self.configuration(tiles)) { _, client in
            let policy = try #require(try await client.call(.get, "/", tenant: nil).headers[HTTPField.Name("Content-Security-Policy")!])
            #expect(policy.contains("img-src 'self' data: blob: https://tiles.example.lg.jp:8443;"))
            #expect(policy.contains("connect-src 'self';"))
            let session = try await client.call(.get, "/dashboard/session", tenant: nil).json
            #expect(
                session["tiles"] == .object(["url": "https://tiles.example.lg.jp:8443/xyz/{z}/{x}/{y}.png", "attribution": "地理院タイル", "maxZoom": 17])
            )
            #expect(try await client.call(.get, "/dashboard/outlines.geojson", tenant: nil).json["features"] == .array([]))
        }
        try await HubHarness.withHub(try Self.configuration("dashboard: { outlines: none }")) { _, client in
            let session = try await client.call(.get, "/dashboard/session", tenant: nil)
            let outlines = try await client.call(.get, "/dashboard/outlines.geojson", tenant: nil)
            #expect(session.json["outlines"] == .null && outlines.status == .notFound)
        }
        try await HubHarness.withHub(try Self.configuration("dashboard: { enabled: false }")) { _, client in
            let page = try await client.call(.get, "/", tenant: nil)
            let script = try await client.call(.get, "/dashboard/app.js", tenant: nil)
            let health = try await client.call(.get, "/healthz", tenant: nil)
            #expect(page.status == .notFound && script.status == .notFound && health.status == .ok)
        }
    }

    @Test func aMissingOrBrokenBaseMapStopsTheHubWithItsPath() throws {
        for (content, reason) in [
            (nil, "cannot read the map outlines"), ("{\"type\":", "are not JSON"), ("{\"type\":\"Feature\"}", "not a GeoJSON FeatureCollection"),
        ] {
            let path = FileManager.default.temporaryDirectory.appendingPathComponent("broken-\(UUID().uuidString).geojson").path
            if let content { try content.write(toFile: path, atomically: true, encoding: .utf8) }
            defer { try? FileManager.default.removeItem(atPath: path) }
            var dashboard = DashboardConfiguration()
            dashboard.outlines = .file(path)
            #expect {
                _ = try DashboardAssets(configuration: dashboard)
            } throws: { error in
                "\(error)".contains(path) && "\(error)".contains(reason)
            }
        }
        var elsewhere = DashboardConfiguration()
        elsewhere.assets = "/nonexistent/site"
        #expect { _ = try DashboardAssets(configuration: elsewhere) } throws: { "\($0)".contains("/nonexistent/site") }
    }

    @Test func dashboardMistakesAreReportedWithTheirLines() throws {
        let yaml = """
            storage: { path: hub.sqlite }
            tenants: { kurume: }
            dashboard:
              refresh: 0s
              colour: red
              tiles:
                url: tiles.example/{z}/{x}.png
                max_zoom: 40
            """
        do {
            _ = try HubConfiguration.parse(yaml: yaml, file: "hub.yaml", baseDirectory: "/tmp")
            Issue.record("the mistakes were accepted")
        } catch {
            let text = error.description
            #expect(text.contains("hub.yaml:4:") && text.contains("refresh is between 1s and 1h"), "\(text)")
            #expect(text.contains("hub.yaml:5:") && text.contains("colour"), "\(text)")
            #expect(text.contains("hub.yaml:7:") && text.contains("a tile URL has {z}, {x} and {y} in it"), "\(text)")
            #expect(text.contains("hub.yaml:8:") && text.contains("max_zoom"), "\(text)")
        }
        // The sample's section loads as written.
        let sample = try HubConfiguration.load(file: RepositoryPaths.root.appendingPathComponent("deploy/hub/hub.yaml").path, environment: [:])
        #expect(
            sample.dashboard.enabled && sample.dashboard.refresh == .seconds(15) && sample.dashboard.outlines == .builtIn
                && sample.dashboard.tiles == nil
        )
    }

    @Test func theAlertListSaysWhereTheFeedResumes() async throws {
        try await HubHarness.withHub(try Self.configuration()) { _, client in
            #expect(try await client.call(.get, "/alerts").headers[HTTPField.Name("Kakehashi-Feed-Position")!] == "0")
            _ = try await client.upsert([HubAlertTests.gauge("g1", 2.5, minutes: 0)])
            _ = try await client.upsert([HubAlertTests.gauge("g1", 3.5, minutes: 10)])
            _ = try await client.call(.post, "/alerts/1/acknowledge", body: #"{"by":"duty officer"}"#)
            // raised, escalated (the alert's last change), acknowledged: the list is read after event 3.
            let list = try await client.call(.get, "/alerts?state=active")
            #expect(list.headers[HTTPField.Name("Kakehashi-Feed-Position")!] == "3")
            #expect(list.json.arrayValue?.first?["lastEvent"] == 2 && list.json.arrayValue?.first?["acknowledgedBy"] == "duty officer")
            #expect(try await client.call(.get, "/alerts", tenant: Readings.omuta).headers[HTTPField.Name("Kakehashi-Feed-Position")!] == "0")
        }
    }

    static func references(in text: String, pattern: String) -> Set<String> {
        let expression = try! NSRegularExpression(pattern: pattern)
        let range = NSRange(text.startIndex..., in: text)
        return Set(
            expression.matches(in: text, range: range).compactMap { match in
                Range(match.range(at: 1), in: text).map { String(text[$0]) }
            }
        )
    }
}
