// Every configuration key, described once: its table, name, type, unit, default, allowed range
// and meaning. Everything else is driven from here: the reader reads each key by its description
// (type, bounds, meaning in the message, default when absent), the effective-configuration
// printer marks `# default` by it, the shell's set/unset/show/help/completion and the editor's
// tables come from it, and tests hold config/example.toml to it. A new key is one entry here,
// then its use in ConfigurationReader* (which says where the value goes).
import Drivers
import WarningLogic

/// One key of one table, as a technician would look it up.
struct ConfigurationKey: Sendable, Equatable {
    enum Kind: Sendable, Equatable {
        case text, integer, number, boolean, duration, level, levels, list, inlineTable
        /// One of these words.
        case choice([String])
        /// A table of its own below this one (`[county.push]`): its keys are set one by one.
        case subtable

        var description: String {
            switch self {
            case .text: "text"
            case .integer: "whole number"
            case .number: "number"
            case .boolean: "true or false"
            case .duration: "duration (\"90s\", \"30m\", \"6h\", \"7d\")"
            case .level: "level (blue, yellow, orange, red)"
            case .levels: "list of levels, e.g. [\"red\"]"
            case .list: "list"
            case .inlineTable: "inline table { key = value, … }"
            case .choice(let words): words.joined(separator: " | ")
            case .subtable: "table: set its keys one by one"
            }
        }
    }

    /// The bounds the reader holds a whole number or a duration to.
    enum Bounds: Sendable, Equatable {
        case integers(ClosedRange<Int>)
        /// Milliseconds.
        case durations(ClosedRange<Int64>)

        var description: String {
            switch self {
            case .integers(let range): "\(range.lowerBound) to \(range.upperBound)"
            case .durations(let range): "\(formatDuration(range.lowerBound)) to \(formatDuration(range.upperBound))"
            }
        }
    }

    /// The table as the schema names it: `station`, `sensor` (each [[sensor]] block),
    /// `sensor.modbus`, `outputs.*` (each [outputs.LEVEL]), `buses.*`, `county.api`.
    var table: String
    var name: String
    var kind: Kind
    var unit: String?
    /// As TOML (`"60m"`, `0.85`); nil when the key is required or has no default (not set: off).
    var defaultValue: String?
    var required = false
    /// The bounds the reader checks (whole numbers and durations).
    var bounds: Bounds?
    /// What is allowed, in words, beyond the type and bounds ("10 digits").
    var range: String?
    var meaning: String
    /// Never shown by the shell (`show`, `help`, `diff`, the answer to `set`, the audit record).
    var isSecret = false

    /// The bounds and the rest of what is allowed, in words; nil when the type says it all.
    var allowed: String? {
        let parts = [bounds?.description, range].compactMap { $0 }
        return parts.isEmpty ? nil : parts.joined(separator: "; ")
    }

    /// `help KEY`: everything the schema knows about the key, for a terminal.
    var helpText: String {
        var lines = ["\(table).\(name): \(meaning)", "  type     \(kind.description)"]
        if let unit { lines.append("  unit     \(unit)") }
        if let allowed { lines.append("  allowed  \(allowed)") }
        lines.append("  default  " + (required ? "none: required" : defaultValue ?? "none (not set: off or not used)"))
        return lines.joined(separator: "\n")
    }
}

/// A top-level table of gateway.toml and how its keys are named in the shell.
struct ConfigurationTable: Sendable {
    enum Kind: Sendable, Equatable {
        /// `[station]`: `station.KEY`; a sub-table `[county.push]`: `county.push.KEY`.
        case table
        /// `[[rule]]` blocks, named by the key given: `rule.rain-1h.KEY`.
        case arrayById(String)
        /// `[outputs.red]`: `outputs.red.KEY`.
        case tableOfTables
    }

    var name: String
    /// As the file writes it, for messages: `[[sensor]]`, `[outputs.<level>]`.
    var written: String
    var kind: Kind
}

enum ConfigurationSchema {
    private static func key(
        _ table: String, _ name: String, _ kind: ConfigurationKey.Kind, unit: String? = nil, default value: String? = nil,
        required: Bool = false, bounds: ConfigurationKey.Bounds? = nil, range: String? = nil, secret: Bool = false, _ meaning: String
    ) -> ConfigurationKey {
        ConfigurationKey(
            table: table, name: name, kind: kind, unit: unit, defaultValue: value, required: required, bounds: bounds, range: range,
            meaning: meaning, isSecret: secret)
    }

    private static func integers(_ range: ClosedRange<Int>) -> ConfigurationKey.Bounds { .integers(range) }
    private static func durations(_ range: ClosedRange<Int64>) -> ConfigurationKey.Bounds { .durations(range) }
    private static let second = Milliseconds.second, minute = Milliseconds.minute, hour = Milliseconds.hour, day = Milliseconds.day

    /// The top-level tables, in the example file's order. The reader refuses any other; the
    /// shell names keys by them.
    static let tables: [ConfigurationTable] = [
        .init(name: "station", written: "[station]", kind: .table), .init(name: "logic", written: "[logic]", kind: .table),
        .init(name: "acknowledgement", written: "[acknowledgement]", kind: .table),
        .init(name: "sensor", written: "[[sensor]]", kind: .arrayById("id")), .init(name: "rule", written: "[[rule]]", kind: .arrayById("id")),
        .init(name: "combined_rule", written: "[[combined_rule]]", kind: .arrayById("id")),
        .init(name: "contact", written: "[[contact]]", kind: .arrayById("name")),
        .init(name: "outputs", written: "[outputs.<level>]", kind: .tableOfTables),
        .init(name: "buses", written: "[buses.<name>]", kind: .tableOfTables),
        .init(name: "county", written: "[county]", kind: .table),
        .init(name: "shell", written: "[shell]", kind: .table), .init(name: "drill", written: "[drill]", kind: .table),
    ]

    static func table(named name: String) -> ConfigurationTable? { tables.first { $0.name == name } }

    static let levelChoice = ConfigurationKey.Kind.choice(WarningLevel.colours.map(\.name))
    static let thresholdMeaning = "threshold: the level is reached when the measure is at or above it; thresholds increase with the level"

    static let keys: [ConfigurationKey] = stationKeys + logicKeys + acknowledgementKeys + sensorKeys + sensorModbusKeys + busesAnyKeys + ruleKeys + combinedRuleKeys + contactKeys + outputsAnyKeys + drillKeys + shellKeys + countyKeys

    // The keys, table by table (one expression each, for the type checker).
    private static let stationKeys: [ConfigurationKey] = [
        key("station", "id", .text, required: true, range: "10 digits", "the SL 651 station address"),
        key("station", "name", .text, required: true, "the village's name, shown in messages and reports"),
        key("station", "utc_offset", .text, default: "\"+08:00\"", range: "±hh:mm", "local time offset"),
        key("station", "latitude", .number, unit: "°N", range: "-90 to 90, with longitude", "where the box stands (WGS-84): the county's map and the CAP alert's circle"),
        key("station", "longitude", .number, unit: "°E", range: "-180 to 180, with latitude", "where the box stands (WGS-84): the county's map and the CAP alert's circle"),
    ]

    private static let logicKeys: [ConfigurationKey] = [
        key("logic", "clear_after", .duration, default: "\"60m\"", bounds: durations(minute...(7 * day)), "lower a level only after no rule met it for this long"),
        key("logic", "latch", .levels, default: "[]", "levels that stay until a person clears them"),
        key("logic", "antecedent_k", .number, default: "0.85", range: "above 0 and below 1 (0.8 to 0.9 is usual)", "daily decay k of the antecedent rain index P_a"),
        key("logic", "rain_day_start_hour", .integer, unit: "hour", default: "8", bounds: integers(0...23), "local hour the rain day starts; 8 in China"),
        key("logic", "tips_per_minute_max", .integer, unit: "tips/min", default: "600", bounds: integers(1...6_000), "more tips a minute is a chattering switch, not rain"),
    ]

    private static let acknowledgementKeys: [ConfigurationKey] = [
        key("acknowledgement", "from_level", .choice(WarningLevel.colours.map(\.name) + ["none"]), default: "\"yellow\"",
            "ask for an answer (叫应) from this level up; none: never ask"),
        key("acknowledgement", "deadline", .duration, default: "\"10m\"", bounds: durations(minute...day), "unanswered this long: repeat the broadcast, SMS the next order"),
        key("acknowledgement", "escalations_max", .integer, default: "5", bounds: integers(0...20), "stop escalating after this many (the level stays)"),
        key("acknowledgement", "answer_keywords", .list, default: "[]", range: "short texts", "SMS replies that count as an answer; [] (default): any reply from a contact"),
        key("acknowledgement", "call_unanswered", .boolean, default: "false", "ring those silent at a deadline instead of texting them again"),
        key("acknowledgement", "call_ring", .duration, default: "\"30s\"", bounds: durations((10 * second)...(2 * minute)), "how long the box lets a call it makes ring"),
    ]

    private static let sensorKeys: [ConfigurationKey] = [
        key("sensor", "id", .text, required: true, range: "letters, digits, _ and -; unique", "the sensor's name, used by rules"),
        key("sensor", "kind", .choice(SensorKind.allCases.map(\.rawValue)), required: true, "what the sensor measures"),
        key("sensor", "unit", .text, range: "rain_gauge \"mm\", water_level \"m\", displacement \"mm\"", "the kind's unit (optional, checked)"),
        key("sensor", "mm_per_tip", .number, unit: "mm", range: "> 0, at most 3 decimals; rain gauges only (required)", "rain depth of one tip"),
        key("sensor", "range", .list, range: "[minimum, maximum]; water_level and displacement", "a reading outside it makes the sensor faulty"),
        key("sensor", "stale_after", .duration, bounds: durations(minute...(7 * day)), range: "water_level and displacement", "no reading this long makes the sensor faulty"),
        key("sensor", "read_failures_max", .integer, default: "3", bounds: integers(1...100), "failed reads in a row that make the sensor faulty"),
        key("sensor", "baseline", .number, unit: "mm", range: "displacement only", "cumulative displacement is measured from it (not set: the first reading)"),
        key("sensor", "steady_rate", .number, unit: "mm/day", range: "> 0; displacement only", "the slope's steady creep, for the tangent angle"),
        key("sensor", "tangent_span", .duration, default: "\"24h\"", bounds: durations(hour...(7 * day)), range: "displacement only", "span of the tangent angle's rate"),
        key("sensor", "input", .choice([BoardInputFunction.rainGauge, .rainGauge2].map(\.rawValue)), range: "rain gauges only", "the board input the reed switch is wired to"),
        key("sensor", "modbus", .inlineTable, range: "water_level and displacement", "how the box reads the sensor over RS-485 Modbus RTU"),
    ]

    private static let sensorModbusKeys: [ConfigurationKey] = [
        key("sensor.modbus", "bus", .choice(BoardSerialFunction.busNames), default: "\"rs485\"", "the bus, as named in the board file"),
        key("sensor.modbus", "slave", .integer, required: true, bounds: integers(1...247), "the sensor's Modbus address, as set on the sensor"),
        key("sensor.modbus", "function", .integer, default: "3", bounds: integers(3...4), "3 reads holding registers, 4 input registers; the sensor's manual says which"),
        key("sensor.modbus", "register", .integer, required: true, bounds: integers(0...65_535), "the first register's address as sent on the wire, 0-based (a manual's 40001 is 0)"),
        key("sensor.modbus", "type", .choice(ModbusValueType.allCases.map(\.rawValue)), default: "\"uint16\"", "how the registers hold the value"),
        key("sensor.modbus", "word_order", .choice(ModbusWordOrder.allCases.map(\.rawValue)), default: "\"big\"", "32-bit types: which register is high (little: CDAB)"),
        key("sensor.modbus", "byte_order", .choice(ModbusByteOrder.allCases.map(\.rawValue)), default: "\"big\"", "bytes within a register"),
        key("sensor.modbus", "scale", .number, default: "1", range: "not 0", "reading = raw × scale + offset"),
        key("sensor.modbus", "offset", .number, default: "0", "reading = raw × scale + offset"),
        key("sensor.modbus", "poll_every", .duration, default: "\"10s\"", bounds: durations(ConfigurationLimits.modbusPollEveryMilliseconds), range: "shorter than stale_after", "how often the sensor is read"),
    ]

    private static let busesAnyKeys: [ConfigurationKey] = [
        key("buses.*", "baud", .integer, unit: "bit/s", default: "9600", range: "a standard rate 300 to 921600", "the bus's rate"),
        key("buses.*", "parity", .choice(SerialSettings.Parity.allCases.map(\.rawValue)), default: "\"none\"", "the bus's parity"),
        key("buses.*", "stop_bits", .integer, default: "1", bounds: integers(SerialSettings.stopBitsAllowed), "stop bits, as set on the sensors"),
        key("buses.*", "timeout", .duration, default: "\"500ms\"", bounds: durations(busTimeoutMilliseconds), "how long to wait for a sensor's reply"),
        key("buses.*", "retries_max", .integer, default: "2", bounds: integers(ModbusRTUMaster.Configuration.retriesMaxAllowed), "retries after a failed read before it counts as failed"),
    ]

    private static let ruleKeys: [ConfigurationKey] = [
        key("rule", "id", .text, required: true, range: "unique across rules and combined rules", "the rule's name"),
        key("rule", "sensor", .text, required: true, range: "a [[sensor]] id", "the sensor the rule watches"),
        key("rule", "measure", .text, required: true, range: "rain_1h, rain_24h, rain_antecedent, water_level, water_rise_1h, displacement, displacement_rate_24h, tangent_angle …",
            "what of the sensor the rule measures"),
        key("rule", "blue", .number, unit: "the measure's", range: "at least one threshold", thresholdMeaning),
        key("rule", "yellow", .number, unit: "the measure's", range: "above blue", thresholdMeaning),
        key("rule", "orange", .number, unit: "the measure's", range: "above yellow", thresholdMeaning),
        key("rule", "red", .number, unit: "the measure's", range: "above orange", thresholdMeaning),
    ]

    private static let combinedRuleKeys: [ConfigurationKey] = [
        key("combined_rule", "id", .text, required: true, range: "unique across rules and combined rules", "the combined rule's name"),
        key("combined_rule", "level", levelChoice, required: true, "the level raised when all conditions hold at once"),
        key("combined_rule", "when", .list, required: true, range: "2 to 8 conditions", "the conditions: { rule = \"ID\", at_least = \"LEVEL\" }"),
        key("combined_rule", "hazard", .choice(Hazard.allCases.map(\.name)),
            "the hazard this combination warns of, so its level speaks that hazard's words (not set: from its rules)"),
        key("combined_rule.when", "rule", .text, required: true, range: "a [[rule]] id", "the rule of a condition"),
        key("combined_rule.when", "at_least", levelChoice, required: true, "the level that rule must meet"),
    ]

    private static let contactKeys: [ConfigurationKey] = [
        key("contact", "name", .text, required: true, "the person (防汛责任人)"),
        key("contact", "phone", .text, required: true, range: "+ country code and number, digits only", "where the SMS go"),
        key("contact", "order", .integer, default: "1", bounds: integers(1...99), "called in increasing order, equal orders together"),
    ]

    private static let outputsAnyKeys: [ConfigurationKey] = [
        key("outputs.*", "siren", .choice(["off", "continuous", "intermittent"]), required: true, "how the siren sounds at this level"),
        key("outputs.*", "siren_on", .duration, default: "\"2s\"", bounds: durations(100...(10 * minute)), range: "intermittent only", "how long the siren sounds each time"),
        key("outputs.*", "siren_off", .duration, default: "\"3s\"", bounds: durations(100...(10 * minute)), range: "intermittent only", "the pause between sounds"),
        key("outputs.*", "siren_max_on", .duration, default: "\"5m\"", bounds: durations(ConfigurationLimits.sirenProtectionMilliseconds), range: "a sounding siren only",
            "the longest the siren sounds before it rests, to spare the siren and the battery"),
        key("outputs.*", "siren_rest", .duration, default: "\"1m\"", bounds: durations(ConfigurationLimits.sirenProtectionMilliseconds), range: "a sounding siren only", "the rest after siren_max_on"),
        key("outputs.*", "lamp", .choice(LampColour.allCases.map(\.rawValue)), "the lamp lit at this level (not set: none)"),
        key("outputs.*", "message", .text, required: true, range: "at most 500 characters", "broadcast by loudspeaker and sent by SMS (叫应)"),
        key("outputs.*", "repeat_every", .duration, bounds: durations(minute...day), "repeat the broadcast this often while the level holds (not set: once)"),
        key("outputs.*", "message_rain", .text, range: "at most 500 characters", "the words for a rain (flash flood) warning (not set: message)"),
        key("outputs.*", "message_water_level", .text, range: "at most 500 characters", "the words for a water-level warning (not set: message)"),
        key("outputs.*", "message_slope", .text, range: "at most 500 characters", "the words for a slope (landslide) warning (not set: message)"),
    ]

    private static let drillKeys: [ConfigurationKey] = [
        key("drill", "end_message", .text, default: "\"【演练】演练结束。\"", range: "at most 500 characters; marked 【演练】",
            "spoken when a drill ends (stopped, or pre-empted by a real warning); never the all-clear"),
    ]

    private static let shellKeys: [ConfigurationKey] = [
        key("shell", "pin_hash", .text, secret: true, "the PIN's salted hash, written by village-gateway set-pin (never typed)"),
        key("shell", "idle_logout", .duration, default: "\"15m\"", bounds: durations(minute...day), "a session with no key this long is logged out"),
        key("shell", "console", .boolean, default: "true", "serve the shell on the board's console UART"),
    ]

    private static let countyKeys: [ConfigurationKey] = [
        key("county", "centre_address", .integer, default: "1", bounds: integers(1...255), "the county centre's SL 651 address"),
        key("county", "password", .integer, default: "0", bounds: integers(0...65_535), secret: true,
            "the SL 651 password, as configured at the centre; never shown"),
        key("county", "summary_every", .duration, default: "\"1h\"", bounds: durations((5 * minute)...day), range: "divides a day (5m, 10m, 15m, 30m, 1h, 3h, 6h, 1d …)",
            "an observation summary this often; SL 651 boxes report hourly"),
        key("county", "outbox_max_mb", .integer, unit: "MB", default: "256", bounds: integers(1...4_096), "at this size routine summaries are thinned (alarms never)"),
        key("county", "keep_delivered", .duration, default: "\"30d\"", bounds: durations(hour...(365 * day)), "reports the county acknowledged are kept this long"),
        key("county", "push_window", .text, range: "\"HH:MM-HH:MM\" local", "push only in these hours, alarms always (not set: any time)"),
        key("county", "api", .subtable, "the county pull API: the [county.api] table"),
        key("county", "push", .subtable, "HTTP push to the county: the [county.push] table"),
        key("county", "sl651", .subtable, "SL 651 over TCP to the centre: the [county.sl651] table"),
        key("county", "link_probe_every", .duration, default: "\"1m\"", bounds: durations(second...day), "while the push fails, a bare TCP connect to the county this often (about 300 bytes)"),
        key("county", "uplink_interfaces", .list, default: "[\"ppp0\", \"wwan0\", \"eth0\"]", range: "at most 8 names", "interfaces whose coming up ends the push's backoff at once"),
        key("county.api", "listen", .text, default: "\"0.0.0.0:8651\"", range: "host:port", "where the pull API listens"),
        key("county.api", "key_file", .text, required: true, range: "a file holding the key in hex (64 hex digits or more)", keyFileMeaning("requests are signed")),
        key("county.api", "max_clock_skew", .duration, default: "\"5m\"", bounds: durations((30 * second)...hour), "how far a request's time may be from the box's"),
        key("county.push", "url", .text, required: true, range: "http:// or https://, no spaces", "where reports are pushed"),
        key("county.push", "key_file", .text, required: true, range: "a file holding the key in hex (64 hex digits or more)", keyFileMeaning("pushes are signed")),
        key("county.push", "batch_max", .integer, default: "100", bounds: integers(1...500), "reports per POST"),
        key("county.sl651", "centre", .text, required: true, range: "host:port", "the county centre"),
        key("county.sl651", "keep_alive_every", .duration, default: "\"1m\"", bounds: durations((10 * second)...(10 * minute)), "link keep-alive (2F) while connected"),
        key("county.sl651", "hourly", .boolean, default: "false", "hourly summaries as report 34 (needs summary_every = \"1h\")"),
        key("county.sl651", "displacement", .inlineTable, "each displacement sensor's SL 651 identifier or preset"),
    ]


    /// How a technician makes, rotates and never shows a station key: the file holds the key,
    /// the configuration only its name.
    static func keyFileMeaning(_ use: String) -> String {
        "the file with this station's HMAC key, with which \(use) (the key itself is never shown, only the file's name). "
            + "Rotate it: write a new key to a new file (`openssl rand -hex 32 > FILE; chmod 600 FILE`), give the county the same key, "
            + "set this key to FILE and commit; the box takes it at its next restart (reboot)"
    }

    /// The Modbus master's reply timeout, as a duration range.
    static let busTimeoutMilliseconds: ClosedRange<Int64> = {
        let allowed = ModbusRTUMaster.Configuration.timeoutMillisecondsAllowed
        return Int64(allowed.lowerBound)...Int64(allowed.upperBound)
    }()

    /// The key names of one table, for the reader's unknown-key check.
    static func names(in table: String) -> [String] {
        let names = keys.filter { $0.table == table }.map(\.name)
        precondition(!names.isEmpty, "the schema has no table \(table)")  // a programmer's typo
        return names
    }

    static func key(table: String, name: String) -> ConfigurationKey? {
        keys.first { $0.table == table && $0.name == name }
    }

    /// A key the code reads: absent from the schema is a programmer's mistake, caught by the
    /// first test that reads that table.
    static func described(_ table: String, _ name: String) -> ConfigurationKey {
        guard let key = key(table: table, name: name) else { preconditionFailure("ConfigurationSchema has no key \(table).\(name)") }
        return key
    }

    /// The schema's table for a key as the shell names it: `rule.rain-1h.red` → `rule`,
    /// `outputs.red.siren` → `outputs.*`, `station.name` → `station`, `county.push.url` →
    /// `county.push`.
    static func describe(shellKey: String) -> ConfigurationKey? {
        let parts = shellKey.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
        guard let first = parts.first, let section = table(named: first), let name = parts.last else { return nil }
        switch section.kind {
        case .table:
            if parts.count == 2 { return key(table: section.name, name: name) }
            return parts.count == 3 ? key(table: section.name + "." + parts[1], name: name) : nil
        case .tableOfTables: return parts.count == 3 ? key(table: section.name + ".*", name: name) : nil
        case .arrayById: return parts.count == 3 ? key(table: section.name, name: name) : nil
        }
    }

    /// Whether a sub-table (`county.push`) is described under a top-level table.
    static func isSubtable(_ table: String, of section: String) -> Bool {
        key(table: section, name: table)?.kind == .subtable
    }

    // MARK: defaults, parsed once from the text above

    /// Each key's default as a TOML value, by `table.name`.
    static let defaultNodes: [String: TOMLNode] = {
        var nodes: [String: TOMLNode] = [:]
        for key in keys {
            guard let text = key.defaultValue else { continue }
            guard let node = parseValue(text) else { preconditionFailure("the default of \(key.table).\(key.name) is not TOML: \(text)") }
            nodes[key.table + "." + key.name] = node
        }
        return nodes
    }()

    static func defaultNode(_ table: String, _ name: String) -> TOMLNode? {
        defaultNodes[described(table, name).table + "." + name]
    }

    static func defaultInteger(_ table: String, _ name: String) -> Int {
        guard case .integer(let value)? = defaultNode(table, name) else { preconditionFailure("\(table).\(name) has no whole-number default") }
        return value
    }

    static func defaultNumber(_ table: String, _ name: String) -> Double {
        switch defaultNode(table, name) {
        case .integer(let value)?: return Double(value)
        case .float(let value)?: return value
        default: preconditionFailure("\(table).\(name) has no number default")
        }
    }

    static func defaultText(_ table: String, _ name: String) -> String {
        guard case .string(let value)? = defaultNode(table, name) else { preconditionFailure("\(table).\(name) has no text default") }
        return value
    }

    static func defaultBoolean(_ table: String, _ name: String) -> Bool {
        guard case .boolean(let value)? = defaultNode(table, name) else { preconditionFailure("\(table).\(name) has no true/false default") }
        return value
    }

    static func defaultDuration(_ table: String, _ name: String) -> Int64 {
        guard let milliseconds = parseDuration(defaultText(table, name)) else { preconditionFailure("\(table).\(name)'s default is not a duration") }
        return milliseconds
    }

    static func defaultTexts(_ table: String, _ name: String) -> [String] {
        guard case .array(let elements)? = defaultNode(table, name) else { preconditionFailure("\(table).\(name) has no list default") }
        return elements.map { element in
            guard case .string(let text) = element else { preconditionFailure("\(table).\(name)'s default is not a list of texts") }
            return text
        }
    }

    /// Whether `value` (TOML, as the printer writes it) is the key's default: durations by
    /// length (`"1h"` is `"60m"`), numbers by value (`1` is `1.0`), the rest as TOML values.
    static func isDefault(_ table: String, _ name: String, _ value: String) -> Bool {
        let key = described(table, name)
        guard let expected = defaultNodes[key.table + "." + name], let given = parseValue(value) else { return false }
        switch (key.kind, given, expected) {
        case (.duration, .string(let a), .string(let b)): return parseDuration(a) == parseDuration(b)
        case (_, .integer(let a), .float(let b)), (_, .float(let b), .integer(let a)): return Double(a) == b
        default: return given.sameValue(as: expected)
        }
    }

    /// One TOML value (`70`, `"30m"`, `["red"]`), read by the TOML library; nil when `text` is
    /// not exactly one value.
    static func parseValue(_ text: String) -> TOMLNode? {
        guard !text.contains("\n"), let document = try? ConfigurationLoader.parseDocument(text: "v = \(text)\n", file: "", what: "a value"),
            case .table(let entries) = document.root, entries.count == 1
        else { return nil }
        return entries["v"]
    }
}
