// What `village-gateway status` shows: published by the engine owner, served on a Unix socket.
import Foundation
import Synchronization
import WarningLogic

/// The running daemon's status, as `status --json` prints it.
struct DaemonStatus: Codable, Sendable {
    var stationId: String
    var stationName: String
    var board: String
    var pid: Int32
    var stateDirectory: String
    var uptimeSeconds: Int64
    var utcOffsetMinutes: Int
    /// The station level by name ("red") and what holds it, for scripts; `station` has the rest.
    var level: String
    var causes: [String]
    /// The engine's view: level, causes, degraded, latch, each sensor's last reading and counters.
    var station: StationStatus?
    var outputs: OutputSnapshot
    /// The inputs feeding the queue ("scenario scenarios/typhoon-hagupit.csv at 4320× speed").
    var inputs: [String]
    /// Each input's health counters (a bus's requests, timeouts, CRC errors per slave), in the
    /// order of `inputs`; inputs with nothing to count are left out.
    var inputCounters: [InputCounters]
    var counters: RuntimeCounters
    var queueLimit: Int
    /// What waits for the county in the outbox; nil without an outbox.
    var backlog: StatusBacklog?
    /// The county uplink as the push sees it (issue 18); nil without a push.
    var uplink: StatusUplink? = nil
}

/// The uplink for `status` and the shell: up/down, since when, the signal that said so, and
/// when the push tries next.
struct StatusUplink: Codable, Sendable, Equatable {
    /// "up", "down" or "unknown" (no attempt yet).
    var state: String
    var since: String?
    var signal: String?
    var nextAttempt: String?

    init(_ uplink: UplinkStatus, utcOffsetMinutes: Int) {
        state = uplink.isUp.map { $0 ? "up" : "down" } ?? "unknown"
        since = uplink.since.map { ISO8601.format($0, utcOffsetMinutes: utcOffsetMinutes) }
        signal = uplink.signal
        nextAttempt = uplink.nextAttemptAt.map { ISO8601.format($0, utcOffsetMinutes: utcOffsetMinutes) }
    }

    /// The status page's lines (each cut to the console's width by the caller).
    var lines: [String] {
        var first = "Uplink    \(state)"
        if let since { first += " since \(since)" }
        if let nextAttempt { first += "; next try \(nextAttempt)" }
        return [first] + (signal.map { ["          \($0)"] } ?? [])
    }
}

/// One input's counters, as `status` shows them.
struct InputCounters: Codable, Sendable {
    var input: String
    var counters: [InputCounter]
}

/// The latest status, written by the engine owner after each event and read by the status
/// server's thread; a lock, not the actor, so a slow client never holds up a decision.
final class PublishedStatus: Sendable {
    private struct Latest {
        var station: StationStatus?
        var outputs = OutputSnapshot.safe
        var counters = RuntimeCounters()
    }

    private let latest = Mutex(Latest())
    /// Set by the outbox's maintenance task, not per event: counting rows is not the engine's job.
    private let latestBacklog = Mutex<StatusBacklog?>(nil)
    /// The push's uplink state, read at each status request (it keeps it under its own lock).
    private let uplinkSource = Mutex<(@Sendable () -> UplinkStatus)?>(nil)
    let stationId: String
    let stationName: String
    let board: String
    let stateDirectory: String
    let inputs: [String]
    /// Asked for their counters at each status request (they keep them under their own locks).
    private let inputSources: [any GatewayInput]
    let utcOffsetMinutes: Int
    private let startedMilliseconds = monotonicMilliseconds()

    init(configuration: EngineConfiguration, board: String, stateDirectory: String, inputs: [any GatewayInput]) {
        stationId = configuration.station.id
        stationName = configuration.station.name
        utcOffsetMinutes = configuration.station.utcOffsetMinutes
        self.board = board
        self.stateDirectory = stateDirectory
        self.inputs = inputs.map(\.inputDescription)
        inputSources = inputs
    }

    func update(station: StationStatus, outputs: OutputSnapshot, counters: RuntimeCounters) {
        latest.withLock { $0 = Latest(station: station, outputs: outputs, counters: counters) }
    }

    func publishUplink(_ source: @escaping @Sendable () -> UplinkStatus) {
        uplinkSource.withLock { $0 = source }
    }

    func updateBacklog(_ backlog: StatusBacklog?) {
        latestBacklog.withLock { $0 = backlog }
    }

    func report() -> DaemonStatus {
        let now = latest.withLock { $0 }
        return DaemonStatus(
            stationId: stationId, stationName: stationName, board: board, pid: getpid(), stateDirectory: stateDirectory,
            uptimeSeconds: (monotonicMilliseconds() - startedMilliseconds) / 1_000, utcOffsetMinutes: utcOffsetMinutes,
            level: now.station?.level.name ?? "none", causes: now.station?.causes ?? [], station: now.station, outputs: now.outputs, inputs: inputs,
            inputCounters: inputSources.compactMap { source in
                let counters = source.statusCounters()
                return counters.isEmpty ? nil : InputCounters(input: source.inputDescription, counters: counters)
            },
            counters: now.counters, queueLimit: EventQueue.eventsQueuedMax, backlog: latestBacklog.withLock { $0 },
            uplink: uplinkSource.withLock { $0 }.map { StatusUplink($0(), utcOffsetMinutes: utcOffsetMinutes) })
    }
}

extension DaemonStatus {
    /// The status for a person at a serial console: fits 80 columns (Chinese names count double).
    func humanText() -> String {
        var lines: [String] = []
        let hours = uptimeSeconds / 3_600
        let minutes = uptimeSeconds / 60 % 60
        lines.append("\(stationName) (\(stationId)) · board \(board) · pid \(pid) · up \(hours)h\(minutes)m\(uptimeSeconds % 60)s")
        guard let station else {
            lines.append("starting: no decision yet")
            return lines.joined(separator: "\n")
        }
        func time(_ value: Timestamp?) -> String { value.map { ISO8601.format($0, utcOffsetMinutes: utcOffsetMinutes) } ?? "—" }
        var level = "Level     \(station.level.name.uppercased()) \(station.level.chineseName)"
        if !station.causes.isEmpty { level += " (causes: \(station.causes.joined(separator: ", ")))" }
        lines.append(level)
        if let latched = station.latchedLevel { lines.append("          latched \(latched.name): waits for a person to acknowledge and clear it") }
        if let drill = station.drillLevel { lines.append("          \(drill.name) drill running (outputs show \(station.outputLevel.name))") }
        if let lowerAt = station.lowerAt { lines.append("          lowers at \(time(lowerAt)) if nothing rises") }
        if let deadline = station.acknowledgementDeadline { lines.append("          waiting for an answer (叫应) until \(time(deadline))") }
        lines.append("Box time  \(time(station.time))   degraded: \(station.degraded ? "YES" : "no")")
        lines.append("Sensors")
        for sensor in station.sensors {
            var line = "  \(sensor.id.paddedRight(to: 10))\(sensor.faulty ? "FAULTY" : "ok    ")"
            if let tips = sensor.tipsTotal { line += "  tips \(tips)" }
            if let value = sensor.lastValue { line += "  \(value) at \(time(sensor.lastTime).dropFirst(11).prefix(8))" }
            if sensor.readFailuresConsecutive > 0 { line += "  \(sensor.readFailuresConsecutive) failed reads" }
            lines.append(line)
            if let reason = sensor.faultReason { lines.append("            \(reason)") }
        }
        var output = "Outputs   siren \(outputs.sirenPattern)\(outputs.sirenOn ? " (on)" : "") · lamp \(outputs.lamp ?? "off")"
        if outputs.exercise { output += " · DRILL" }
        lines.append(output)
        lines.append("          SMS \(outputs.smsSent) sent, \(outputs.smsFailed) failed, \(outputs.smsQueued) queued")
        if let spoken = outputs.lastSpoken { lines.append("          last spoken: \(spoken)") }
        lines.append("Inputs    \(inputs.joined(separator: "; "))")
        for input in inputCounters {
            // Zero counts say nothing at a glance; a technician looks for what is not zero.
            let counts = input.counters.filter { $0.value != 0 }.map { "\($0.name) \($0.value)" }
            lines.append("          \(input.input):")
            // Wrapped, not cut: every count matters to the technician reading it.
            var line = "           "
            for count in counts.isEmpty ? ["no counts yet"] : counts {
                if line.count + count.count + 2 > Self.columnsMax, line.count > 11 {
                    lines.append(line)
                    line = "           "
                }
                line += " " + count + ","
            }
            lines.append(String(line.dropLast()))
        }
        lines.append("Queue     \(counters.queueDepth) of \(queueLimit) (most ever \(counters.queueDepthHighWater)); \(counters.eventsHandled) events, \(counters.decisions) decisions")
        lines.append("State     journal #\(counters.journalSequence), \(counters.journalRecordsSinceSnapshot) records since the last of \(counters.snapshotsWritten) snapshots")
        if let backlog {
            lines.append("Outbox    \(backlog.undelivered) for the county (\(backlog.undeliveredAlarms) alarms, \(backlog.undeliveredEvents) events, \(backlog.undeliveredRoutine) routine); last #\(backlog.lastSequence)")
            if let oldest = backlog.oldestUndelivered { lines.append("          oldest waiting since \(oldest)") }
            if backlog.damaged > 0 { lines.append("          \(backlog.damaged) DAMAGED report(s) in the outbox: served to the county as damaged; see the start-up log") }
        }
        if let uplink { lines += uplink.lines }
        if counters.stateWriteFailures > 0 { lines.append("          \(counters.stateWriteFailures) STATE WRITE FAILURES: see the log; a restart would lose recent inputs") }
        return lines.map { $0.truncated(toColumns: Self.columnsMax) }.joined(separator: "\n")
    }

    /// A serial console is 80 columns; a longer line wraps into the next and garbles the page.
    static let columnsMax = 80
}

extension String {
    /// Columns on a terminal: Chinese characters and full-width forms take two.
    var terminalColumns: Int { unicodeScalars.reduce(0) { $0 + $1.terminalColumns } }

    /// The text cut to `columns` on a terminal, with "…" where it was cut.
    func truncated(toColumns columns: Int) -> String {
        guard terminalColumns > columns else { return self }
        var result = ""
        var used = 0
        for character in self {
            let width = String(character).terminalColumns
            if used + width > columns - 1 { break }
            result.append(character)
            used += width
        }
        return result + "…"
    }
}

extension Unicode.Scalar {
    /// 2 for East Asian wide and full-width scalars (Hangul, CJK, full-width forms), else 1.
    var terminalColumns: Int {
        switch value {
        case 0x1100...0x115F, 0x2E80...0x303E, 0x3041...0x33FF, 0x3400...0x4DBF, 0x4E00...0x9FFF, 0xA000...0xA4CF,
            0xAC00...0xD7A3, 0xF900...0xFAFF, 0xFE30...0xFE4F, 0xFF00...0xFF60, 0xFFE0...0xFFE6, 0x20000...0x3FFFD:
            2
        default:
            1
        }
    }
}
