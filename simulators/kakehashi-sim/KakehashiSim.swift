import ArgumentParser

/// `kakehashi-sim`: replays recorded sensor traces so the whole chain can run without hardware.
@main
struct KakehashiSim: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "kakehashi-sim",
        abstract: "Replay recorded sensor traces through Kakehashi, as the field devices would send them.",
        discussion: """
            Each replay publishes every reading of a real recording to an MQTT broker in the payload \
            format of a field device (the formats the sample gateway configuration decodes), on that \
            sensor's topic, at the trace's own pace times --speed. The same inputs always send the same \
            messages in the same order. Traces are described in simulators/traces/README.md.

            A storm, played in three minutes into the edge broker at 127.0.0.1:1883:
              kakehashi-sim river simulators/traces/river-jp/storm-2026-06-02.csv \\
                --stations simulators/traces/river-jp/storm-2026-06-02-stations.csv --speed 1440 --shift-to-now

            The device registry a gateway needs for those gauges:
              kakehashi-sim devices river --stations simulators/traces/river-jp/storm-2026-06-02-stations.csv > devices.csv
            """,
        subcommands: [River.self, USGS.self, Pedestrians.self, BLEReplay.self, Load.self, Devices.self, Inspect.self]
    )
}

/// Shows what a trace becomes, without sending it anywhere.
struct Inspect: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Normalize a trace into NGSI-LD entities and summarize or print them.",
        subcommands: [InspectRiver.self]
    )
}
