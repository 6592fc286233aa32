// Scenario files for `simulate` and `--board sim`: CSV rows `time,sensor,value` turned into engine events.
import WarningLogic

/// A scenario, already checked against the configuration and turned into engine events.
struct Scenario: Sendable {
    struct Row: Sendable, Equatable {
        /// The line in the file, for messages.
        var line: Int
        var event: Event
    }

    var rows: [Row]
    /// The offset written in the scenario's times (the first row's), used for printing when the
    /// configuration's station offset is not wanted.
    var utcOffsetMinutes: Int?

    /// A scenario larger than this is refused rather than read into memory: 30 days of one row per
    /// minute for 8 sensors is 345 600 rows, so this leaves room for a season.
    static let rowsMax = 5_000_000
    /// Reading stops after this many problems; the first ones are what a person fixes first.
    static let problemsMax = 50

    /// The pseudo-sensors that inject events other than readings.
    static let controlNames = ["ack", "manual", "drill", "county", "clear", "sms_reply", "call_in"]

    static func load(path: String, configuration: EngineConfiguration) throws(ScenarioError) -> Scenario {
        let text: String
        do {
            text = try readTextFile(path: path)
        } catch {
            throw ScenarioError(problems: ["\(path): cannot read the scenario: \(error)"])
        }
        return try parse(text: text, file: path, configuration: configuration)
    }

    static func parse(text: String, file: String, configuration: EngineConfiguration) throws(ScenarioError) -> Scenario {
        var problems: [String] = []
        func problem(_ line: Int, _ message: String) {
            if problems.count < problemsMax { problems.append("\(file):\(line): \(message)") }
        }
        let sensorsById = Dictionary(configuration.sensors.map { ($0.id, $0) }, uniquingKeysWith: { first, _ in first })
        // Rain arrives as millimetres per interval; the gauge only knows whole tips, so the part of
        // a tip that has not yet fallen is carried to that gauge's next row, as the bucket would.
        var carriedMicrometers: [String: Int64] = [:]
        var rows: [Row] = []
        var previousTime: Timestamp?
        var previousLine = 0
        var sawHeader = false
        var utcOffsetMinutes: Int?
        var lineNumber = 0

        // Split on any newline: in Swift "\r\n" (files written on Windows) is one Character.
        for rawLine in text.split(omittingEmptySubsequences: false, whereSeparator: \.isNewline) {
            lineNumber += 1
            var line = Substring(rawLine)
            if lineNumber == 1, line.hasPrefix("\u{FEFF}") { line = line.dropFirst() }
            let trimmed = line.trimmingSpaces()
            if trimmed.isEmpty || trimmed.hasPrefix("#") { continue }
            let fields: [String]
            switch splitCSV(Substring(trimmed)) {
            case .success(let parsed): fields = parsed
            case .failure(let message):
                problem(lineNumber, message)
                continue
            }
            if !sawHeader {
                sawHeader = true
                if fields.map({ $0.lowercased() }) != ["time", "sensor", "value"] {
                    problem(lineNumber, "the first line must be the header 'time,sensor,value', found '\(trimmed)'")
                    if ISO8601.parse(fields.first ?? "") == nil { continue }
                } else {
                    continue
                }
            }
            guard fields.count == 3 else {
                problem(lineNumber, "expected 3 fields (time,sensor,value), found \(fields.count)")
                continue
            }
            guard rows.count < rowsMax else {
                problem(lineNumber, "the scenario has more than \(rowsMax) rows; split it")
                break
            }
            let (timeText, sensor, value) = (fields[0], fields[1], fields[2])
            let parsed: ISO8601.Parsed
            do {
                parsed = try ISO8601.parseOrExplain(timeText)
            } catch {
                problem(lineNumber, "time '\(timeText)': \(error.description); expected \(ISO8601.expectedForm)")
                continue
            }
            if utcOffsetMinutes == nil { utcOffsetMinutes = parsed.utcOffsetMinutes }
            if let previousTime, parsed.time < previousTime {
                problem(lineNumber, "time \(timeText) is before the previous row's (line \(previousLine)): rows must be in time order")
                continue
            }
            previousTime = parsed.time
            previousLine = lineNumber
            let time = parsed.time

            if let sensorConfiguration = sensorsById[sensor] {
                let lowered = value.lowercased()
                if lowered == "fail" || lowered.hasPrefix("fail:") {
                    let reason = lowered == "fail" ? "read failure (scenario)" : String(value.dropFirst(5)).trimmingSpaces()
                    rows.append(Row(line: lineNumber, event: Event(time: time, kind: .readFailure(sensorId: sensor, reason: reason))))
                    continue
                }
                guard let number = Double(value), number.isFinite else {
                    problem(lineNumber, "\(sensor): value '\(value)' is not a number (or 'fail' for a failed read)")
                    continue
                }
                if sensorConfiguration.kind == .rainGauge {
                    guard number >= 0 else {
                        problem(lineNumber, "\(sensor): rain \(value) mm is negative; rain rows give the mm that fell in the interval ending at the time")
                        continue
                    }
                    guard number <= 1_000 else {
                        problem(lineNumber, "\(sensor): rain \(value) mm in one row is more than 1000 mm; is this a cumulative total? rows give the rain of one interval")
                        continue
                    }
                    let micrometersPerTip = sensorConfiguration.micrometersPerTip ?? 1
                    let fallen = carriedMicrometers[sensor, default: 0] + Int64((number * 1000).rounded())
                    let tips = fallen / micrometersPerTip
                    carriedMicrometers[sensor] = fallen % micrometersPerTip
                    if tips > 0 {
                        rows.append(Row(line: lineNumber, event: Event(time: time, kind: .tips(sensorId: sensor, count: Int(tips)))))
                    }
                } else {
                    rows.append(Row(line: lineNumber, event: Event(time: time, kind: .reading(sensorId: sensor, value: number))))
                }
                continue
            }

            let kind: Event.Kind
            switch sensor {
            case "ack":
                kind = .acknowledge(by: value.isEmpty ? "scenario" : value, channel: .scenario)
            case "sms_reply", "call_in":
                // A person answering from their phone: `PHONE TEXT` (an SMS reply; TEXT may be
                // left out) or `PHONE` (a call to the box). The engine finds the contact by number
                // exactly as for a reply the modem reads.
                let parts = value.split(separator: " ", maxSplits: 1).map(String.init)
                guard let phone = parts.first, PhoneNumber.comparable(phone) != nil else {
                    problem(lineNumber, "\(sensor): '\(value)' does not start with a phone number; write \(sensor == "sms_reply" ? "'+8613800000001 收到'" : "'+8613800000001'")")
                    continue
                }
                if sensor == "sms_reply" {
                    kind = .reply(phone: phone, channel: .sms, text: parts.count > 1 ? parts[1].trimmingSpaces() : "")
                } else {
                    guard parts.count == 1 else {
                        problem(lineNumber, "call_in: '\(value)' is a phone number and nothing else (a call carries no text)")
                        continue
                    }
                    kind = .reply(phone: phone, channel: .call, text: "")
                }
            case "clear":
                kind = .clearLatch(by: value.isEmpty ? "scenario" : value)
            case "manual":
                guard let level = WarningLevel(name: value.lowercased()) else {
                    problem(lineNumber, "manual: '\(value)' is not a level; allowed: none, blue, yellow, orange, red")
                    continue
                }
                kind = .manual(level: level, by: "scenario")
            case "drill":
                // `drill,red`, or `drill,red --force` to drill over a real blue (as the shell's
                // --force); the engine refuses any drill while a real yellow or more is in force.
                let words = value.lowercased().split(separator: " ").map(String.init)
                let force = words.count == 2 && words[1] == "--force"
                if words == ["stop"] {
                    kind = .drillStop(by: "scenario")
                } else if words.count == 1 || force, let level = WarningLevel(name: words[0]), level != .none {
                    kind = .drillStart(level: level, by: "scenario", force: force ? true : nil)
                } else {
                    problem(lineNumber, "drill: '\(value)' is neither a level to drill (blue, yellow, orange, red, optionally followed by --force) nor 'stop'")
                    continue
                }
            case "county":
                if value.lowercased() == "cancel" {
                    kind = .countyCancel(id: "scenario")
                } else if let level = WarningLevel(name: value.lowercased()), level != .none {
                    kind = .countyWarning(id: "scenario", level: level, text: nil)
                } else {
                    problem(lineNumber, "county: '\(value)' is neither a level (blue, yellow, orange, red) nor 'cancel'")
                    continue
                }
            default:
                let known = configuration.sensors.map(\.id) + controlNames
                problem(lineNumber, "unknown sensor '\(sensor)'; the configuration has: \(known.joined(separator: ", "))")
                continue
            }
            rows.append(Row(line: lineNumber, event: Event(time: time, kind: kind)))
        }
        if !sawHeader { problem(max(lineNumber, 1), "the scenario is empty: expected the header 'time,sensor,value' and rows") }
        guard problems.isEmpty else { throw ScenarioError(problems: problems) }
        return Scenario(rows: rows, utcOffsetMinutes: utcOffsetMinutes)
    }

    private enum SplitResult {
        case success([String])
        case failure(String)
    }

    /// Splits one CSV line: commas separate fields; a field in double quotes may hold commas,
    /// and "" inside quotes is one quote. Spaces around fields are dropped.
    private static func splitCSV(_ line: Substring) -> SplitResult {
        var fields: [String] = []
        var field = ""
        var inQuotes = false
        var wasQuoted = false
        var iterator = line.makeIterator()
        var pending: Character? = nil
        while let character = pending ?? iterator.next() {
            pending = nil
            if inQuotes {
                if character == "\"" {
                    if let next = iterator.next() {
                        if next == "\"" { field.append("\"") } else { inQuotes = false; pending = next }
                    } else {
                        inQuotes = false
                    }
                } else {
                    field.append(character)
                }
            } else if character == "," {
                fields.append(wasQuoted ? field : String(field.trimmingSpaces()))
                field = ""
                wasQuoted = false
            } else if character == "\"" && field.allSatisfy({ $0 == " " }) {
                field = ""
                inQuotes = true
                wasQuoted = true
            } else {
                field.append(character)
            }
        }
        if inQuotes { return .failure("a quoted field is not closed (missing \")") }
        fields.append(wasQuoted ? field : String(field.trimmingSpaces()))
        return .success(fields)
    }
}

struct ScenarioError: Error, CustomStringConvertible {
    var problems: [String]
    var description: String { problems.joined(separator: "\n") }
}

extension StringProtocol {
    /// The text without leading and trailing spaces and tabs.
    func trimmingSpaces() -> String {
        var view = Substring(self)
        while let first = view.first, first == " " || first == "\t" { view = view.dropFirst() }
        while let last = view.last, last == " " || last == "\t" { view = view.dropLast() }
        return String(view)
    }
}
