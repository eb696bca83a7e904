import ArgumentParser
import KakehashiBLE
import KakehashiModel
import KakehashiSimulation

#if canImport(Glibc)
import Glibc
#endif

/// `kakehashi-sim ble`: a recorded BLE capture fed to a gateway as if its adapter heard it now.
struct BLEReplay: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ble",
        abstract: "Feed a btsnoop capture to a gateway's BLE replay source, at the capture's pace.",
        discussion: """
            The records are written as btsnoop into --into, one at a time when due: the named pipe of a \
            gateway source `kind: btsnoop` with `pipe: PATH` (the gateway creates it), a file, or - for \
            standard output. The gateway decodes the advertisements, turns addresses into keyed \
            pseudonyms and commits tag sightings and presence changes, with the (shifted) capture times.

            Examples:
              kakehashi-sim ble simulators/traces/ble/horizon-74.btsnoop --into /run/kakehashi/ble.pipe --shift-to-now
              kakehashi-sim ble capture.btsnoop --into - --as-fast-as-possible --from 2021-03-01T10:00:00Z > cut.btsnoop
            """
    )

    @Argument(help: "The capture (btsnoop, datalink 1001 or 1002).")
    var capture: String

    @Option(help: ArgumentHelp("Where to write: a gateway's named pipe, a file, or - (standard output).", valueName: "path"))
    var into: String

    @Option(help: ArgumentHelp("Seconds to wait for a gateway to open the pipe.", valueName: "seconds"))
    var openTimeout: Double = 30

    @OptionGroup(title: "Timing") var timing: TimingOptions

    @Option(help: "Progress on standard error: auto, bar, lines or none.")
    var progress: OutputOptions.ProgressChoice = .auto

    func run() async throws {
        installInterruptHandlers()
        signal(SIGPIPE, SIG_IGN)
        let reader: BTSnoopReader
        do { reader = try BTSnoopReader(bytes: readFile(capture)) } catch let error as BLEParseError {
            throw SimulationError("\(capture): \(error)")
        }
        let (from, to) = try timing.window()
        let replay = KakehashiSimulation.BTSnoopReplay(reader, from: from, to: to, shift: timing.shift())
        var notes = ["\(ProgressMeter.grouped(replay.records.count)) records"]
        if let first = replay.records.first, let last = replay.records.last {
            notes.append(
                "\(ProgressMeter.duration(Double(last.timestamp.millisecondsSinceEpoch - first.timestamp.millisecondsSinceEpoch) / 1000)) of capture"
            )
        }
        if !reader.problems.isEmpty { notes.append("the capture ends with an unreadable record (\(reader.problems[0]))") }
        if replay.outsideWindow > 0 { notes.append("\(replay.outsideWindow) outside --from/--to") }
        note("ble: " + notes.joined(separator: "; "))

        let fd = try await open()
        defer { if fd != 1 { close(fd) } }
        var style: ProgressMeter.Style
        switch progress {
        case .auto: style = isatty(2) == 1 ? .bar : .lines
        case .bar: style = .bar
        case .lines: style = .lines
        case .none: style = .none
        }
        let meter = ProgressMeter(style: style, label: "ble", unit: "records")
        let clock = ContinuousClock()
        let start = clock.now
        var nextDraw = start + (style == .bar ? .milliseconds(100) : .seconds(5))
        let pace = timing.pace
        let total = replay.records.count
        let span = total > 0 ? replay.dueMilliseconds(at: total - 1, speed: pace) / 1000 : 0
        try write(fd, KakehashiSimulation.BTSnoopReplay.header)
        var sent = 0
        func draw(force: Bool = false) {
            guard force || clock.now >= nextDraw else { return }
            nextDraw = clock.now + (style == .bar ? .milliseconds(100) : .seconds(5))
            let elapsed = (clock.now - start).seconds
            let snapshot = ProgressMeter.Snapshot(
                sent: sent,
                total: total,
                elapsedSeconds: elapsed,
                remainingSeconds: pace == nil ? nil : span - elapsed,
                traceTime: sent > 0 ? String(replay.records[sent - 1].timestamp.iso8601.prefix(19)) + "Z" : nil
            )
            if let text = meter.render(snapshot) { writeAll(2, Array(text.utf8)) }
        }
        for (index, record) in replay.records.enumerated() {
            let due = start + .milliseconds(Int64(replay.dueMilliseconds(at: index, speed: pace).rounded()))
            while clock.now < due, interruption.load(ordering: .relaxed) == 0 {
                try? await Task.sleep(until: min(due, clock.now + .milliseconds(100)), clock: clock)
                draw()
            }
            if interruption.load(ordering: .relaxed) != 0 { break }
            try write(fd, KakehashiSimulation.BTSnoopReplay.encode(record))
            sent += 1
            draw()
        }
        if style == .bar {
            draw(force: true)
            writeAll(2, Array("\n".utf8))
        }
        note("ble: wrote \(ProgressMeter.grouped(sent)) records to \(into) in \(ProgressMeter.duration((clock.now - start).seconds))")
        let signal = interruption.load(ordering: .relaxed)
        if signal != 0 { throw ExitCode(128 + signal) }
    }

    /// Opens --into; a named pipe is waited on until a gateway reads it.
    private func open() async throws -> Int32 {
        if into == "-" { return 1 }
        var info = stat()
        if stat(into, &info) == 0 && (info.st_mode & S_IFMT) == S_IFIFO {
            let deadline = ContinuousClock.now + .milliseconds(Int64(openTimeout * 1000))
            while true {
                let fd = Glibc.open(into, O_WRONLY | O_NONBLOCK | O_CLOEXEC)
                if fd >= 0 {
                    let flags = fcntl(fd, F_GETFL)
                    _ = fcntl(fd, F_SETFL, flags & ~O_NONBLOCK)
                    return fd
                }
                guard errno == ENXIO else { throw SimulationError("cannot open the pipe \(into): \(String(cString: strerror(errno)))") }
                guard ContinuousClock.now < deadline, interruption.load(ordering: .relaxed) == 0 else {
                    throw SimulationError("no gateway is reading the pipe \(into) (start one with a btsnoop source whose pipe is this path)")
                }
                try? await Task.sleep(for: .milliseconds(50))
            }
        }
        let fd = Glibc.open(into, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw SimulationError("cannot write \(into): \(String(cString: strerror(errno)))") }
        return fd
    }

    private func write(_ fd: Int32, _ bytes: [UInt8]) throws {
        var offset = 0
        while offset < bytes.count {
            let n = bytes[offset...].withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
            if n < 0 {
                if errno == EINTR { continue }
                throw SimulationError(
                    errno == EPIPE ? "the gateway stopped reading \(into)" : "cannot write \(into): \(String(cString: strerror(errno)))"
                )
            }
            offset += n
        }
    }
}
