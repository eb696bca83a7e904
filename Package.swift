// swift-tools-version:6.0
import PackageDescription

let package = Package(
    name: "Kakehashi",
    platforms: [.macOS(.v15)],
    products: [
        .library(name: "KakehashiModel", targets: ["KakehashiModel"]),
        .library(name: "KakehashiTraces", targets: ["KakehashiTraces"]),
        .library(name: "KakehashiMQTT", targets: ["KakehashiMQTT"]),
        .library(name: "KakehashiBLE", targets: ["KakehashiBLE"]),
        .library(name: "KakehashiBLEScanner", targets: ["KakehashiBLEScanner"]),
        .library(name: "KakehashiSQLite", targets: ["KakehashiSQLite"]),
        .library(name: "KakehashiConfig", targets: ["KakehashiConfig"]),
        .library(name: "KakehashiGateway", targets: ["KakehashiGateway"]),
        .library(name: "KakehashiHubCore", targets: ["KakehashiHubCore"]),
        .library(name: "KakehashiHubSQLite", targets: ["KakehashiHubSQLite"]),
        .library(name: "KakehashiHubPostgres", targets: ["KakehashiHubPostgres"]),
        .library(name: "KakehashiHub", targets: ["KakehashiHub"]),
        .library(name: "KakehashiAlerts", targets: ["KakehashiAlerts"]),
        .executable(name: "kakehashi-sim", targets: ["kakehashi-sim"]),
        .executable(name: "kakehashi-gateway", targets: ["kakehashi-gateway"]),
        .executable(name: "kakehashi-hub", targets: ["kakehashi-hub"]),
        .executable(name: "kakehashi-bench", targets: ["kakehashi-bench"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.6.0"),
        .package(url: "https://github.com/apple/swift-crypto", from: "3.0.0"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.0.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.6.0"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.5.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.0.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.0.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird-websocket", from: "2.0.0"),
        .package(url: "https://github.com/hummingbird-project/swift-websocket", from: "1.0.0"),
        .package(url: "https://github.com/apple/swift-http-types", from: "1.0.0"),
        // Hummingbird's own network layer, named for the hub's HTTP/1 request-head guard.
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.80.0"),
        .package(url: "https://github.com/vapor/postgres-nio", from: "1.33.0"),
    ],
    targets: [
        // C libraries from Debian's -dev packages.
        .systemLibrary(
            name: "CMosquitto",
            pkgConfig: "libmosquitto",
            providers: [.apt(["libmosquitto-dev"]), .brew(["mosquitto"])]
        ),
        .systemLibrary(
            name: "COpenSSL",
            pkgConfig: "openssl",
            providers: [.apt(["libssl-dev"]), .brew(["openssl"])]
        ),
        .systemLibrary(
            name: "CBlueZ",
            pkgConfig: "bluez",
            providers: [.apt(["libbluetooth-dev"])]
        ),
        .systemLibrary(
            name: "CSQLite",
            pkgConfig: "sqlite3",
            providers: [.apt(["libsqlite3-dev"]), .brew(["sqlite"])]
        ),

        // Pure values: no I/O, no C.
        .target(name: "KakehashiModel"),
        // Async MQTT client over libmosquitto: no domain types.
        .target(name: "KakehashiMQTT", dependencies: ["CMosquitto", .product(name: "Logging", package: "swift-log")]),
        // A small HTTP/1.1 client over POSIX sockets and OpenSSL (which libmosquitto loads anyway):
        // the gateway's NGSI-LD uplink, without libcurl and its 25 libraries on a board.
        .target(name: "KakehashiHTTP", dependencies: ["COpenSSL"]),
        // BLE as pure values (as NIOCore): HCI event and advertising-data parsing, beacons, btsnoop
        // captures and their replay, the scan loop over any packet source, scan command bytes.
        .target(name: "KakehashiBLE", dependencies: ["KakehashiModel"]),
        // The HCI socket scanner over BlueZ (as NIOPosix): the only BLE code doing I/O on an adapter.
        .target(name: "KakehashiBLEScanner", dependencies: ["KakehashiBLE", "CBlueZ"]),
        // libFuzzer target over the BLE parsers (deploy/fuzz builds it with -sanitize=fuzzer,address
        // -DFUZZING); built normally, it replays the corpus in Tests/Fixtures/fuzz-ble.
        .target(name: "CFuzzerDriver"),
        .executableTarget(name: "kakehashi-fuzz-ble", dependencies: ["KakehashiBLE", "KakehashiModel", "CFuzzerDriver"]),
        // Thin Swift layer over the system SQLite: connection, statements, transactions, typed errors.
        .target(name: "KakehashiSQLite", dependencies: ["CSQLite"]),
        // Configuration files: YAML read through a cursor that reports every problem with its line and
        // key, secrets from the environment.
        .target(
            name: "KakehashiConfig",
            dependencies: ["KakehashiModel", .product(name: "Yams", package: "Yams")]
        ),
        // A broker section of a configuration file read into the MQTT client's settings (shared by
        // gateway and hub), so that neither KakehashiConfig nor KakehashiMQTT depends on the other.
        .target(name: "KakehashiBrokerConfig", dependencies: ["KakehashiConfig", "KakehashiMQTT"]),
        // The edge gateway: configuration, sources, decoders, device registry, pseudonyms, the
        // durable outbox, the uplink and the gateway Service.
        .target(
            name: "KakehashiGateway",
            dependencies: [
                "KakehashiModel", "KakehashiBLE", "KakehashiBLEScanner", "KakehashiMQTT", "KakehashiSQLite", "KakehashiConfig",
                "KakehashiBrokerConfig", "KakehashiHTTP",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Yams", package: "Yams"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
        ),
        .executableTarget(
            name: "kakehashi-gateway",
            dependencies: [
                "KakehashiGateway", "KakehashiBLE", "KakehashiBLEScanner", "KakehashiModel", "KakehashiSQLite", "KakehashiConfig",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        // The hub's core (as HummingbirdCore to Hummingbird): ingest with exactly-once effect, the
        // store protocols, query engine, alert service, feeds, access logic, federation and
        // configuration. Imports neither Hummingbird nor SQLite.
        .target(
            name: "KakehashiHubCore",
            dependencies: [
                "KakehashiModel", "KakehashiMQTT", "KakehashiHTTP", "KakehashiConfig", "KakehashiBrokerConfig", "KakehashiAlerts",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        // The hub's stores over SQLite (one file, or one file per tenant) and its access tables.
        .target(
            name: "KakehashiHubSQLite",
            dependencies: ["KakehashiHubCore", "KakehashiModel", "KakehashiAlerts", "KakehashiSQLite"]
        ),
        // The hub's stores over PostgreSQL (postgres-nio), for several hubs over one database.
        .target(
            name: "KakehashiHubPostgres",
            dependencies: [
                "KakehashiHubCore", "KakehashiModel", "KakehashiAlerts", "KakehashiSQLite",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // The hub over HTTP: the NGSI-LD API, middleware, feeds' transports, dashboard, and the
        // `Hub` that wires core, store and server into one application.
        .target(
            name: "KakehashiHub",
            dependencies: [
                "KakehashiHubCore", "KakehashiHubSQLite", "KakehashiHubPostgres", "KakehashiModel", "KakehashiAlerts",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdWebSocket", package: "hummingbird-websocket"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "Metrics", package: "swift-metrics"),
            ],
            exclude: ["Dashboard/README.md"],
            resources: [.copy("Dashboard/site")]
        ),
        .executableTarget(
            name: "kakehashi-hub",
            dependencies: [
                "KakehashiHub", "KakehashiHubCore", "KakehashiHubSQLite", "KakehashiHubPostgres", "KakehashiSimulation", "KakehashiConfig",
                "KakehashiModel", "KakehashiAlerts", "KakehashiTraces",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        // Readers of recorded trace formats (MLIT river gauges, …): pure parsing of text.
        .target(name: "KakehashiTraces", dependencies: ["KakehashiModel"]),
        // Pure rule engine: no I/O, time comes with the inputs.
        .target(name: "KakehashiAlerts", dependencies: ["KakehashiModel"]),

        // What simulators send, as pure values: device payload formats, replay timelines, seeded
        // load, progress text, registry rows, btsnoop records to feed a gateway.
        .target(
            name: "KakehashiSimulation",
            dependencies: ["KakehashiModel", "KakehashiTraces", "KakehashiBLE"],
            path: "simulators/KakehashiSimulation"
        ),
        .executableTarget(
            name: "kakehashi-sim",
            dependencies: [
                "KakehashiModel", "KakehashiTraces", "KakehashiSimulation", "KakehashiMQTT", "KakehashiBLE",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "simulators/kakehashi-sim"
        ),

        // Shared by test targets only: repository paths, the Smart Data Models schema check.
        .target(name: "KakehashiTestSupport", dependencies: ["KakehashiModel", "KakehashiSimulation"]),

        // The benchmark's baseline: a minimal C loop over libmosquitto.
        .target(name: "CMosquittoBaseline", dependencies: ["CMosquitto"]),
        .executableTarget(
            name: "kakehashi-bench",
            dependencies: [
                "KakehashiModel", "KakehashiMQTT", "KakehashiBLE", "KakehashiGateway", "KakehashiTestSupport", "CMosquittoBaseline",
                "KakehashiHub", "KakehashiHubCore", "KakehashiHubSQLite", "KakehashiSQLite", "KakehashiHubPostgres",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),

        .testTarget(name: "KakehashiModelTests", dependencies: ["KakehashiModel", "KakehashiTestSupport"]),
        .testTarget(name: "KakehashiTracesTests", dependencies: ["KakehashiTraces", "KakehashiModel", "KakehashiTestSupport"]),
        .testTarget(name: "KakehashiMQTTTests", dependencies: ["KakehashiMQTT", "KakehashiTestSupport"]),
        .testTarget(name: "KakehashiBLETests", dependencies: ["KakehashiBLE", "KakehashiBLEScanner", "KakehashiModel", "KakehashiTestSupport"]),
        .testTarget(
            name: "KakehashiGatewayTests",
            dependencies: [
                "KakehashiGateway", "KakehashiBLE", "KakehashiModel", "KakehashiMQTT", "KakehashiSQLite", "KakehashiConfig", "KakehashiTestSupport",
                "KakehashiHTTP",
            ]
        ),
        .testTarget(
            name: "KakehashiHubTests",
            dependencies: [
                "KakehashiHub", "KakehashiHubCore", "KakehashiHubSQLite", "KakehashiModel", "KakehashiMQTT", "KakehashiSQLite",
                "KakehashiConfig", "KakehashiTraces", "KakehashiAlerts", "KakehashiTestSupport", "KakehashiHubTestSupport",
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "WSClient", package: "swift-websocket"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // Builders of readings and batches for the hub's test targets.
        .target(name: "KakehashiHubTestSupport", dependencies: ["KakehashiHubCore", "KakehashiModel"], path: "Tests/KakehashiHubTestSupport"),
        // The stores and the ingest plan, without Hummingbird.
        .testTarget(
            name: "KakehashiHubStoreTests",
            dependencies: [
                "KakehashiHubCore", "KakehashiHubSQLite", "KakehashiHubPostgres", "KakehashiModel", "KakehashiSQLite", "KakehashiAlerts",
                "KakehashiTestSupport", "KakehashiHubTestSupport", .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .testTarget(name: "KakehashiSQLiteTests", dependencies: ["KakehashiSQLite"]),
        .testTarget(name: "KakehashiFaultTests", dependencies: ["KakehashiModel", "KakehashiMQTT", "KakehashiSQLite", "KakehashiTestSupport"]),
        .testTarget(name: "KakehashiAlertsTests", dependencies: ["KakehashiAlerts", "KakehashiModel", "KakehashiTraces", "KakehashiTestSupport"]),
        .testTarget(
            name: "KakehashiSimulationTests",
            dependencies: [
                "KakehashiSimulation", "KakehashiTraces", "KakehashiModel", "KakehashiBLE", "KakehashiGateway", "KakehashiMQTT",
                "KakehashiTestSupport",
            ]
        ),
        .testTarget(name: "SystemLibraryTests", dependencies: ["CMosquitto", "CBlueZ", "CSQLite"]),
    ],
    swiftLanguageModes: [.v6]
)
