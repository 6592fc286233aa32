// Every configuration key, described once: its table, name, type, unit, default, allowed range
// and meaning. The reader takes its known keys from here (an unknown key is a problem with a
// "did you mean"), the shell's set/unset/help/completion use it, and tests hold the effective
// configuration printer and config/example.toml to it. A new key is one entry here, then its
// reading in ConfigurationReader*.

/// One key of one table, as a technician would look it up.
struct ConfigurationKey: Sendable, Equatable {
    enum Kind: Sendable, Equatable {
        case text, integer, number, boolean, duration, level, levels, list, inlineTable
        /// One of these words.
        case choice([String])

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
    /// What is allowed, in words, beyond the type ("1 to 247").
    var range: String?
    var meaning: String

    /// `help KEY`: everything the schema knows about the key, for a terminal.
    var helpText: String {
        var lines = ["\(table).\(name): \(meaning)", "  type     \(kind.description)"]
        if let unit { lines.append("  unit     \(unit)") }
        if let range { lines.append("  allowed  \(range)") }
        lines.append("  default  " + (required ? "none: required" : defaultValue ?? "none (not set: off or not used)"))
        return lines.joined(separator: "\n")
    }
}

enum ConfigurationSchema {
    private static func key(
        _ table: String, _ name: String, _ kind: ConfigurationKey.Kind, unit: String? = nil, default value: String? = nil,
        required: Bool = false, range: String? = nil, _ meaning: String
    ) -> ConfigurationKey {
        ConfigurationKey(table: table, name: name, kind: kind, unit: unit, defaultValue: value, required: required, range: range, meaning: meaning)
    }

    static let levelChoice = ConfigurationKey.Kind.choice(["blue", "yellow", "orange", "red"])
    static let thresholdMeaning = "threshold: the level is reached when the measure is at or above it; thresholds increase with the level"

    static let keys: [ConfigurationKey] = [
        key("station", "id", .text, required: true, range: "10 digits", "the SL 651 station address"),
        key("station", "name", .text, required: true, "the village's name, shown in messages and reports"),
        key("station", "utc_offset", .text, default: "\"+08:00\"", range: "±hh:mm", "local time offset"),
        key("station", "latitude", .number, unit: "°N", range: "-90 to 90, with longitude", "where the box stands (WGS-84): the county's map and the CAP alert's circle"),
        key("station", "longitude", .number, unit: "°E", range: "-180 to 180, with latitude", "where the box stands (WGS-84): the county's map and the CAP alert's circle"),

        key("logic", "clear_after", .duration, default: "\"60m\"", "lower a level only after no rule met it for this long"),
        key("logic", "latch", .levels, default: "[]", "levels that stay until a person clears them"),
        key("logic", "antecedent_k", .number, default: "0.85", range: "0 < k < 1", "daily decay k of the antecedent rain index P_a"),
        key("logic", "rain_day_start_hour", .integer, unit: "hour", default: "8", range: "0 to 23", "local hour the rain day starts"),
        key("logic", "tips_per_minute_max", .integer, unit: "tips/min", default: "600", "more tips a minute is a chattering switch, not rain"),

        key("acknowledgement", "from_level", .choice(["none", "blue", "yellow", "orange", "red"]), default: "\"yellow\"",
            "ask for an answer (叫应) from this level up; none: never ask"),
        key("acknowledgement", "deadline", .duration, default: "\"10m\"", "unanswered this long: repeat the broadcast, SMS the next order"),
        key("acknowledgement", "escalations_max", .integer, default: "5", "stop escalating after this many (the level stays)"),
        key("acknowledgement", "answer_keywords", .list, default: "[]", range: "short texts", "SMS replies that count as an answer; [] (default): any reply from a contact"),
        key("acknowledgement", "call_unanswered", .boolean, default: "false", "ring those silent at a deadline instead of texting them again"),
        key("acknowledgement", "call_ring", .duration, default: "\"30s\"", range: "10s to 2m", "how long the box lets a call it makes ring"),

        key("sensor", "id", .text, required: true, range: "letters, digits, _ and -; unique", "the sensor's name, used by rules"),
        key("sensor", "kind", .choice(["rain_gauge", "water_level", "displacement"]), required: true, "what the sensor measures"),
        key("sensor", "unit", .text, range: "rain_gauge \"mm\", water_level \"m\", displacement \"mm\"", "the kind's unit (optional, checked)"),
        key("sensor", "mm_per_tip", .number, unit: "mm", range: "> 0, at most 3 decimals; rain gauges only (required)", "rain depth of one tip"),
        key("sensor", "range", .list, range: "[minimum, maximum]; water_level and displacement", "a reading outside it makes the sensor faulty"),
        key("sensor", "stale_after", .duration, range: "water_level and displacement", "no reading this long makes the sensor faulty"),
        key("sensor", "read_failures_max", .integer, default: "3", "failed reads in a row that make the sensor faulty"),
        key("sensor", "baseline", .number, unit: "mm", range: "displacement only", "cumulative displacement is measured from it (not set: the first reading)"),
        key("sensor", "steady_rate", .number, unit: "mm/day", range: "> 0; displacement only", "the slope's steady creep, for the tangent angle"),
        key("sensor", "tangent_span", .duration, default: "\"24h\"", range: "displacement only", "span of the tangent angle's rate"),
        key("sensor", "input", .choice(["rain_gauge", "rain_gauge_2"]), range: "rain gauges only", "the board input the reed switch is wired to"),
        key("sensor", "modbus", .inlineTable, range: "water_level and displacement", "how the box reads the sensor over RS-485 Modbus RTU"),

        key("sensor.modbus", "bus", .choice(["rs485", "rs485_2"]), default: "\"rs485\"", "the bus, as named in the board file"),
        key("sensor.modbus", "slave", .integer, required: true, range: "1 to 247", "the sensor's Modbus address"),
        key("sensor.modbus", "function", .choice(["3", "4"]), default: "3", "3 holding registers, 4 input registers"),
        key("sensor.modbus", "register", .integer, required: true, range: "0-based as on the wire", "the first register"),
        key("sensor.modbus", "type", .choice(["int16", "uint16", "int32", "uint32", "float32"]), default: "\"uint16\"", "how the registers hold the value"),
        key("sensor.modbus", "word_order", .choice(["big", "little"]), default: "\"big\"", "32-bit types: which register is high (little: CDAB)"),
        key("sensor.modbus", "byte_order", .choice(["big", "little"]), default: "\"big\"", "bytes within a register"),
        key("sensor.modbus", "scale", .number, default: "1", range: "not 0", "reading = raw × scale + offset"),
        key("sensor.modbus", "offset", .number, default: "0", "reading = raw × scale + offset"),
        key("sensor.modbus", "poll_every", .duration, default: "\"10s\"", range: "1s to 1h; shorter than stale_after", "how often to read"),

        key("buses.*", "baud", .integer, unit: "bit/s", default: "9600", range: "a standard rate 300 to 921600", "the bus's rate"),
        key("buses.*", "parity", .choice(["none", "even", "odd"]), default: "\"none\"", "the bus's parity"),
        key("buses.*", "stop_bits", .choice(["1", "2"]), default: "1", "the bus's stop bits"),
        key("buses.*", "timeout", .duration, default: "\"500ms\"", range: "10ms to 10s", "wait this long for a sensor's reply"),
        key("buses.*", "retries_max", .integer, default: "2", range: "0 to 5", "retries after a failed read"),

        key("rule", "id", .text, required: true, range: "unique across rules and combined rules", "the rule's name"),
        key("rule", "sensor", .text, required: true, range: "a [[sensor]] id", "the sensor the rule watches"),
        key("rule", "measure", .text, required: true, range: "rain_1h, rain_24h, rain_antecedent, water_level, water_rise_1h, displacement, displacement_rate_24h, tangent_angle …",
            "what of the sensor the rule measures"),
        key("rule", "blue", .number, unit: "the measure's", range: "at least one threshold", thresholdMeaning),
        key("rule", "yellow", .number, unit: "the measure's", range: "above blue", thresholdMeaning),
        key("rule", "orange", .number, unit: "the measure's", range: "above yellow", thresholdMeaning),
        key("rule", "red", .number, unit: "the measure's", range: "above orange", thresholdMeaning),

        key("combined_rule", "id", .text, required: true, range: "unique across rules and combined rules", "the combined rule's name"),
        key("combined_rule", "level", levelChoice, required: true, "the level raised when all conditions hold at once"),
        key("combined_rule", "when", .list, required: true, range: "2 to 8 conditions", "the conditions: { rule = \"ID\", at_least = \"LEVEL\" }"),
        key("combined_rule", "hazard", .choice(["rain", "water_level", "slope"]),
            "the hazard this combination warns of, so its level speaks that hazard's words (not set: from its rules)"),
        key("combined_rule.when", "rule", .text, required: true, range: "a [[rule]] id", "the rule of a condition"),
        key("combined_rule.when", "at_least", levelChoice, required: true, "the level that rule must meet"),

        key("contact", "name", .text, required: true, "the person (防汛责任人)"),
        key("contact", "phone", .text, required: true, range: "+ country code and number, digits only", "where the SMS go"),
        key("contact", "order", .integer, default: "1", range: "1 or more", "called in increasing order, equal orders together"),

        key("outputs.*", "siren", .choice(["off", "continuous", "intermittent"]), required: true, "how the siren sounds at this level"),
        key("outputs.*", "siren_on", .duration, default: "\"2s\"", range: "intermittent only", "sound this long each time"),
        key("outputs.*", "siren_off", .duration, default: "\"3s\"", range: "intermittent only", "pause this long"),
        key("outputs.*", "siren_max_on", .duration, default: "\"5m\"", range: "10s to 1h; a sounding siren only", "the longest the siren sounds before it rests"),
        key("outputs.*", "siren_rest", .duration, default: "\"1m\"", range: "10s to 1h; a sounding siren only", "the rest after siren_max_on"),
        key("outputs.*", "lamp", levelChoice, "the lamp lit at this level (not set: none)"),
        key("outputs.*", "message", .text, required: true, range: "at most 500 characters", "broadcast by loudspeaker and sent by SMS (叫应)"),
        key("outputs.*", "repeat_every", .duration, "repeat the broadcast this often while the level holds (not set: once)"),
        key("outputs.*", "message_rain", .text, range: "at most 500 characters", "the words for a rain (flash flood) warning (not set: message)"),
        key("outputs.*", "message_water_level", .text, range: "at most 500 characters", "the words for a water-level warning (not set: message)"),
        key("outputs.*", "message_slope", .text, range: "at most 500 characters", "the words for a slope (landslide) warning (not set: message)"),

        key("drill", "end_message", .text, default: "\"【演练】演练结束。\"", range: "at most 500 characters; marked 【演练】",
            "spoken when a drill ends (stopped, or pre-empted by a real warning); never the all-clear"),

        key("shell", "pin_hash", .text, "the PIN's salted hash, written by village-gateway set-pin (never typed)"),
        key("shell", "idle_logout", .duration, default: "\"15m\"", range: "1m to 24h", "a session with no key this long is logged out"),
        key("shell", "console", .boolean, default: "true", "serve the shell on the board's console UART"),

        key("county", "centre_address", .integer, default: "1", "the county centre's SL 651 address"),
        key("county", "password", .integer, default: "0", "the SL 651 password, as configured at the centre"),
        key("county", "summary_every", .duration, default: "\"1h\"", range: "divides a day", "an observation summary this often"),
        key("county", "outbox_max_mb", .integer, unit: "MB", default: "256", "at this size routine summaries are thinned (alarms never)"),
        key("county", "keep_delivered", .duration, default: "\"30d\"", "reports the county acknowledged are kept this long"),
        key("county", "push_window", .text, range: "\"HH:MM-HH:MM\" local", "push only in these hours, alarms always (not set: any time)"),
        key("county", "api", .inlineTable, "the county pull API: the [county.api] table"),
        key("county", "push", .inlineTable, "HTTP push to the county: the [county.push] table"),
        key("county", "sl651", .inlineTable, "SL 651 over TCP to the centre: the [county.sl651] table"),
        key("county", "link_probe_every", .duration, default: "\"1m\"", range: "1s to 1d", "while the push fails, a bare TCP connect to the county this often (about 300 bytes)"),
        key("county", "uplink_interfaces", .list, default: "[\"ppp0\", \"wwan0\", \"eth0\"]", range: "at most 8 names", "interfaces whose coming up ends the push's backoff at once"),
        key("county.api", "listen", .text, default: "\"0.0.0.0:8651\"", range: "host:port", "where the pull API listens"),
        key("county.api", "key_file", .text, required: true, "the file with this station's HMAC key"),
        key("county.api", "max_clock_skew", .duration, default: "\"5m\"", "how far a request's time may be from the box's"),
        key("county.push", "url", .text, required: true, "where reports are pushed"),
        key("county.push", "key_file", .text, required: true, "the file with this station's HMAC key"),
        key("county.push", "batch_max", .integer, default: "100", range: "1 to 500", "reports per POST"),
        key("county.sl651", "centre", .text, required: true, range: "host:port", "the county centre"),
        key("county.sl651", "keep_alive_every", .duration, default: "\"1m\"", range: "10s to 10m", "link keep-alive (2F) while connected"),
        key("county.sl651", "hourly", .boolean, default: "false", "hourly summaries as report 34 (needs summary_every = \"1h\")"),
        key("county.sl651", "displacement", .inlineTable, "each displacement sensor's SL 651 identifier or preset"),
    ]

    /// The key names of one table, for the reader's unknown-key check.
    static func names(in table: String) -> [String] {
        let names = keys.filter { $0.table == table }.map(\.name)
        precondition(!names.isEmpty, "the schema has no table \(table)")  // a programmer's typo
        return names
    }

    static func key(table: String, name: String) -> ConfigurationKey? {
        keys.first { $0.table == table && $0.name == name }
    }

    /// The schema's table for a key as the shell names it: `rule.rain-1h.red` → `rule`,
    /// `outputs.red.siren` → `outputs.*`, `station.name` → `station`.
    static func describe(shellKey: String) -> ConfigurationKey? {
        let parts = shellKey.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
        guard let section = ConfigurationEditor.sections.first(where: { $0.name == parts.first }), let name = parts.last else { return nil }
        switch section.kind {
        case .table: return parts.count == 2 ? key(table: section.name, name: name) : nil
        case .tableOfTables: return parts.count == 3 ? key(table: section.name + ".*", name: name) : nil
        case .arrayById: return parts.count == 3 ? key(table: section.name, name: name) : nil
        }
    }
}
