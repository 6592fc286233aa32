// The schema of gateway.toml: every key, its default, its bounds, and the checks across tables.
import Drivers
import WarningLogic

/// Reads the parsed document section by section. Every mistake goes to `problems`; where a
/// value is wrong, a placeholder keeps the reading going so that all mistakes are found in one
/// run. The result is only used when `problems` stays empty.
struct ConfigurationReader {
    let root: [String: TOMLNode]
    let problems: ProblemCollector

    init(root: TOMLNode, problems: ProblemCollector) {
        if case .table(let entries) = root { self.root = entries } else { self.root = [:] }
        self.problems = problems
    }

    /// The top-level tables and how each is written, for messages and suggestions.
    static var sections: [(name: String, written: String)] { ConfigurationSchema.tables.map { ($0.name, $0.written) } }

    /// The unit each kind reports in; thresholds and ranges are written in it.
    static func unit(of kind: SensorKind) -> String {
        switch kind {
        case .rainGauge: "mm"
        case .waterLevel: "m"
        case .displacement: "mm"
        }
    }

    func read() -> GatewayConfiguration {
        reportUnknownSections()
        let station = readStation()
        let logic = readLogic()
        var hardware = HardwareConfiguration()
        let sensorResult = readSensors(hardware: &hardware)
        let ruleResult = readRules(sensors: sensorResult.known)
        let combinedRules = readCombinedRules(rules: ruleResult.known, usedIds: ruleResult.ids)
        let contacts = readContacts()
        // When [[contact]] itself is written wrongly, that is the problem to report, not its effect.
        let acknowledgement = readAcknowledgement(contactCount: root["contact"] == nil ? 0 : max(contacts.count, 1))
        let outputs = readOutputs(hardware: &hardware)
        hardware.buses = readBuses(usedBy: hardware.modbusSensors)
        let county = readCounty(sensors: sensorResult.known)
        var configuration = GatewayConfiguration(engine: EngineConfiguration(
            station: station,
            sensors: sensorResult.sensors,
            rules: ruleResult.rules,
            combinedRules: combinedRules,
            logic: logic,
            contacts: contacts,
            acknowledgement: acknowledgement,
            outputs: outputs,
            drillEndMessage: readDrill()
        ), hardware: hardware, county: county)
        configuration.shell = readShell()
        return configuration
    }

    private func reportUnknownSections() {
        let names = Self.sections.map(\.name)
        for (key, node) in root where !names.contains(key) {
            let written: String
            switch node {
            case .table: written = "table [\(key)]"
            case .array(let elements) where elements.allSatisfy({ if case .table = $0 { true } else { false } }) && !elements.isEmpty:
                written = "table [[\(key)]]"
            default: written = "key \"\(key)\""
            }
            var message = "unknown \(written)"
            if let suggestion = closestName(to: key, among: names),
                let section = Self.sections.first(where: { $0.name == suggestion })
            {
                message += "; did you mean \(section.written)?"
            } else {
                message += "; the file has " + Self.sections.map(\.written).joined(separator: ", ")
            }
            problems.report(at: [.key(key)], key: "", given: nil, message)
        }
    }

    /// The table `[name]`, or nil (reported) when it is written as something else.
    func table(_ name: String, required: String?) -> TableReader? {
        guard let node = root[name] else {
            if let required {
                problems.report(at: nil, key: "[\(name)]", given: nil, "missing; " + required)
            }
            return nil
        }
        guard case .table(let entries) = node else {
            problems.report(at: [.key(name)], key: "[\(name)]", given: nil,
                            "must be a table written [\(name)] with its keys on the lines below, not \(node.kindDescription)")
            return nil
        }
        return TableReader(entries: entries, path: [.key(name)], label: "[\(name)]", problems: problems)
    }

    /// The table `[name]` read by the schema; absent (or written wrongly, reported), an empty
    /// table, so every key takes the schema's default.
    func schemaTable(_ name: String) -> SchemaTableReader {
        let reader = table(name, required: nil)
            ?? TableReader(entries: [:], path: [.key(name)], label: "[\(name)]", problems: problems)
        return SchemaTableReader(reader, table: name)
    }

    /// The blocks `[[name]]`, each labelled `[[name]] #n` until its id is known.
    private func arrayOfTables(_ name: String, countMax: Int) -> [TableReader] {
        guard let node = root[name] else { return [] }
        let written = "[[\(name)]]"
        guard case .array(let elements) = node else {
            let hint = if case .table = node { "write \(written), with two brackets: one block per \(name)" } else { "write one \(written) block per \(name)" }
            problems.report(at: [.key(name)], key: "[\(name)]", given: nil, "must be blocks of \(written); \(hint)")
            return []
        }
        if elements.count > countMax {
            problems.report(at: [.key(name), .index(countMax)], key: written, given: nil,
                            "at most \(countMax) \(written) blocks; this file has \(elements.count)")
        }
        var readers: [TableReader] = []
        for (index, element) in elements.prefix(countMax).enumerated() {
            guard case .table(let entries) = element else {
                problems.report(at: [.key(name), .index(index)], key: "\(written) #\(index + 1)", given: element.rendered,
                                "must be a table of keys")
                continue
            }
            readers.append(TableReader(entries: entries, path: [.key(name), .index(index)],
                                       label: "\(written) #\(index + 1)", problems: problems))
        }
        return readers
    }

    // MARK: [station]

    private func readStation() -> StationIdentity {
        guard let reader = table("station", required: "every box needs [station] with its id (the 10-digit SL 651 address) and name") else {
            return StationIdentity(id: "", name: "")
        }
        let keys = SchemaTableReader(reader, table: "station")
        var id = ""
        if let text = reader.string("id") {
            if text.count == 10, text.allSatisfy({ $0.isASCII && $0.isNumber }) {
                id = text
            } else {
                let digits = text.filter { $0.isASCII && $0.isNumber }.count
                let detail = digits == text.count ? "this has \(digits) digits" : "this has characters other than digits"
                reader.report("id", given: .string(text),
                              "must be the 10-digit SL 651 station address, digits only, e.g. \"0011223344\"; \(detail)")
            }
        } else if !reader.has("id") {
            reader.missing("id", "the 10-digit SL 651 station address, e.g. id = \"0011223344\"")
        }
        var name = ""
        if let text = reader.string("name") {
            if text.trimmingSpaces.isEmpty || text.count > ConfigurationLimits.stationNameCharactersMax {
                reader.report("name", given: .string(text), "must be the village's name, 1 to \(ConfigurationLimits.stationNameCharactersMax) characters")
            } else {
                name = text
            }
        } else if !reader.has("name") {
            reader.missing("name", "the village's name as people say it, e.g. name = \"黄坑村\"")
        }
        var offsetMinutes = parseUTCOffset(ConfigurationSchema.defaultText("station", "utc_offset")) ?? 0
        if let text = keys.text("utc_offset") {
            if let minutes = parseUTCOffset(text) {
                offsetMinutes = minutes
            } else {
                reader.report("utc_offset", given: .string(text),
                              "must be ±hh:mm from -12:00 to +14:00 in steps of 15 minutes, e.g. \"+08:00\" (China)")
            }
        }
        let (latitude, longitude) = readCoordinates(reader)
        return StationIdentity(id: id, name: name, utcOffsetMinutes: offsetMinutes, latitude: latitude, longitude: longitude)
    }

    /// `[station] latitude`/`longitude`: both or neither, in range (a box drawn at 0°N 0°E on the
    /// county's map is worse than one not drawn).
    private func readCoordinates(_ reader: TableReader) -> (Double?, Double?) {
        let latitude = reader.has("latitude") ? reader.number("latitude") : nil
        let longitude = reader.has("longitude") ? reader.number("longitude") : nil
        if let latitude, !(-90...90).contains(latitude) {
            reader.report("latitude", given: .float(latitude), "must be -90 to 90 decimal degrees north (WGS-84), e.g. latitude = 28.1352")
            return (nil, nil)
        }
        if let longitude, !(-180...180).contains(longitude) {
            reader.report("longitude", given: .float(longitude), "must be -180 to 180 decimal degrees east (WGS-84), e.g. longitude = 120.9571")
            return (nil, nil)
        }
        if reader.has("latitude") != reader.has("longitude") {
            reader.report(reader.has("latitude") ? "latitude" : "longitude", given: nil, "give both latitude and longitude, or neither")
            return (nil, nil)
        }
        return (latitude, longitude)
    }

    // MARK: [logic]

    private func readLogic() -> LogicConfiguration {
        let keys = schemaTable("logic")
        let reader = keys.reader
        var latched = Set(ConfigurationSchema.defaultTexts("logic", "latch").compactMap(WarningLevel.init(name:)))
        if let node = reader.entries["latch"] {
            latched = []
            let allowedText = "a list of levels that stay until a person clears them, from \(quotedList(WarningLevel.colours.map(\.name))), e.g. [\"red\"]"
            if case .array(let elements) = node {
                for element in elements {
                    if case .string(let name) = element, let level = WarningLevel(name: name), level != .none {
                        latched.insert(level)
                    } else {
                        let why = element.isText("none") ? "\"none\" is no warning and cannot be latched" : "\(element.rendered) is not a level"
                        reader.report("latch", given: node, why + "; entries must be " + quotedList(WarningLevel.colours.map(\.name)))
                    }
                }
            } else {
                reader.report("latch", given: node, "must be " + allowedText)
            }
        }
        var decay = ConfigurationSchema.defaultNumber("logic", "antecedent_k")
        if reader.has("antecedent_k"), let k = keys.number("antecedent_k") {
            if k > 0 && k < 1 {
                decay = k
            } else {
                reader.report("antecedent_k", given: reader.entries["antecedent_k"],
                              "must be between 0 and 1, exclusive (the daily decay of antecedent rain; 0.8 to 0.9 is usual)")
            }
        }
        // Every value has a default in the schema, so the optionals below are never nil.
        return LogicConfiguration(
            clearAfterMilliseconds: keys.duration("clear_after") ?? 0,
            latchedLevels: latched,
            antecedentDecayPerDay: decay,
            rainDayStartHour: keys.integer("rain_day_start_hour") ?? 0,
            tipsPerMinuteMax: keys.integer("tips_per_minute_max") ?? 0
        )
    }

    // MARK: [[sensor]]

    /// A sensor whose id is good; its kind is nil when the kind itself was wrong (so that rules
    /// naming it are not blamed for the sensor's mistake).
    struct KnownSensor {
        var kind: SensorKind?
        var steadyRateIsSet: Bool
        var rangeMinimum: Double?
        var rangeMaximum: Double?
    }

    private static let sensorKeys = ConfigurationSchema.names(in: "sensor")

    /// Which kinds each kind-specific key belongs to.
    private static let sensorKeyKinds: [String: [SensorKind]] = [
        "mm_per_tip": [.rainGauge],
        "range": [.waterLevel, .displacement],
        "stale_after": [.waterLevel, .displacement],
        "read_failures_max": [.waterLevel, .displacement],
        "baseline": [.displacement],
        "steady_rate": [.displacement],
        "tangent_span": [.displacement],
        "input": [.rainGauge],
        "modbus": [.waterLevel, .displacement],
    ]

    private func readSensors(hardware: inout HardwareConfiguration) -> (sensors: [SensorConfiguration], known: [String: KnownSensor]) {
        let readers = arrayOfTables("sensor", countMax: ConfigurationLimits.sensorsMax)
        if readers.isEmpty, root["sensor"] == nil || root["sensor"]?.isEmptyArray == true {
            problems.report(at: root["sensor"] == nil ? nil : [.key("sensor")], key: "[[sensor]]", given: nil,
                            "missing; describe each sensor in a [[sensor]] block (id, kind, …)")
        }
        var sensors: [SensorConfiguration] = []
        var known: [String: KnownSensor] = [:]
        var firstPathById: [String: TOMLPath] = [:]
        var wiring = SensorWiring()
        for var reader in readers {
            let id = reader.identifier("id", what: "rain1")
            if let id {
                if let first = firstPathById[id] {
                    reader.report("id", given: .string(id), "already the id of the [[sensor]] on line \(problems.locator.line(for: first) ?? 0); sensor ids must be unique")
                } else {
                    firstPathById[id] = reader.path
                    reader.label = "[[sensor]] \"\(id)\""
                }
            }
            reader.reportUnknownKeys(known: Self.sensorKeys)
            let kindName = reader.has("kind")
                ? reader.choice("kind", among: SensorKind.allCases.map(\.rawValue))
                : { reader.missing("kind", "one of \(quotedList(SensorKind.allCases.map(\.rawValue)))"); return nil }()
            let kind = kindName.flatMap(SensorKind.init(rawValue:))
            let sensor = readSensor(reader, id: id ?? "", kind: kind)
            if let kind {
                readSensorWiring(reader, id: id, kind: kind, staleAfterMilliseconds: sensor.staleAfterMilliseconds,
                                 wiring: &wiring, hardware: &hardware)
            }
            if let id, known[id] == nil {
                known[id] = KnownSensor(kind: kind, steadyRateIsSet: sensor.steadyRateMillimetersPerDay != nil,
                                        rangeMinimum: sensor.rangeMinimum, rangeMaximum: sensor.rangeMaximum)
            }
            sensors.append(sensor)
        }
        return (sensors, known)
    }

    private func readSensor(_ reader: TableReader, id: String, kind: SensorKind?) -> SensorConfiguration {
        var sensor = SensorConfiguration(id: id, kind: kind ?? .rainGauge, unit: kind.map(Self.unit(of:)) ?? "")
        guard let kind else { return sensor }  // the kind-specific keys cannot be judged

        // Keys that belong to other kinds: say whose they are rather than "unknown".
        for (key, kinds) in Self.sensorKeyKinds.sorted(by: { $0.key < $1.key }) where reader.has(key) && !kinds.contains(kind) {
            var message = "only for \(kinds.map(\.rawValue).joined(separator: " and ")) sensors; this is a \(kind.rawValue) sensor"
            if kind == .rainGauge && key == "stale_after" {
                message = "a rain gauge is silent by nature when it is dry, so it is never stale; remove stale_after"
            } else if kind == .rainGauge && key == "read_failures_max" {
                message = "a rain gauge is a switch on an input, never polled, so it has no read failures; remove read_failures_max"
            }
            reader.report(key, given: reader.entries[key], message)
        }

        if let unit = reader.string("unit") {
            if unit != Self.unit(of: kind) {
                reader.report("unit", given: .string(unit),
                              "a \(kind.rawValue) sensor reports in \"\(Self.unit(of: kind))\"; write its range and thresholds in \(Self.unit(of: kind))")
            }
        }

        switch kind {
        case .rainGauge:
            if !reader.has("mm_per_tip") {
                reader.missing("mm_per_tip", "the depth of rain one tip of the bucket stands for, in mm (0.1, 0.2, 0.5 are usual; TE525: 0.254)")
            } else if let depth = reader.number("mm_per_tip") {
                let micrometres = (depth * 1000).rounded()
                if depth <= 0 || depth > 10 {
                    reader.report("mm_per_tip", given: reader.entries["mm_per_tip"], "must be above 0 and at most 10 mm (0.1, 0.2, 0.5 are usual)")
                } else if abs(depth * 1000 - micrometres) > 1e-6 {
                    reader.report("mm_per_tip", given: reader.entries["mm_per_tip"],
                                  "must be a whole number of micrometres (at most 3 decimals in mm, e.g. 0.254), so rain sums exactly")
                } else {
                    sensor.micrometersPerTip = Int64(micrometres)
                }
            }
        case .waterLevel, .displacement:
            if let node = reader.entries["range"] {
                let allowedText = "[minimum, maximum] in \(Self.unit(of: kind)), e.g. [0.0, 10.0]"
                if case .array(let bounds) = node, bounds.count == 2,
                    let minimum = reader.number(bounds[0], key: "range"), let maximum = reader.number(bounds[1], key: "range")
                {
                    if minimum < maximum {
                        sensor.rangeMinimum = minimum
                        sensor.rangeMaximum = maximum
                    } else {
                        reader.report("range", given: node, "the minimum must be below the maximum: " + allowedText)
                    }
                } else if case .array(let bounds) = node, bounds.count == 2 {
                    // A bound was not a number: reported by number(_:key:).
                } else {
                    reader.report("range", given: node, "must be two numbers " + allowedText)
                }
            }
            let keys = SchemaTableReader(reader, table: "sensor", checkingKeys: false)
            sensor.staleAfterMilliseconds = keys.duration("stale_after")
            sensor.readFailuresMax = keys.integer("read_failures_max") ?? 0
            if kind == .displacement {
                sensor.displacementBaseline = reader.number("baseline")
                if let rate = reader.number("steady_rate") {
                    if rate > 0 {
                        sensor.steadyRateMillimetersPerDay = rate
                    } else {
                        reader.report("steady_rate", given: reader.entries["steady_rate"],
                                      "must be above 0: the slope's steady creep in mm/day, which the tangent angle divides by")
                    }
                }
                sensor.tangentSpanMilliseconds = keys.duration("tangent_span") ?? 0
            }
        }
        return sensor
    }

    // MARK: [[rule]]

    /// A rule whose id is good, for combined rules to refer to; thresholds nil when wrong.
    struct KnownRule {
        var thresholds: Thresholds?
    }

    private func readRules(sensors: [String: KnownSensor]) -> (rules: [Rule], known: [String: KnownRule], ids: [String: TOMLPath]) {
        let readers = arrayOfTables("rule", countMax: ConfigurationLimits.rulesMax)
        if readers.isEmpty, root["rule"] == nil || root["rule"]?.isEmptyArray == true {
            problems.report(at: root["rule"] == nil ? nil : [.key("rule")], key: "[[rule]]", given: nil,
                            "missing; without a [[rule]] the box never warns: add rules with thresholds per level")
        }
        var rules: [Rule] = []
        var known: [String: KnownRule] = [:]
        var firstPathById: [String: TOMLPath] = [:]
        for var reader in readers {
            let id = reader.identifier("id", what: "rain-1h")
            if let id {
                if let first = firstPathById[id] {
                    reader.report("id", given: .string(id), "already the id of the [[rule]] on line \(problems.locator.line(for: first) ?? 0); rule ids must be unique")
                } else {
                    firstPathById[id] = reader.path
                    reader.label = "[[rule]] \"\(id)\""
                }
            }
            reader.reportUnknownKeys(known: ConfigurationSchema.names(in: "rule"))

            // The sensor, and through it the measures that suit it.
            var sensor: KnownSensor?
            let sensorId = reader.string("sensor")
            if let sensorId {
                sensor = sensors[sensorId]
                if sensor == nil {
                    var message = "no [[sensor]] has this id"
                    if let suggestion = closestName(to: sensorId, among: Array(sensors.keys)) {
                        message += "; did you mean \"\(suggestion)\"?"
                    } else if !sensors.isEmpty {
                        message += "; the sensors are " + quotedList(sensors.keys.sorted(), conjunction: "and")
                    }
                    reader.report("sensor", given: .string(sensorId), message)
                }
            } else if !reader.has("sensor") {
                reader.missing("sensor", "the id of the [[sensor]] this rule watches, e.g. sensor = \"rain1\"")
            }

            var measure: Measure?
            if let name = reader.string("measure") {
                measure = parseMeasure(name, reader: reader)
                if let measure, let sensor, let kind = sensor.kind, let sensorId, measure.sensorKind != kind {
                    reader.report("measure", given: .string(name),
                                  "needs a \(measure.sensorKind.rawValue) sensor, but \"\(sensorId)\" is a \(kind.rawValue) sensor; for it use \(Self.measureNames(for: kind))")
                }
                if let measure, measure == .tangentAngle, let sensor, sensor.kind == .displacement, !sensor.steadyRateIsSet, let sensorId {
                    reader.report("measure", given: .string(name),
                                  "sensor \"\(sensorId)\" has no steady_rate; the tangent angle divides by the slope's steady creep rate: set steady_rate (mm/day) in its [[sensor]] block")
                }
            } else if !reader.has("measure") {
                reader.missing("measure", "what the rule watches: \(Measure.standardNames.joined(separator: ", "))")
            }

            let thresholds = readThresholds(reader, measure: measure, sensor: sensor)
            if let id, known[id] == nil { known[id] = KnownRule(thresholds: thresholds) }
            rules.append(Rule(id: id ?? "", sensorId: sensorId ?? "", measure: measure ?? .waterLevel,
                              thresholds: thresholds ?? Thresholds()))
        }
        return (rules, known, firstPathById)
    }

    /// The names of the measures a kind of sensor offers, for messages.
    static func measureNames(for kind: SensorKind) -> String {
        let names = Measure.standardNames.filter { Measure(name: $0)?.sensorKind == kind }
        let spanHint = switch kind {
        case .rainGauge: " (any window: rain_<n>m, rain_<n>h)"
        case .waterLevel: " (any span: water_rise_<n>m, water_rise_<n>h)"
        case .displacement: " (any span: displacement_rate_<n>h, displacement_rate_<n>d)"
        }
        return names.joined(separator: ", ") + spanHint
    }

    private func parseMeasure(_ name: String, reader: TableReader) -> Measure? {
        guard let measure = Measure(name: name) else {
            var message = "not a measure; use one of \(Measure.standardNames.joined(separator: ", ")) (windows and spans are a whole number and m, h or d)"
            if let suggestion = closestName(to: name, among: Measure.standardNames) {
                message = "not a measure; did you mean \"\(suggestion)\"? (measures: \(Measure.standardNames.joined(separator: ", ")))"
            }
            reader.report("measure", given: .string(name), message)
            return nil
        }
        let span: Int64? = switch measure {
        case .rainAccumulation(let window): window
        case .waterRise(let span), .displacementRate(let span): span
        default: nil
        }
        if let span, !(ConfigurationLimits.measureSpanMillisecondsMin...ConfigurationLimits.measureSpanMillisecondsMax).contains(span) {
            reader.report("measure", given: .string(name),
                          "the window must be from \(formatDuration(ConfigurationLimits.measureSpanMillisecondsMin)) to \(formatDuration(ConfigurationLimits.measureSpanMillisecondsMax))")
            return nil
        }
        return measure
    }

    private func readThresholds(_ reader: TableReader, measure: Measure?, sensor: KnownSensor?) -> Thresholds? {
        var thresholds = Thresholds()
        var isValid = true
        for level in WarningLevel.colours where reader.has(level.name) {
            guard let value = reader.number(level.name) else {
                isValid = false
                continue
            }
            if let problem = Self.thresholdProblem(value, measure: measure, sensor: sensor) {
                reader.report(level.name, given: reader.entries[level.name], problem)
                isValid = false
            }
            thresholds[level] = value
        }
        let defined = thresholds.defined
        guard !defined.isEmpty else {
            if isValid {
                reader.reportTable("no thresholds; give at least one of blue, yellow, orange, red, e.g. yellow = 45")
            }
            return nil
        }
        for (lower, higher) in zip(defined, defined.dropFirst()) where !(lower.value < higher.value) {
            reader.report(higher.level.name, given: reader.entries[higher.level.name],
                          "must be above \(lower.level.name) (\(tomlNumber(lower.value))): thresholds increase with the level")
            isValid = false
        }
        return isValid ? thresholds : nil
    }

    /// Why a threshold can never mean what it says for this measure, or nil.
    static func thresholdProblem(_ value: Double, measure: Measure?, sensor: KnownSensor?) -> String? {
        guard let measure else { return nil }
        switch measure {
        case .rainAccumulation, .rainAntecedent, .waterRise, .displacementRate:
            return value > 0 ? nil : "must be above 0 (\(measure.unit)): a threshold of 0 or less is always reached"
        case .tangentAngle:
            return value > 0 && value < 90 ? nil : "must be between 0 and 90 degrees (45° is steady creep, 85° and more imminent failure)"
        case .waterLevel:
            if let minimum = sensor?.rangeMinimum, let maximum = sensor?.rangeMaximum, !(minimum...maximum).contains(value) {
                return "is outside the gauge's range [\(tomlNumber(minimum)), \(tomlNumber(maximum))] m: it could never be reached"
            }
            return nil
        case .displacement:
            return nil
        }
    }

    // MARK: [[combined_rule]]

    private func readCombinedRules(rules: [String: KnownRule], usedIds: [String: TOMLPath]) -> [CombinedRule] {
        let readers = arrayOfTables("combined_rule", countMax: ConfigurationLimits.combinedRulesMax)
        let levelNames = WarningLevel.colours.map(\.name)
        var combined: [CombinedRule] = []
        var idPaths = usedIds
        for var reader in readers {
            let id = reader.identifier("id", what: "rain-and-slope")
            if let id {
                if let first = idPaths[id] {
                    reader.report("id", given: .string(id),
                                  "already the id of the rule on line \(problems.locator.line(for: first) ?? 0); ids must be unique across [[rule]] and [[combined_rule]]")
                } else {
                    idPaths[id] = reader.path
                    reader.label = "[[combined_rule]] \"\(id)\""
                }
            }
            reader.reportUnknownKeys(known: ConfigurationSchema.names(in: "combined_rule"))
            let hazard = reader.choice("hazard", among: Hazard.allCases.map(\.name)).flatMap(Hazard.init(rawValue:))
            var level: WarningLevel?
            if reader.has("level") {
                level = reader.choice("level", among: levelNames).flatMap(WarningLevel.init(name:))
            } else {
                reader.missing("level", "the level this combination raises, one of \(quotedList(levelNames))")
            }
            var conditions: [CombinedRule.Condition] = []
            let conditionsText = "a list of 2 to \(ConfigurationLimits.conditionsPerCombinedRuleMax) conditions, e.g. [ { rule = \"rain-24h\", at_least = \"yellow\" }, { rule = \"slope-rate\", at_least = \"blue\" } ]"
            if let node = reader.entries["when"] {
                if case .array(let elements) = node, (2...ConfigurationLimits.conditionsPerCombinedRuleMax).contains(elements.count) {
                    var seen: Set<String> = []
                    for (index, element) in elements.enumerated() {
                        let conditionPath = reader.path + [.key("when"), .index(index)]
                        guard case .table(let entries) = element else {
                            problems.report(at: conditionPath, key: reader.keyLabel("when #\(index + 1)"), given: element.rendered,
                                            "each condition must be { rule = \"…\", at_least = \"…\" }")
                            continue
                        }
                        let conditionReader = TableReader(entries: entries, path: conditionPath,
                                                          label: reader.keyLabel("when #\(index + 1)"), problems: problems)
                        if let condition = readCondition(conditionReader, rules: rules, seen: &seen) {
                            conditions.append(condition)
                        }
                    }
                } else {
                    reader.report("when", given: node, "must be " + conditionsText)
                }
            } else {
                reader.missing("when", conditionsText)
            }
            combined.append(CombinedRule(id: id ?? "", conditions: conditions, level: level ?? .red, hazard: hazard))
        }
        return combined
    }

    private func readCondition(_ reader: TableReader, rules: [String: KnownRule], seen: inout Set<String>) -> CombinedRule.Condition? {
        let levelNames = WarningLevel.colours.map(\.name)
        reader.reportUnknownKeys(known: ConfigurationSchema.names(in: "combined_rule.when"))
        var ruleId = reader.string("rule")
        var rule: KnownRule?
        if let id = ruleId {
            rule = rules[id]
            if rule == nil {
                var message = "no [[rule]] has this id (a combined rule combines [[rule]]s)"
                if let suggestion = closestName(to: id, among: Array(rules.keys)) { message += "; did you mean \"\(suggestion)\"?" }
                reader.report("rule", given: .string(id), message)
                ruleId = nil
            } else if !seen.insert(id).inserted {
                reader.report("rule", given: .string(id), "this rule is already a condition of this combined rule")
                ruleId = nil
            }
        } else if !reader.has("rule") {
            reader.missing("rule", "the id of a [[rule]]")
        }
        var atLeast: WarningLevel?
        if reader.has("at_least") {
            atLeast = reader.choice("at_least", among: levelNames).flatMap(WarningLevel.init(name:))
        } else {
            reader.missing("at_least", "the level the rule must have reached, one of \(quotedList(levelNames))")
        }
        if let atLeast, let ruleId, let thresholds = rule?.thresholds,
            !thresholds.defined.contains(where: { $0.level >= atLeast })
        {
            reader.report("at_least", given: .string(atLeast.name),
                          "rule \"\(ruleId)\" has no threshold at \(atLeast.name) or above, so this condition could never hold")
        }
        guard let ruleId, let atLeast else { return nil }
        return CombinedRule.Condition(ruleId: ruleId, atLeast: atLeast)
    }

    // MARK: [[contact]]

    private func readContacts() -> [Contact] {
        var contacts: [Contact] = []
        var firstPathByPhone: [String: TOMLPath] = [:]
        for var reader in arrayOfTables("contact", countMax: ConfigurationLimits.contactsMax) {
            reader.reportUnknownKeys(known: ConfigurationSchema.names(in: "contact"))
            var name = ""
            if let text = reader.string("name") {
                if text.trimmingSpaces.isEmpty || text.count > ConfigurationLimits.contactNameCharactersMax {
                    reader.report("name", given: .string(text), "must be the person's name, 1 to \(ConfigurationLimits.contactNameCharactersMax) characters")
                } else {
                    name = text
                    reader.label = "[[contact]] \"\(text)\""
                }
            } else if !reader.has("name") {
                reader.missing("name", "the responsible person's name, e.g. name = \"王建国\"")
            }
            var phone = ""
            if let text = reader.string("phone") {
                let digits = text.dropFirst()
                if text.hasPrefix("+"), (7...15).contains(digits.count), digits.allSatisfy({ $0.isASCII && $0.isNumber }) {
                    if let first = firstPathByPhone[text] {
                        reader.report("phone", given: .string(text), "already the phone of the [[contact]] on line \(problems.locator.line(for: first) ?? 0)")
                    } else {
                        firstPathByPhone[text] = reader.path
                        phone = text
                    }
                } else {
                    var message = "must be + and the country code and number, digits only, no spaces, e.g. \"+8613800000001\""
                    // A Chinese mobile number written the way people say it: offer the +86 form.
                    if text.count == 11, text.hasPrefix("1"), text.allSatisfy({ $0.isASCII && $0.isNumber }) {
                        message += "; did you mean \"+86\(text)\"?"
                    }
                    reader.report("phone", given: .string(text), message)
                }
            } else if !reader.has("phone") {
                reader.missing("phone", "the number SMS goes to, e.g. phone = \"+8613800000001\"")
            }
            let order = SchemaTableReader(reader, table: "contact", checkingKeys: false).integer("order") ?? 0
            contacts.append(Contact(name: name, phone: phone, order: order))
        }
        return contacts
    }

    // MARK: [acknowledgement]

    private func readAcknowledgement(contactCount: Int) -> AcknowledgementPolicy {
        var policy = AcknowledgementPolicy()
        let keys = schemaTable("acknowledgement")
        let reader = keys.reader
        if let name = keys.choice("from_level") {
            policy.fromLevel = name == "none" ? nil : WarningLevel(name: name)
        }
        if let node = reader.entries["answer_keywords"] {
            let allowed = "a list of at most \(AcknowledgementPolicy.answerKeywordsMax) words, each 1 to \(AcknowledgementPolicy.answerKeywordCharactersMax) characters, that count as an answer (e.g. [\"1\", \"收到\", \"到\"]); [] or left out: any reply counts"
            var keywords: [String] = []
            if case .array(let elements) = node, elements.count <= AcknowledgementPolicy.answerKeywordsMax {
                for element in elements {
                    if case .string(let word) = element, !word.trimmingSpaces.isEmpty, word.count <= AcknowledgementPolicy.answerKeywordCharactersMax {
                        keywords.append(String(word.trimmingSpaces))
                    } else {
                        reader.report("answer_keywords", given: node, "\(element.rendered) is not a keyword; must be " + allowed)
                    }
                }
            } else {
                reader.report("answer_keywords", given: node, "must be " + allowed)
            }
            policy.answerKeywords = keywords
        }
        policy.callUnanswered = keys.boolean("call_unanswered") ?? false
        policy.callRingMilliseconds = keys.duration("call_ring") ?? 0
        // Every value has a default in the schema, so the optionals below are never nil.
        policy.deadlineMilliseconds = keys.duration("deadline") ?? 0
        policy.escalationsMax = keys.integer("escalations_max") ?? 0
        if let level = policy.fromLevel, contactCount == 0 {
            let fromDefault = !reader.has("from_level")
            problems.report(at: reader.path + [.key("from_level")], key: "[acknowledgement] from_level",
                            given: fromDefault ? nil : tomlQuoted(level.name),
                            "叫应 is asked from \(level.name)\(fromDefault ? " (the default)" : "") but there is no [[contact]] to answer; add [[contact]] blocks, or set from_level = \"none\" to never ask")
        }
        return policy
    }

    // MARK: [outputs.<level>]

    private func readOutputs(hardware: inout HardwareConfiguration) -> [WarningLevel: LevelOutputs] {
        guard let outputsReader = table("outputs", required: nil) else { return [:] }
        let levelNames = WarningLevel.allCases.map(\.name)
        outputsReader.reportUnknownKeys(known: levelNames)
        var outputs: [WarningLevel: LevelOutputs] = [:]
        for level in WarningLevel.allCases {
            guard let node = outputsReader.entries[level.name] else { continue }
            let label = "[outputs.\(level.name)]"
            guard case .table(let entries) = node else {
                outputsReader.report(level.name, given: node, "must be a table written \(label) with its keys below")
                continue
            }
            let reader = TableReader(entries: entries, path: outputsReader.path + [.key(level.name)], label: label, problems: problems)
            // The schema names message_<hazard> for each hazard; the check keeps the two in step.
            assert(Hazard.allCases.allSatisfy { ConfigurationSchema.names(in: "outputs.*").contains(Self.hazardMessageKey($0)) })
            let keys = SchemaTableReader(reader, table: "outputs.*")
            var siren = SirenPattern.off
            let sirenName = keys.choice("siren")
            let sirenNames = ["off", "continuous", "intermittent"]
            if !reader.has("siren") {
                reader.missing("siren", "say what the siren does at this level: \(quotedList(sirenNames))")
            }
            if sirenName == "intermittent" {
                // Both have defaults in the schema.
                siren = .intermittent(onMilliseconds: keys.duration("siren_on") ?? 0, offMilliseconds: keys.duration("siren_off") ?? 0)
            } else if sirenName == "continuous" {
                siren = .continuous
            }
            if let sirenName, sirenName != "intermittent" {
                for key in ["siren_on", "siren_off"] where reader.has(key) {
                    reader.report(key, given: reader.entries[key], "only for siren = \"intermittent\"; here siren = \"\(sirenName)\"")
                }
            }
            if let protection = readSirenProtection(keys, siren: siren, sirenName: sirenName) {
                hardware.sirenProtection[level] = protection
            }
            let lamp = keys.choice("lamp").flatMap(LampColour.init(rawValue:))
            let message = readMessage(reader, "message", meaning: "the text to broadcast and send by SMS")
            if !reader.has("message") {
                reader.missing("message", "the text broadcast and sent by SMS at this level, e.g. message = \"…请准备转移\"")
            }
            var hazardMessages: [Hazard: String] = [:]
            for hazard in Hazard.allCases {
                let key = Self.hazardMessageKey(hazard)
                hazardMessages[hazard] = readMessage(reader, key, meaning: "the text for a \(hazard.name) warning at this level")
            }
            let repeatEvery = keys.duration("repeat_every")
            outputs[level] = LevelOutputs(
                siren: siren, lamp: lamp, message: message ?? "", repeatEveryMilliseconds: repeatEvery, hazardMessages: hazardMessages)
        }
        return outputs
    }

    /// `message_rain`, `message_water_level`, `message_slope`: the words for one hazard.
    static func hazardMessageKey(_ hazard: Hazard) -> String { "message_" + hazard.name }

    /// A text to speak and send: 1 to `messageCharactersMax` characters; nil when not set or wrong.
    func readMessage(_ reader: TableReader, _ key: String, meaning: String) -> String? {
        guard let text = reader.string(key) else { return nil }
        guard !text.trimmingSpaces.isEmpty, text.count <= ConfigurationLimits.messageCharactersMax else {
            reader.report(key, given: .string(text),
                          "must be \(meaning), 1 to \(ConfigurationLimits.messageCharactersMax) characters; this has \(text.count)")
            return nil
        }
        return text
    }
}

/// "+08:00" → 480; nil unless ±hh:mm within −12:00…+14:00 in steps of 15 minutes.
func parseUTCOffset(_ text: String) -> Int? {
    let characters = Array(text)
    guard characters.count == 6, characters[0] == "+" || characters[0] == "-", characters[3] == ":",
        let hours = Int(String(characters[1...2])), let minutes = Int(String(characters[4...5])),
        characters[1...2].allSatisfy(\.isASCII), characters[4...5].allSatisfy(\.isASCII),
        minutes < 60, minutes % 15 == 0
    else { return nil }
    let total = (characters[0] == "-" ? -1 : 1) * (hours * 60 + minutes)
    guard total >= -12 * 60, total <= 14 * 60 else { return nil }
    return total
}

/// 480 → "+08:00".
func formatUTCOffset(_ minutes: Int) -> String {
    let sign = minutes < 0 ? "-" : "+"
    let magnitude = abs(minutes)
    let hours = magnitude / 60
    let rest = magnitude % 60
    return sign + (hours < 10 ? "0" : "") + String(hours) + ":" + (rest < 10 ? "0" : "") + String(rest)
}

extension String {
    /// The text without spaces, tabs and newlines around it.
    var trimmingSpaces: Substring {
        let isSpace: (Character) -> Bool = { $0 == " " || $0 == "\t" || $0 == "\n" || $0 == "\r" || $0 == "\u{3000}" }
        guard let first = firstIndex(where: { !isSpace($0) }), let last = lastIndex(where: { !isSpace($0) }) else { return "" }
        return self[first...last]
    }
}

extension TOMLNode {
    var isEmptyArray: Bool {
        if case .array(let elements) = self { elements.isEmpty } else { false }
    }

    func isText(_ text: String) -> Bool {
        if case .string(let value) = self { value == text } else { false }
    }
}
