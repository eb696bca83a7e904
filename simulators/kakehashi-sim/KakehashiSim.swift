import ArgumentParser

/// `kakehashi-sim`: replays recorded sensor traces so the whole chain can run without hardware.
@main
struct KakehashiSim: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "kakehashi-sim",
        abstract: "Replay recorded sensor traces through Kakehashi.",
        discussion: """
            Traces are real recordings (see simulators/traces/README.md). `inspect` shows what a \
            trace becomes as NGSI-LD entities without sending anything.
            """,
        subcommands: [Inspect.self])
}

/// Shows what a trace becomes, without sending it anywhere.
struct Inspect: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Normalize a trace into NGSI-LD entities and summarize or print them.",
        subcommands: [InspectRiver.self])
}
