import ArgumentParser

/// `kakehashi-gateway`: the edge gateway (`run`), its configuration check, its dead letters, and BLE tools.
@main
struct KakehashiGatewayCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "kakehashi-gateway",
        abstract: "The Kakehashi edge gateway: sensors in, NGSI-LD batches out, nothing lost on the way.",
        discussion: """
            Start with `check-config` on your configuration (see deploy/gateway/gateway.yaml for a commented \
            sample), then `run` it (deploy/gateway/kakehashi-gateway.service runs it under systemd).
            """,
        subcommands: [Run.self, CheckConfig.self, DeadLetters.self, BLECommand.self]
    )
}

/// `kakehashi-gateway ble …`: BLE tools.
struct BLECommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ble",
        abstract: "Bluetooth Low Energy tools.",
        subcommands: [BLEDecode.self, BLEScan.self]
    )
}
