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

    @Test func postgresStorageAndInstanceAreRead() throws {
        let yaml = """
            instance: hub-b
            storage:
              kind: postgres
              url: postgres://kakehashi@db.example.lg.jp:5433/kakehashi
              password_env: KAKEHASHI_DB_PASSWORD
              pool_size: 20
              tls: true
              path: hub.sqlite
            tenants: { kurume: }
            """
        let configuration = try HubConfiguration.parse(
            yaml: yaml,
            file: "hub.yaml",
            baseDirectory: "/tmp",
            environment: ["KAKEHASHI_DB_PASSWORD": "s3cret"]
        )
        #expect(configuration.instance == "hub-b")
        #expect(
            configuration.storageKind
                == .postgres(.init(url: "postgres://kakehashi@db.example.lg.jp:5433/kakehashi", password: "s3cret", poolSize: 20, tls: true))
        )
        // An instance's sessions share the subscription with every other hub of the client id.
        let broker = MQTTConfiguration(host: "127.0.0.1", port: 1883, clientID: "hub")
        let session = HubConfiguration.ingestSession(broker, index: 0, of: 1, instance: "hub-b")
        #expect(session.settings.clientID == "hub-hub-b-1" && session.filter == "$share/hub/\(WireTopic.allObservations)")
        #expect(HubConfiguration.ingestSession(broker, index: 2, of: 4, instance: "hub-b").settings.clientID == "hub-hub-b-3")

        let broken = """
            instance: "hub b"
            storage:
              kind: postgres
              url: mysql://db/kakehashi
              password_env: NOT_SET_ANYWHERE
              pool_size: 0
              path: hub.sqlite
              separation: per_tenant
            tenants: { kurume: }
            """
        do {
            _ = try HubConfiguration.parse(yaml: broken, file: "hub.yaml", baseDirectory: "/tmp")
            Issue.record("a broken configuration was accepted")
        } catch {
            for expected in [
                "instance: instance is a name", "storage.url: url is postgres://user@host:port/database",
                "storage.password_env: the environment variable NOT_SET_ANYWHERE is not set", "storage.pool_size:",
                "storage.separation: separation per_tenant is for kind: sqlite",
            ] {
                #expect(error.description.contains(expected), "missing \(expected) in:\n\(error.description)")
            }
        }
        let misplaced = "storage: { path: hub.sqlite, url: \"postgres://db/k\" }\ntenants: { kurume: }\n"
        #expect(throws: ConfigurationError.self) { try HubConfiguration.parse(yaml: misplaced, file: "hub.yaml", baseDirectory: "/tmp") }
        let inline = "storage: { kind: postgres, path: hub.sqlite, url: \"postgres://hub:pw@db/k\" }\ntenants: { kurume: }\n"
        do {
            _ = try HubConfiguration.parse(yaml: inline, file: "hub.yaml", baseDirectory: "/tmp")
            Issue.record("a password in the URL was accepted")
        } catch {
            #expect(error.description.contains("url holds a password"))
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
