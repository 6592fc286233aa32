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
    /// Each configured sensor's kind, unit and resolution (decimals), for showing its values.
    var sensorDetails: [SensorDetail] = []
    /// The county uplink as the push sees it (issue 18); nil without a push.
    var uplink: StatusUplink? = nil
}

/// A sensor as the status shows it: values are rounded to what the sensor resolves.
struct SensorDetail: Codable, Sendable, Equatable {
    var id: String
    var kind: String
    var unit: String
    /// Decimals the sensor resolves: a 0.2 mm tip gives 1, a 0.254 mm tip 3, a level in m 3 (mm).
    var decimals: Int

    init(_ sensor: SensorConfiguration) {
        id = sensor.id
        kind = sensor.kind.rawValue
        unit = sensor.unit
        switch sensor.kind {
        case .rainGauge:
            var micrometres = sensor.micrometersPerTip ?? 100
            var decimals = 3
            while decimals > 0, micrometres % 10 == 0 {
                micrometres /= 10
                decimals -= 1
            }
            self.decimals = decimals
        case .waterLevel: decimals = 3
        case .displacement: decimals = 2
        }
    }
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

    let sensorDetails: [SensorDetail]

    init(configuration: EngineConfiguration, board: String, stateDirectory: String, inputs: [any GatewayInput]) {
        sensorDetails = configuration.sensors.map(SensorDetail.init)
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
            counters: now.counters, queueLimit: EventQueue.eventsQueuedMax, backlog: latestBacklog.withLock { $0 }, sensorDetails: sensorDetails,
            uplink: uplinkSource.withLock { $0 }.map { StatusUplink($0(), utcOffsetMinutes: utcOffsetMinutes) })
    }
}

extension DaemonStatus {
    /// Decimals for a measure's values: the sensor's resolution, a tenth of a degree for angles.
    func decimals(of measure: MeasureStatus) -> Int {
        if case .tangentAngle = measure.measure { return 1 }
        return sensorDetails.first { $0.id == measure.sensorId }?.decimals ?? 2
    }

    func decimals(ofSensor id: String) -> Int { sensorDetails.first { $0.id == id }?.decimals ?? 3 }

    /// The status for a person at a serial console: 80 columns (Chinese names count double).
    /// Long lines wrap under their heading rather than being cut: causes and inputs are what a
    /// technician came to read.
    func humanText() -> String {
        var lines: [String] = []
        func add(_ line: String) { lines += Self.wrapped(line, indent: 10) }
        let hours = uptimeSeconds / 3_600
        let minutes = uptimeSeconds / 60 % 60
        add("\(stationName) (\(stationId)) · board \(board) · pid \(pid) · up \(hours)h\(minutes)m\(uptimeSeconds % 60)s")
        guard let station else {
            add("starting: no decision yet")
            return lines.joined(separator: "\n")
        }
        func time(_ value: Timestamp?) -> String { value.map { ISO8601.format($0, utcOffsetMinutes: utcOffsetMinutes) } ?? "—" }
        var level = "Level     \(station.level.name.uppercased()) \(station.level.chineseName)"
        if !station.causes.isEmpty { level += " (causes: \(station.causes.joined(separator: ", ")))" }
        add(level)
        if let latched = station.latchedLevel { add("          latched \(latched.name): waits for a person to acknowledge and clear it") }
        if let drill = station.drillLevel { add("          \(drill.name) drill running (outputs show \(station.outputLevel.name))") }
        if let lowerAt = station.lowerAt { add("          lowers at \(time(lowerAt)) if nothing rises") }
        if let answer = station.acknowledgement {
            // Who answered (how, how fast) and who not; the names wrap, none is cut.
            let state = answer.complete ? "complete" : answer.deadline.map { "next round \(time($0).dropFirst(11).prefix(8))" } ?? "no more rounds"
            add("叫应      \(answer.exercise ? "drill " : "")\(answer.level.name) · \(state)")
            let answered = answer.answered.map { "\($0.by) \($0.channel.rawValue) \(max(0, $0.time.milliseconds(since: answer.requestedAt)) / 1000) s" }
            for (label, names) in [("answered", answered.isEmpty ? ["nobody yet"] : answered), ("waiting ", answer.waiting)] where !names.isEmpty {
                lines += Self.wrapped("          \(label) " + names.joined(separator: ", "), indent: 18)
            }
        }
        add("Box time  \(time(station.time))   degraded: \(station.degraded ? "YES" : "no")")
        if !station.measures.isEmpty {
            add("Rules     now, and the thresholds met and next")
            for measure in station.measures { lines.append(ruleLine(measure)) }
        }
        add("Sensors")
        for sensor in station.sensors {
            var line = "  \(sensor.id.paddedRight(to: 10))\(sensor.faulty ? "FAULTY" : "ok    ")"
            if let tips = sensor.tipsTotal { line += "  tips \(tips)" }
            if let value = sensor.lastValue {
                let unit = sensorDetails.first { $0.id == sensor.id }?.unit ?? ""
                line += "  \(Self.fixed(value, decimals: decimals(ofSensor: sensor.id))) \(unit) at \(time(sensor.lastTime).dropFirst(11).prefix(8))"
            }
            if sensor.readFailuresConsecutive > 0 { line += "  \(sensor.readFailuresConsecutive) failed reads" }
            add(line)
            if let reason = sensor.faultReason { lines += Self.wrapped("            \(reason)", indent: 12) }
        }
        var output = "Outputs   siren \(outputs.sirenPattern)\(outputs.sirenOn ? " (on)" : "") · lamp \(outputs.lamp ?? "off")"
        if outputs.exercise { output += " · DRILL" }
        add(output)
        add("          SMS \(outputs.smsSent) sent, \(outputs.smsFailed) failed, \(outputs.smsQueued) queued")
        if let modem = outputs.modem {
            var line = "Modem     \(modem.open ? modem.registration ?? "registration not read yet" : "NOT OPEN")"
            if modem.open, let data = modem.data { line += " · data \(data)" }
            line += " · signal \(modem.signalDBm.map { "\($0) dBm" } ?? "unknown")"
            add(line)
            add("          \(modem.model) on \(modem.port)")
            if let error = modem.lastError { add("          last error: \(error)") }
        }
        if let spoken = outputs.lastSpoken { add("          last spoken: \(spoken)") }
        add("Inputs    \(inputs.joined(separator: "; "))")
        for input in inputCounters {
            // Zero counts say nothing at a glance; a technician looks for what is not zero.
            let counts = input.counters.filter { $0.value != 0 }.map { "\($0.name) \($0.value)" }
            add("          \(input.input):")
            lines += counts.isEmpty ? ["            no counts yet"] : Self.wrappedList(counts, indent: 12)
        }
        add("Queue     \(counters.queueDepth) of \(queueLimit) (most ever \(counters.queueDepthHighWater)); \(counters.eventsHandled) events, \(counters.decisions) decisions")
        add("State     journal #\(counters.journalSequence), \(counters.journalRecordsSinceSnapshot) records since the last of \(counters.snapshotsWritten) snapshots")
        if counters.stateWritesQueued > 0 || counters.decisionsOwed > 0 {
            // The disk is behind the decisions (group commit): outputs are switched, SMS and reports wait.
            add("          \(counters.stateWritesQueued) writes waiting for the disk (most ever \(counters.stateWritesQueuedHighWater)); \(counters.decisionsOwed) decisions' SMS and reports waiting for their record")
        }
        if let backlog {
            add("Outbox    \(backlog.undelivered) waiting for the county (\(backlog.undeliveredAlarms) alarms, \(backlog.undeliveredEvents) events, \(backlog.undeliveredRoutine) routine); last #\(backlog.lastSequence)")
            if let oldest = backlog.oldestUndelivered {
                let age = backlog.oldestUndeliveredMilliseconds.map { " (\(Self.age(milliseconds: station.time.millisecondsSinceUnixEpoch - $0)))" } ?? ""
                add("          oldest waiting since \(oldest)\(age)")
            }
            if backlog.damaged > 0 { add("          \(backlog.damaged) DAMAGED report(s) in the outbox: served to the county as damaged; see the start-up log") }
        }
        if let uplink { uplink.lines.forEach { add($0) } }
        if counters.stateWriteFailures > 0 { add("          \(counters.stateWriteFailures) STATE WRITE FAILURES: see the log; a restart would lose recent inputs") }
        return lines.joined(separator: "\n")
    }

    /// How long something has waited, to the minute: "6d 23h 59m", "2h 5m", "40s".
    static func age(milliseconds: Int64) -> String {
        let seconds = max(0, milliseconds) / 1_000
        let days = seconds / 86_400, hours = seconds / 3_600 % 24, minutes = seconds / 60 % 60
        if days > 0 { return "\(days)d \(hours)h \(minutes)m" }
        if hours > 0 { return "\(hours)h \(minutes)m" }
        if minutes > 0 { return "\(minutes)m \(seconds % 60)s" }
        return "\(seconds)s"
    }

    /// `  rain-1h       62.0 mm    orange ≥ 60   next red ≥ 80`: the measure against its
    /// thresholds, so a technician sees how near the next level is.
    func ruleLine(_ measure: MeasureStatus) -> String {
        let decimals = decimals(of: measure)
        let value = measure.value.map { Self.fixed($0, decimals: decimals) + " " + measure.measure.unit } ?? "— no data"
        var line = "  " + measure.ruleId.paddedRight(to: 14) + value.paddedRight(to: 13)
        let defined = measure.thresholds.defined
        if let met = defined.last(where: { $0.level <= measure.levelMet && measure.levelMet != .none }) {
            line += "\(met.level.name) ≥ \(tomlNumber(met.value))   "
        }
        if let next = defined.first(where: { $0.level > measure.levelMet }) {
            line += "next \(next.level.name) ≥ \(tomlNumber(next.value))"
        } else if measure.levelMet != .none {
            line += "(the highest)"
        }
        return line.truncated(toColumns: Self.columnsMax)
    }

    /// A value with a fixed number of decimals: `62.0`, `2.000`, never `0.026000000000000023`.
    static func fixed(_ value: Double, decimals: Int) -> String {
        guard value.isFinite else { return tomlNumber(value) }
        var scale = 1.0
        for _ in 0..<decimals { scale *= 10 }
        let scaled = (abs(value) * scale).rounded()
        let whole = Int64(scaled / scale)
        var text = (value < 0 && scaled != 0 ? "-" : "") + String(whole)
        if decimals > 0 {
            let fraction = String(Int64(scaled) - whole * Int64(scale))
            text += "." + String(repeating: "0", count: decimals - fraction.count) + fraction
        }
        return text
    }

    /// One line cut at spaces into lines of at most 80 columns, the rest indented by `indent`.
    /// The line's own indent stays; Chinese, which may break between any two characters, fills
    /// a line rather than leaving it half empty.
    static func wrapped(_ line: String, indent: Int) -> [String] {
        guard line.terminalColumns > columnsMax else { return [line] }
        let pad = String(repeating: " ", count: indent)
        var result: [String] = []
        var current = ""
        // What goes before the next word: nothing at a line's start, else the space split took.
        var separator = ""
        for piece in line.split(separator: " ", omittingEmptySubsequences: false) {
            var word = String(piece)
            while true {
                let candidate = current + separator + word
                if candidate.terminalColumns <= columnsMax {
                    current = candidate
                    separator = " "
                    break
                }
                let head = word.unicodeScalars.contains { $0.terminalColumns > 1 }
                    ? word.prefix(columns: columnsMax - (current + separator).terminalColumns) : ""
                if !head.isEmpty {
                    result.append(current + separator + head)
                    word = String(word.dropFirst(head.count))
                } else if current.trimmingSpaces.isEmpty {
                    current = candidate  // one word wider than a line: cut below
                    separator = " "
                    break
                } else {
                    result.append(current)
                }
                current = pad
                separator = ""
            }
        }
        if !current.trimmingSpaces.isEmpty { result.append(current) }
        return result.map { $0.truncated(toColumns: columnsMax) }
    }

    /// Items joined by ", " into lines of at most 80 columns indented by `indent`, an item never
    /// cut in two ("slave 3 timeouts 3" stays on one line, where a technician reads it).
    static func wrappedList(_ items: [String], indent: Int) -> [String] {
        let pad = String(repeating: " ", count: indent)
        var result: [String] = []
        var current = ""
        for (index, item) in items.enumerated() {
            let piece = index == items.count - 1 ? item : item + ","
            let candidate = current.isEmpty ? pad + piece : current + " " + piece
            if candidate.terminalColumns > columnsMax, !current.isEmpty {
                result.append(current)
                current = pad + piece
            } else {
                current = candidate
            }
        }
        if !current.isEmpty { result.append(current) }
        return result.map { $0.truncated(toColumns: columnsMax) }
    }

    /// A serial console is 80 columns; a longer line wraps into the next and garbles the page.
    static let columnsMax = 80
}

extension String {
    /// Columns on a terminal: Chinese characters and full-width forms take two.
    var terminalColumns: Int { unicodeScalars.reduce(0) { $0 + $1.terminalColumns } }

    /// The longest start of the text that takes at most `columns` on a terminal.
    func prefix(columns: Int) -> String {
        var result = ""
        var used = 0
        for character in self {
            let width = String(character).terminalColumns
            if used + width > columns { break }
            result.append(character)
            used += width
        }
        return result
    }

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
