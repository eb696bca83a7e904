import ArgumentParser

/// `kakehashi-gateway`: the edge gateway. Today it offers the BLE tools; the gateway service
/// itself (sources, outbox, uplink) is configured with a file and started by `run`, later.
@main
struct KakehashiGatewayCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "kakehashi-gateway",
        abstract: "The Kakehashi edge gateway.",
        subcommands: [BLECommand.self])
}

/// `kakehashi-gateway ble …`: BLE tools.
struct BLECommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ble", abstract: "Bluetooth Low Energy tools.", subcommands: [BLEDecode.self, BLEScan.self])
}
