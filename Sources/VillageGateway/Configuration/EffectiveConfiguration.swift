// The configuration as the box will run it: canonical TOML with every default written out.
import WarningLogic

/// Prints a checked configuration back as TOML, in the example file's order, with every default
/// filled in and marked `# default`, and every optional key that is not set named in a comment.
/// The text parses back to an equal configuration, so it can be saved and edited.
enum EffectiveConfiguration {
    static func render(_ configuration: GatewayConfiguration) -> String {
        var out = TOMLWriter()
        let engine = configuration.engine

        out.comment("The effective configuration: every key with the value the box uses.")
        out.comment("\"# default\" marks a value that equals the default.")
        out.blank()
        out.header("[station]")
        out.entry("id", tomlQuoted(engine.station.id))
        out.entry("name", tomlQuoted(engine.station.name))
        out.entry("utc_offset", tomlQuoted(formatUTCOffset(engine.station.utcOffsetMinutes)))
        // Optional, no default: printed only when set.
        if let latitude = engine.station.latitude, let longitude = engine.station.longitude {
            out.entry("latitude", "\(latitude)")
            out.entry("longitude", "\(longitude)")
        }

        let logic = engine.logic
        out.blank()
        out.header("[logic]")
        out.entry("clear_after", tomlQuoted(formatDuration(logic.clearAfterMilliseconds)))
        out.entry("latch", "[" + logic.latchedLevels.sorted().map { tomlQuoted($0.name) }.joined(separator: ", ") + "]")
        out.entry("antecedent_k", tomlNumber(logic.antecedentDecayPerDay))
        out.entry("rain_day_start_hour", String(logic.rainDayStartHour))
        out.entry("tips_per_minute_max", String(logic.tipsPerMinuteMax))

        let acknowledgement = engine.acknowledgement
        out.blank()
        out.header("[acknowledgement]")
        out.entry("from_level", tomlQuoted(acknowledgement.fromLevel?.name ?? "none"))
        out.entry("deadline", tomlQuoted(formatDuration(acknowledgement.deadlineMilliseconds)))
        out.entry("escalations_max", String(acknowledgement.escalationsMax))
        out.entry("answer_keywords", "[" + acknowledgement.answerKeywords.map(tomlQuoted).joined(separator: ", ") + "]")
        out.entry("call_unanswered", acknowledgement.callUnanswered ? "true" : "false")
        out.entry("call_ring", tomlQuoted(formatDuration(acknowledgement.callRingMilliseconds)))

        let hardware = configuration.hardware
        var rainGaugeIndex = 0
        for sensor in engine.sensors {
            out.blank()
            out.header("[[sensor]]")
            out.entry("id", tomlQuoted(sensor.id))
            out.entry("kind", tomlQuoted(sensor.kind.rawValue))
            out.entry("unit", tomlQuoted(sensor.unit), isDefault: sensor.unit == ConfigurationReader.unit(of: sensor.kind))
            switch sensor.kind {
            case .rainGauge:
                if let micrometres = sensor.micrometersPerTip {
                    out.entry("mm_per_tip", tomlNumber(Double(micrometres) / 1000))
                }
                if let input = hardware.rainGaugeInputs[sensor.id] {
                    // Unwritten, gauges take rain_gauge then rain_gauge_2 in file order.
                    let byOrder: BoardInputFunction = rainGaugeIndex == 0 ? .rainGauge : .rainGauge2
                    out.entry("input", tomlQuoted(input.rawValue), isDefault: input == byOrder)
                } else {
                    out.comment("input not set: both rain-gauge inputs are taken; readings only from a scenario")
                }
                rainGaugeIndex += 1
            case .waterLevel, .displacement:
                if let minimum = sensor.rangeMinimum, let maximum = sensor.rangeMaximum {
                    out.entry("range", "[\(tomlNumber(minimum)), \(tomlNumber(maximum))]")
                } else {
                    out.comment("range not set: no reading is out of range")
                }
                if let stale = sensor.staleAfterMilliseconds {
                    out.entry("stale_after", tomlQuoted(formatDuration(stale)))
                } else {
                    out.comment("stale_after not set: never stale")
                }
                out.entry("read_failures_max", String(sensor.readFailuresMax))
                if let modbus = hardware.modbusSensors[sensor.id] {
                    out.entry("modbus", renderModbus(modbus))
                } else {
                    out.comment("modbus not set: readings come only from a scenario (simulate, --board sim)")
                }
                if sensor.kind == .displacement {
                    if let baseline = sensor.displacementBaseline {
                        out.entry("baseline", tomlNumber(baseline))
                    } else {
                        out.comment("baseline not set: the first good reading is the baseline")
                    }
                    if let rate = sensor.steadyRateMillimetersPerDay {
                        out.entry("steady_rate", tomlNumber(rate))
                    } else {
                        out.comment("steady_rate not set: no tangent_angle rule can use this sensor")
                    }
                    out.entry("tangent_span", tomlQuoted(formatDuration(sensor.tangentSpanMilliseconds)))
                }
            }
        }

        for name in hardware.buses.keys.sorted() {
            guard let bus = hardware.buses[name] else { continue }
            out.blank()
            out.header("[buses.\(name)]")
            out.entry("baud", String(bus.baudRate))
            out.entry("parity", tomlQuoted(bus.parity.rawValue))
            out.entry("stop_bits", String(bus.stopBits))
            out.entry("timeout", tomlQuoted(formatDuration(Int64(bus.timeoutMilliseconds))))
            out.entry("retries_max", String(bus.retriesMax))
        }

        for rule in engine.rules {
            out.blank()
            out.header("[[rule]]")
            out.entry("id", tomlQuoted(rule.id))
            out.entry("sensor", tomlQuoted(rule.sensorId))
            out.entry("measure", tomlQuoted(rule.measure.name))
            for (level, value) in rule.thresholds.defined {
                out.entry(level.name, tomlNumber(value))
            }
        }

        for combined in engine.combinedRules {
            out.blank()
            out.header("[[combined_rule]]")
            out.entry("id", tomlQuoted(combined.id))
            out.entry("level", tomlQuoted(combined.level.name))
            if let hazard = combined.hazard {
                out.entry("hazard", tomlQuoted(hazard.name))
            } else {
                out.comment("hazard not set: this combination speaks its level's message")
            }
            let conditions = combined.conditions.map {
                "{ rule = \(tomlQuoted($0.ruleId)), at_least = \(tomlQuoted($0.atLeast.name)) }"
            }
            out.entry("when", "[ " + conditions.joined(separator: ", ") + " ]")
        }

        for contact in engine.contacts {
            out.blank()
            out.header("[[contact]]")
            out.entry("name", tomlQuoted(contact.name))
            out.entry("phone", tomlQuoted(contact.phone))
            out.entry("order", String(contact.order))
        }

        for level in WarningLevel.colours + [.none] {
            out.blank()
            guard let outputs = engine.outputs[level] else {
                out.comment("[outputs.\(level.name)] not set: this level drives no output, it is only reported")
                continue
            }
            out.header("[outputs.\(level.name)]")
            switch outputs.siren {
            case .off: out.entry("siren", tomlQuoted("off"))
            case .continuous: out.entry("siren", tomlQuoted("continuous"))
            case .intermittent(let on, let off):
                out.entry("siren", tomlQuoted("intermittent"))
                out.entry("siren_on", tomlQuoted(formatDuration(on)))
                out.entry("siren_off", tomlQuoted(formatDuration(off)))
            }
            if let protection = hardware.sirenProtection[level] {
                out.entry("siren_max_on", tomlQuoted(formatDuration(protection.maxOnMilliseconds)))
                out.entry("siren_rest", tomlQuoted(formatDuration(protection.restMilliseconds)))
            }
            if let lamp = outputs.lamp {
                out.entry("lamp", tomlQuoted(lamp.rawValue))
            } else {
                out.comment("lamp not set: no lamp at this level")
            }
            out.entry("message", tomlQuoted(outputs.message))
            for hazard in Hazard.allCases {
                let key = ConfigurationReader.hazardMessageKey(hazard)
                if let text = outputs.hazardMessages[hazard] {
                    out.entry(key, tomlQuoted(text))
                } else {
                    out.comment("\(key) not set: a \(hazard.name) warning speaks message")
                }
            }
            if let every = outputs.repeatEveryMilliseconds {
                out.entry("repeat_every", tomlQuoted(formatDuration(every)))
            } else {
                out.comment("repeat_every not set: broadcast once")
            }
        }
        renderCounty(configuration.county, into: &out)
        return out.text + renderShell(configuration.shell) + renderDrill(endMessage: engine.drillEndMessage)
    }
}

/// `{ bus = "rs485", slave = 3, … }` with every key written, word_order only for 32-bit types.
private func renderModbus(_ modbus: ModbusSensorConfiguration) -> String {
    let decoding = modbus.decoding
    var parts = [
        "bus = \(tomlQuoted(modbus.bus))", "slave = \(modbus.slaveID)", "function = \(modbus.function.functionCode)",
        "register = \(modbus.register)", "type = \(tomlQuoted(decoding.type.rawValue))",
    ]
    if decoding.type.registerCount > 1 { parts.append("word_order = \(tomlQuoted(decoding.wordOrder.rawValue))") }
    parts += [
        "byte_order = \(tomlQuoted(decoding.byteOrder.rawValue))", "scale = \(tomlNumber(decoding.scale))",
        "offset = \(tomlNumber(decoding.offset))", "poll_every = \(tomlQuoted(formatDuration(modbus.pollEveryMilliseconds)))",
    ]
    return "{ " + parts.joined(separator: ", ") + " }"
}

/// Lines of TOML, built in order; a value equal to the schema's default is marked `# default`.
/// Internal, not private: ConfigurationReader+County.swift renders [county] with it.
struct TOMLWriter {
    private(set) var text = ""
    /// The schema's name of the table the entries go to (`outputs.*` for `[outputs.red]`).
    private var table: String?

    init(table: String? = nil) { self.table = table }

    mutating func header(_ header: String) {
        text += header + "\n"
        var name = Substring(header)
        while name.first == "[" { name = name.dropFirst() }
        while name.last == "]" { name = name.dropLast() }
        let top = name.split(separator: ".").first.map(String.init) ?? String(name)
        table = ConfigurationSchema.table(named: top)?.kind == .tableOfTables ? top + ".*" : String(name)
    }

    mutating func blank() { text += "\n" }
    mutating func comment(_ comment: String) { text += "# " + comment + "\n" }

    /// `isDefault`: for the few keys whose default depends on other keys (a sensor's unit on its
    /// kind); otherwise the schema says.
    mutating func entry(_ key: String, _ value: String, isDefault: Bool? = nil) {
        let marked = isDefault ?? table.map { table in
            ConfigurationSchema.key(table: table, name: key)?.defaultValue != nil && ConfigurationSchema.isDefault(table, key, value)
        } ?? false
        text += tomlKey(key) + " = " + value + (marked ? "  # default" : "") + "\n"
    }
}
