import KakehashiConfig
import KakehashiHub
import KakehashiHubCore
import KakehashiHubSQLite
import KakehashiMQTT
import KakehashiModel
import KakehashiTestSupport
import Testing

@Suite("Hub configuration")
struct HubConfigurationTests {
    @Test func sampleConfigurationLoads() throws {
        let file = RepositoryPaths.root.appendingPathComponent("deploy/hub/hub.yaml").path
        let configuration = try HubConfiguration.load(file: file, environment: [:])
        #expect(configuration.storagePath.hasSuffix("deploy/hub/hub.sqlite"))
        #expect(configuration.tenants[try Tenant("kurume")]?.gateways.count == 2)
        #expect(configuration.defaultTenant == (try Tenant("kurume")))
        #expect(configuration.broker?.clientID == "kakehashi-hub")
        let omuta = try Tenant("omuta")
        #expect(configuration.retention.rule(tenant: omuta, type: "WaterObserved").raw == RetentionPolicy.Rule.days(3650))
        #expect(configuration.retention.rule(tenant: omuta, type: "Device").raw == RetentionPolicy.Rule.days(30))
        #expect(configuration.retention.rule(tenant: omuta, type: "CrowdFlowObserved").hour == nil)
        #expect(configuration.retentionInterval == .seconds(3600))
        #expect(configuration.ingestConsumers == 8)
        #expect(configuration.storage.writerCacheBytes == 64 << 20)
    }

    @Test func idleTimeoutIsRead() throws {
        let yaml = "http: { idle_timeout: 90s }\nstorage: { path: hub.sqlite }\ntenants: { kurume: }\n"
        #expect(try HubConfiguration.parse(yaml: yaml, file: "hub.yaml", baseDirectory: "/tmp").http.idleTimeout == .seconds(90))
        #expect(HubConfiguration.HTTP().idleTimeout == .seconds(60))
    }

    @Test func ingestSessionsShareOneSubscription() throws {
        let broker = MQTTConfiguration(host: "127.0.0.1", port: 1883, clientID: "hub/a")
        let single = HubConfiguration.ingestSession(broker, index: 0, of: 1)
        #expect(single.settings.clientID == "hub/a" && single.filter == WireTopic.allObservations)
        #expect(single.settings.session == .persistent && single.settings.acknowledgement == .afterProcessing)
        let second = HubConfiguration.ingestSession(broker, index: 1, of: 3)
        #expect(second.settings.clientID == "hub/a-2")
        #expect(second.filter == "$share/hub-a/\(WireTopic.allObservations)")
        let yaml = """
            storage: { path: hub.sqlite, cache: 512KiB }
            ingest: { consumers: 9 }
            tenants: { kurume: }
            """
        #expect(throws: ConfigurationError.self) { try HubConfiguration.parse(yaml: yaml, file: "hub.yaml", baseDirectory: "/tmp") }
        do {
            _ = try HubConfiguration.parse(yaml: yaml, file: "hub.yaml", baseDirectory: "/tmp")
        } catch {
            #expect(error.description.contains("storage.cache: cache is between 1MiB and 16GiB"))
            #expect(error.description.contains("ingest.consumers:"))
            #expect(error.description.contains("ingest: ingest needs a broker section"))
        }
    }

    @Test func everyProblemIsReportedWithItsLine() throws {
        let yaml = """
            http:
              prot: 8080
              idle_timeout: 0s
            storage:
              sync: sometimes
            tenants:
              Bad_City: {}
              kurume:
                gateways: [gw-01, gw-01, "bad/gw"]
            default_tenant: nowhere
            retention:
              default: { raw: 10s }
            """
        do {
            _ = try HubConfiguration.parse(yaml: yaml, file: "hub.yaml", baseDirectory: "/tmp")
            Issue.record("a broken configuration was accepted")
        } catch {
            let text = error.description
            for expected in [
                "hub.yaml:2:3: http.prot: unknown key 'prot' (did you mean 'port'?)",
                "storage.path: is required", "hub.yaml:5:9: storage.sync: sync is full or normal",
                "http.idle_timeout: idle_timeout is between 1s and 1h",
                "tenants.Bad_City:", "gateway gw-01 is listed twice", "tenants.kurume.gateways[2]:",
                "default_tenant: nowhere is not one of the tenants", "retention.default.raw: keep data at least a minute",
            ] {
                #expect(text.contains(expected), "missing \(expected) in:\n\(text)")
            }
        }
    }
}
