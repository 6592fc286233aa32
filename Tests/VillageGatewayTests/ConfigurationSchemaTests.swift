// The one description of the configuration keys, held against everything else that names a
// key: the effective-configuration printer, config/example.toml, the reader and the shell.
import Foundation
import Testing
@testable import VillageGateway

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
