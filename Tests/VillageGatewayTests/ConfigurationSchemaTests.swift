// The one description of the configuration keys, held against everything else that names a
// key: the effective-configuration printer, config/example.toml, the reader and the shell.
import Foundation
import Testing
@testable import VillageGateway
import WarningLogic

@Suite struct ConfigurationSchemaTests {
    /// `[outputs.red]` → `outputs.*`, `[[sensor]]` → `sensor`, `# [county.api]` → `county.api`.
    static func schemaTable(ofHeader line: String) -> String? {
        var header = line.trimmingCharacters(in: .whitespaces)
        if header.hasPrefix("#") { header = String(header.dropFirst()).trimmingCharacters(in: .whitespaces) }
        guard header.hasPrefix("["), let close = header.firstIndex(of: "]") else { return nil }
        let name = header[..<close].trimmingCharacters(in: CharacterSet(charactersIn: "[]"))
        if name.hasPrefix("outputs.") { return "outputs.*" }
        if name.hasPrefix("buses.") { return "buses.*" }
        return name
    }

    /// Each `key = value` line of a TOML text with the schema table it is in (commented keys too).
    static func keyLines(_ text: String, commented: Bool) -> [(table: String, name: String, value: String, line: String)] {
        var table = ""
        var result: [(String, String, String, String)] = []
        for line in text.split(separator: "\n").map(String.init) {
            if let header = schemaTable(ofHeader: line), !line.contains("=") {
                table = header
                continue
            }
            var body = line
            if body.hasPrefix("#") {
                guard commented else { continue }
                body = String(body.dropFirst())
            }
            let parts = body.split(separator: "=", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
            guard parts.count == 2, !table.isEmpty, parts[0].allSatisfy({ $0.isLowercase || $0.isNumber || $0 == "_" }), !parts[0].isEmpty else { continue }
            result.append((table, parts[0], parts[1], line))
        }
        return result
    }

    @Test func theEffectiveConfigurationPrintsOnlyDescribedKeysWithTheDescribedDefaults() throws {
        let text = EffectiveConfiguration.render(try ConfigurationLoader.load(path: ConfigurationFixtures.examplePath))
        let lines = Self.keyLines(text, commented: false)
        #expect(lines.count > 40)
        for (table, name, value, line) in lines {
            let described = try #require(ConfigurationSchema.key(table: table, name: name), "\(line) has no description in ConfigurationSchema")
            guard line.hasSuffix("# default"), let expected = described.defaultValue else { continue }
            let printed = String(value.dropLast("# default".count)).trimmingCharacters(in: .whitespaces)
            if described.kind == .duration {
                let unquote = { (text: String) in text.trimmingCharacters(in: CharacterSet(charactersIn: "\"")) }
                #expect(parseDuration(unquote(printed)) == parseDuration(unquote(expected)), "\(line): the schema says \(expected)")
            } else {
                #expect(ConfigurationEditor.parseValue(printed).sameValue(as: ConfigurationEditor.parseValue(expected)), "\(line): the schema says \(expected)")
            }
        }
    }

    @Test func exampleTomlExplainsEveryKeyAndWritesNoUnknownOne() throws {
        let example = try String(contentsOfFile: ConfigurationFixtures.examplePath, encoding: .utf8)
        for key in ConfigurationSchema.keys {
            #expect(example.range(of: "\\b\(key.name)\\b", options: .regularExpression) != nil, "config/example.toml never mentions \(key.table).\(key.name)")
        }
        for (table, name, _, line) in Self.keyLines(example, commented: true) where table != "county.sl651" || name != "displacement" {
            #expect(ConfigurationSchema.key(table: table, name: name) != nil, "config/example.toml writes \(line), which the schema does not describe")
        }
    }

    @Test func theReaderRefusesWhatTheSchemaDoesNotDescribe() {
        let problems = ConfigurationFixtures.problems(ConfigurationFixtures.minimal.replacingOccurrences(of: "[station]\n", with: "[station]\nnmae = \"x\"\n"))
        #expect(problems.contains { $0.allowed == "unknown key \"nmae\"; did you mean \"name\"?" })
    }

    @Test func theShellRefusesAnUnknownKeyExplainsAKnownOneAndCompletesUnsetOnes() throws {
        let harness = try SessionHarness()
        harness.logIn()
        #expect(harness.answer("set station.nmae 黄坑").contains("Refused: unknown key station.nmae; did you mean station.name?"))
        #expect(harness.answer("set rule.rain-1h.purple 90").contains("Refused: unknown key rule.rain-1h.purple"))
        let help = harness.type("help outputs.red.siren_rest\r")
        #expect(help.contains("outputs.red.siren_rest: the rest after siren_max_on"))
        #expect(help.contains("type     duration") && help.contains("default  \"1m\"") && help.contains("now      \"1m\""))
        // repeat_every is not written for blue in the example: it completes all the same.
        harness.type("set outputs.blue.rep\t")
        #expect(harness.type(" 45m\r").contains("Staged outputs.blue.repeat_every = \"45m\""))
        #expect(harness.type("show config rule.rain-1h\r").contains("rule.rain-1h.red = 80"))
    }
}

/// Every key of the schema, set through the shell, committed, read back from the file and shown:
/// a key added to the schema is refused here until it has a sample, so it cannot be missing from
/// the reader, the printer, the editor or the shell.
@Suite struct ConfigurationSchemaRoundTripTests {
    /// Steps of `set KEY VALUE` (or `unset KEY` when the value is nil) committed together, in
    /// order, each a value that differs from the example's and passes the checks.
    static let steps: [[(key: String, value: String?)]] = [
        [("station.id", "0011223355")], [("station.name", "黄坑新村")], [("station.utc_offset", "+07:00")],
        [("logic.clear_after", "45m")], [("logic.latch", "[\"orange\", \"red\"]")], [("logic.antecedent_k", "0.9")],
        [("logic.rain_day_start_hour", "9")], [("logic.tips_per_minute_max", "300")],
        [("acknowledgement.from_level", "orange")], [("acknowledgement.deadline", "15m")], [("acknowledgement.escalations_max", "3")],
        [("acknowledgement.answer_keywords", "[\"1\", \"收到\"]")], [("acknowledgement.call_unanswered", "true")],
        [("acknowledgement.call_ring", "45s")],
        // Both or neither: the two change together.
        [("station.latitude", "28.99"), ("station.longitude", "120.65")],
        // A rain gauge has one unit: unset, it is the kind's own.
        [("sensor.rain1.unit", nil)], [("sensor.rain1.mm_per_tip", "0.5")], [("sensor.rain1.input", "rain_gauge_2")],
        [("sensor.river1.range", "[0.0, 12.0]")], [("sensor.river1.stale_after", "45m")], [("sensor.river1.read_failures_max", "5")],
        [("sensor.river1.modbus", "{ bus = \"rs485\", slave = 4, function = 4, register = 2, type = \"int32\", word_order = \"little\", "
            + "byte_order = \"little\", scale = 0.01, offset = 1.5, poll_every = \"20s\" }")],
        [("sensor.slope1.baseline", "1.5")], [("sensor.slope1.steady_rate", "0.8")], [("sensor.slope1.tangent_span", "12h")],
        [("buses.rs485.baud", "19200")], [("buses.rs485.parity", "even")], [("buses.rs485.stop_bits", "2")],
        [("buses.rs485.timeout", "800ms")], [("buses.rs485.retries_max", "3")],
        [("rule.rain-1h.measure", "rain_2h")], [("rule.rain-1h.blue", "30")], [("rule.rain-1h.yellow", "50")],
        [("rule.rain-1h.orange", "65")], [("rule.rain-1h.red", "85")],
        [("combined_rule.rain-and-slope.level", "red")], [("combined_rule.rain-and-slope.hazard", "rain")],
        [("combined_rule.rain-and-slope.when", "[{ rule = \"rain-6h\", at_least = \"orange\" }, { rule = \"slope-rate\", at_least = \"yellow\" }]")],
        [("contact.王建国.phone", "+8613800000009")], [("contact.王建国.order", "2")],
        [("outputs.blue.siren", "continuous")], [("outputs.yellow.siren_on", "1s")], [("outputs.yellow.siren_off", "4s")],
        [("outputs.yellow.siren_max_on", "10m")], [("outputs.yellow.siren_rest", "2m")], [("outputs.yellow.lamp", "red")],
        [("outputs.yellow.message", "黄坑村黄色预警：请做好转移准备。")], [("outputs.yellow.repeat_every", "20m")],
        [("outputs.yellow.message_rain", "黄坑村黄色预警：雨很大。")], [("outputs.yellow.message_water_level", "黄坑村黄色预警：水很高。")],
        [("outputs.yellow.message_slope", "黄坑村黄色预警：坡在动。")],
        [("drill.end_message", "【演练】演练到此结束。")], [("shell.idle_logout", "30m")], [("shell.console", "false")],
        [("county.centre_address", "2")], [("county.password", "1234")], [("county.outbox_max_mb", "128")],
        [("county.keep_delivered", "7d")], [("county.push_window", "22:00-06:00")], [("county.link_probe_every", "5m")],
        [("county.uplink_interfaces", "[\"wwan0\"]")],
        [("county.api.listen", "127.0.0.1:8652")], [("county.api.key_file", "api2.key")], [("county.api.max_clock_skew", "2m")],
        [("county.push.url", "https://county2.example.cn/v1/push")], [("county.push.key_file", "push2.key")], [("county.push.batch_max", "50")],
        [("county.sl651.centre", "10.1.2.4:5006")], [("county.sl651.keep_alive_every", "2m")],
        [("county.sl651.displacement", "{ slope1 = \"FF20 N(6,1)\" }")],
        // Hourly report 34 needs summaries every hour: the two change together.
        [("county.summary_every", "30m")], [("county.summary_every", "1h"), ("county.sl651.hourly", "true")],
    ]

    /// Keys the round trip does not set, and why (another test covers each).
    static let notSetHere: [String: String] = [
        "sensor.id": "renames the block the other keys are named by",
        "sensor.kind": "a kind changes which keys a sensor may have (ConfigurationLoaderTests)",
        "rule.id": "renames the block", "rule.sensor": "the example has one sensor of each kind",
        "combined_rule.id": "renames the block", "contact.name": "renames the block",
        "shell.pin_hash": "changed only by set-pin (ShellPINTests)",
        "county.api": "a table", "county.push": "a table", "county.sl651": "a table",
    ]

    /// The schema's name of a shell key: `rule.rain-1h.red` → `rule.red`, `county.push.url` → `county.push.url`.
    static func schemaName(_ shellKey: String) -> String? {
        ConfigurationSchema.describe(shellKey: shellKey).map { "\($0.table).\($0.name)" }
    }

    /// Whether `shown` (TOML from `show config`) holds what was typed: durations by length,
    /// numbers by value, tables by the keys typed (the printer adds the defaults).
    static func holds(_ shown: TOMLNode?, _ typed: TOMLNode) -> Bool {
        guard let shown else { return false }
        switch (shown, typed) {
        case (.string(let a), .string(let b)): return a == b || (parseDuration(a) != nil && parseDuration(a) == parseDuration(b))
        case (.float(let a), .integer(let b)), (.integer(let b), .float(let a)): return a == Double(b)
        case (.table(let a), .table(let b)): return b.allSatisfy { key, value in holds(a[key], value) }
        case (.array(let a), .array(let b)): return a.count == b.count && zip(a, b).allSatisfy { holds($0, $1) }
        default: return shown.sameValue(as: typed)
        }
    }

    static let hexKey = String(repeating: "5a", count: 32)

    @Test func everySchemaKeyRoundTripsThroughSetCommitReloadAndShow() throws {
        let harness = try SessionHarness(extra: """
            [county.api]
            key_file = "api.key"
            [county.push]
            url = "https://county.example.cn/v1/push"
            key_file = "push.key"
            [county.sl651]
            centre = "10.1.2.3:5005"

            """)
        for name in ["api.key", "push.key", "api2.key", "push2.key"] {
            try Self.hexKey.write(toFile: harness.directory + "/" + name, atomically: true, encoding: .utf8)
        }
        harness.logIn()
        // Every key of the schema is set below, or said why not; a new key needs its sample.
        let sampled = Set(Self.steps.joined().compactMap { Self.schemaName($0.key) })
        let covered = ["sensor.modbus", "combined_rule.when"]  // inside a sampled inline value, checked below
        for key in ConfigurationSchema.keys {
            let name = "\(key.table).\(key.name)"
            #expect(sampled.contains(name) || Self.notSetHere[name] != nil || covered.contains(key.table),
                    "\(name) has no sample in ConfigurationSchemaRoundTripTests.steps: add a value the shell can set")
        }
        for modbusKey in ConfigurationSchema.names(in: "sensor.modbus") {
            #expect(Self.steps.joined().contains { $0.key.hasSuffix(".modbus") && $0.value?.contains(modbusKey + " =") == true },
                    "sensor.modbus.\(modbusKey) is not in the modbus sample")
        }
        for step in Self.steps {
            for (key, value) in step {
                let answer = value.map { harness.answer("set \(key) \($0)") } ?? harness.answer("unset \(key)")
                #expect(answer.contains("Staged"), "\(key): \(answer)")
            }
            let committed = harness.answer("commit")
            #expect(committed.contains("Saved"), "\(step.map(\.key)): \(committed)")
            let reloaded = try ConfigurationLoader.load(path: harness.path)
            let applied = committed.contains("Applied:")
            for (key, value) in step {
                let described = try #require(ConfigurationSchema.describe(shellKey: key))
                let shownNode = ShellSession.value(of: key, in: reloaded).flatMap(ConfigurationSchema.parseValue)
                // As the editor writes it: bare text is quoted where the key holds text (`+86…`).
                let expected = value.map { ConfigurationSchema.parseValue(ConfigurationEditor.tomlValue($0, replacing: shownNode)) ?? .string($0) }
                    ?? .string(ConfigurationReader.unit(of: .rainGauge))
                if described.isSecret {
                    #expect(ShellSession.value(of: key, in: reloaded) == "(not shown)")
                    #expect(!harness.answer("show config \(key)").contains(value ?? "-"), "\(key) is secret")
                    continue
                }
                let shown = try #require(ShellSession.value(of: key, in: reloaded), "\(key) is not shown after reload")
                #expect(Self.holds(ConfigurationSchema.parseValue(shown), expected), "\(key): set \(value ?? "(unset)"), shown after reload \(shown)")
                if applied {
                    #expect(harness.answer("show config \(key)").contains("\(key) = \(shown)"), "\(key): the running configuration")
                }
            }
        }
        // The secret went to the file, not to the screen.
        #expect(try ConfigurationLoader.load(path: harness.path).county.password == 1234)
        // (The line the technician typed is on the screen as typed; no answer repeats it.)
        let echoes = harness.screen.components(separatedBy: "\r\n").filter { $0.contains("1234") && !$0.contains("> set county.password 1234") }
        #expect(echoes.isEmpty, "the password was echoed: \(echoes)")
    }

    @Test func everyDefaultPassesItsOwnChecksAndTheEngineTypesAgree() throws {
        for key in ConfigurationSchema.keys {
            guard let text = key.defaultValue else { continue }
            let node = try #require(ConfigurationSchema.parseValue(text), "\(key.table).\(key.name)'s default \(text) is not TOML")
            switch key.bounds {
            case .integers(let range)?:
                guard case .integer(let value) = node else { Issue.record("\(key.name): \(text) is not a whole number"); continue }
                #expect(range.contains(value), "\(key.table).\(key.name): the default \(text) is outside \(range)")
            case .durations(let range)?:
                guard case .string(let value) = node, let milliseconds = parseDuration(value) else { Issue.record("\(key.name): \(text) is not a duration"); continue }
                #expect(range.contains(milliseconds), "\(key.table).\(key.name): the default \(text) is outside its bounds")
            case nil:
                if case .choice(let words) = key.kind, case .string(let word) = node { #expect(words.contains(word), "\(key.name): \(text)") }
            }
        }
        // The engine's types have defaults of their own (WarningLogic imports nothing): they agree.
        let minimal = try ConfigurationLoader.parse(text: ConfigurationFixtures.minimal, file: "minimal.toml")
        #expect(minimal.engine.logic == LogicConfiguration())
        #expect(minimal.engine.drillEndMessage == EngineConfiguration.drillEndMessageDefault)
        #expect(minimal.engine.acknowledgement.deadlineMilliseconds == AcknowledgementPolicy().deadlineMilliseconds)
        #expect(minimal.engine.acknowledgement.escalationsMax == AcknowledgementPolicy().escalationsMax)
        #expect(minimal.engine.acknowledgement.fromLevel == AcknowledgementPolicy().fromLevel)
        #expect(minimal.engine.station.utcOffsetMinutes == 480)
        #expect(minimal.county == CountyConfiguration() && minimal.shell.idleLogoutMilliseconds == 15 * Milliseconds.minute)
    }

    @Test func aBoundAndAMeaningAreSaidOnceForTheReaderAndForHelp() {
        let problems = ConfigurationFixtures.problems(ConfigurationFixtures.minimal + "\n[logic]\nrain_day_start_hour = 24\n")
        let described = ConfigurationSchema.described("logic", "rain_day_start_hour")
        #expect(problems.contains { $0.allowed == "must be 0 to 23 (\(described.meaning))" }, "\(problems)")
        #expect(described.helpText.contains("allowed  0 to 23"))
    }
}

@Suite struct ShellCountyTests {
    @Test func theShellEditsTheCountyTablesWithMessagesATechnicianCanActOn() throws {
        let harness = try SessionHarness()
        harness.logIn()
        let key = String(repeating: "a1", count: 32)
        try key.write(toFile: harness.directory + "/push.key", atomically: true, encoding: .utf8)
        // A key file that cannot sign is refused before it is staged, saying how to make one.
        let missing = harness.answer("set county.push.key_file nowhere.key")
        #expect(missing.contains("Refused: not staged: cannot read the key file \(harness.directory)/nowhere.key; create it with `openssl rand -hex 32"))
        try "not hex".write(toFile: harness.directory + "/bad.key", atomically: true, encoding: .utf8)
        #expect(harness.answer("set county.push.key_file bad.key").contains("must be written as hex digits"))
        // A table that is not in the file yet is added; its missing key is named with its line.
        let staged = harness.answer("set county.push.key_file push.key")
        #expect(staged.contains("Staged"))
        #expect(staged.contains("[county.push] url: missing; where the county receives pushes"), "\(staged)")
        #expect(staged.contains("other keys of [county.push] are needed (set county.push.url):"), "\(staged)")
        let wrong = harness.answer("set county.push.url ftp://county.example.cn")
        let line = try #require(harness.session.configurationEditor?.line(of: "county.push.url"))
        #expect(wrong.contains("gateway.toml:\(line): [county.push] url = \"ftp://county.example.cn\": must be an http:// or https:// URL"), "\(wrong)")
        #expect(harness.answer("commit").contains("not committed"))
        _ = harness.answer("set county.push.url https://county.example.cn/v1/push")
        let bound = harness.answer("set county.push.batch_max 900")
        #expect(bound.contains("[county.push] batch_max = 900: must be 1 to 500 (reports per POST)"), "\(bound)")
        _ = harness.answer("unset county.push.batch_max")
        #expect(harness.answer("set county.push {}").contains("Refused: county.push is a table: set its keys one by one"))
        let committed = harness.answer("commit")
        #expect(committed.contains("Saved") && committed.contains("[county]"), "\(committed)")
        let reloaded = try ConfigurationLoader.load(path: harness.path)
        #expect(reloaded.county.httpPush == HTTPPushConfiguration(url: "https://county.example.cn/v1/push", keyFile: "push.key"))
        // The key itself is never shown; help says how to rotate it.
        #expect(!harness.screen.contains(key))
        let help = harness.answer("help county.push.key_file")
        #expect(help.contains("the key itself is never shown") && help.contains("Rotate it: write a new key to a new file"))
        #expect(harness.answer("help county.push").contains("county.push.batch_max  reports per POST"))
    }

    @Test func theSL651PasswordIsNeverShownNotEvenInAProblemOrTheAudit() throws {
        let harness = try SessionHarness()
        harness.logIn()
        // (The answer's first line is the line as typed.)
        let refused = harness.answer("set county.password 70001").components(separatedBy: "\r\n").dropFirst().joined(separator: "\n")
        #expect(refused.contains("must be 0 to 65535") && !refused.contains("70001"), "\(refused)")
        _ = harness.answer("set county.password 4321")
        #expect(!harness.answer("diff").contains("4321"))
        #expect(harness.answer("show config county.password").contains("county.password = (not shown)"))
        #expect(harness.answer("commit").contains("Saved"))
        #expect(!harness.answer("show config").contains("4321"))
        let audit = harness.backend.recorded.withLock { $0.audits.map(\.payload) }.joined()
        #expect(audit.contains("county.password: changed (not shown)") && !audit.contains("4321"), "\(audit)")
        #expect(try ConfigurationLoader.load(path: harness.path).county.password == 4321)
    }
}
