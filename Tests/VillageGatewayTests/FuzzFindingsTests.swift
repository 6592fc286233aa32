// What `make fuzz` found, each as the behaviour a user sees once it is fixed.
import Testing
@testable import VillageGateway

@Suite struct FuzzFindingsTests {
    func problem(_ text: String) -> String? {
        do {
            _ = try ConfigurationLoader.parse(text: text, file: "gateway.toml")
            return nil
        } catch {
            return error.description
        }
    }

    /// toml++ (inside TOMLKit) failed an assertion and aborted the process on these: check-config
    /// died, and so would the daemon on a shell `set`/`commit` of such text.
    @Test func aTableHeaderTomlPlusPlusCannotParseIsASyntaxErrorWithItsLineNotAnAbort() {
        #expect(problem("[[[a]]]\n")?.contains("gateway.toml:1:3: TOML syntax error: a table header starts with '['") == true)
        #expect(problem("[station]\nid = \"1\"\n[\u{16}]\n")?.contains("gateway.toml:3:2: TOML syntax error: a table header starts with U+0016 (a control character)") == true)
        #expect(problem("\u{FEFF}\u{FEFF}[\u{FFFD}4s")?.contains("a table header starts with '\u{FFFD}'") == true)
        #expect(throws: ConfigurationError.self) { try StationsFile.parse(text: "[[[st:[station]]\n", file: "stations.toml") }
        // After a multi-line string that ends in extra quotes (its content `""""#` and the
        // closing three, then a comment), the next line is a header again: toml++ aborted on it.
        let extraQuotes = "[[s]]\nd=\"\"\n[[n]]\nd=\"\"\"\"\"\"\"#\"\"\"\"\n[\u{9F}"
        #expect(problem(extraQuotes)?.contains("gateway.toml:5:2: TOML syntax error: a table header starts with '\u{9F}'") == true)
        #expect(throws: ConfigurationError.self) { try StationsFile.parse(text: extraQuotes, file: "stations.toml") }
        #expect(problem("a = '''x''''' # two quotes of its own\n[\u{1}")?.contains("gateway.toml:2:2:") == true)
        // Strings ending in one or two quotes of their own still close where toml++ closes them.
        #expect(TOMLPreflight.check("a = \"\"\"x\"\"\"\"\"\nb = '''y''''\n[t]\nc = \"\"\"\"\"\"\n") == nil)
        #expect(problem("a = \"\"\"x\"\"\"\"\"\nb = '''y''''\n[t]\nc = \"\"\"\"\"\"\n")?.contains("TOML syntax error") != true)
    }

    /// toml++ asserts it never hands parse_value a value terminator, but parse_array hands it a
    /// `}` where a value should be: `ind = [}` aborted the county's stations check in CI's fuzz
    /// run, and aborts check-config and a shell `commit` on the box the same way.
    @Test func aBraceInsideAnArrayIsASyntaxErrorWithItsLineNotAnAbort() {
        let hint = "TOML syntax error: '}' inside an array; an array is [a, b, c] and closes with ']'"
        #expect(problem("ind = [}")?.contains("gateway.toml:1:8: \(hint)") == true)
        #expect(problem("[station]\nid = \"1\"\nkind = [1, # a comment\n  }\n")?.contains("gateway.toml:4:3: \(hint)") == true)
        #expect(problem("a = [[1], {x = [2]}, }")?.contains("gateway.toml:1:22: \(hint)") == true)
        #expect(throws: ConfigurationError.self) { try StationsFile.parse(text: "ind = [}", file: "stations.toml") }
        // Braces that close an inline table, in or around an array, are fine; and so is a `}`
        // inside a string or a comment within an array.
        #expect(TOMLPreflight.check("a = [{x = 1}, {y = [2, 3]}]\nb = {c = [4]}\nd = [\"}\", '}', # }\n]\n") == nil)
        #expect(problem("a = [{x = 1}, {y = [2, 3]}]\nb = {c = [4]}\nd = [\"}\", '}', # }\n]\n")?.contains("TOML syntax error") != true)
    }

    /// toml++'s date and time parsers assert on what its dispatch sends them (`1979-05-27Tq…`
    /// aborted in parse_time). No file of ours has a date or a time, so the family is refused.
    @Test func aBareDateOrTimeIsRefusedWithItsLineNotParsed() {
        let hint = "reads as a date or a time, and this file holds none: text goes in quotes"
        #expect(problem("id =1979-05-27Tqqqq07:32:00Z\n")?.contains("gateway.toml:1:5: TOML syntax error: 1979-05-27Tqqqq07:32:00Z \(hint)") == true)
        #expect(problem("[logic]\nclear_after = 10:00\n")?.contains("gateway.toml:2:15: TOML syntax error: 10:00 \(hint)") == true)
        #expect(problem("a = [1,\n  # a comment\n  2026-12-05]\n")?.contains("gateway.toml:3:3:") == true)
        #expect(problem("a = {b = 2026-12-05}\n")?.contains(hint) == true)
        // An unquoted phone number with dashes reads as a date to toml++: the message shows it quoted.
        #expect(problem("[[contact]]\nphone = 138-0000-0001\n")?.contains("gateway.toml:2:9: TOML syntax error: 138-0000-0001 \(hint) (\"138-0000-0001\"; a phone number or a duration too") == true)
        #expect(throws: ConfigurationError.self) { try StationsFile.parse(text: "id = 2026-12-05\n", file: "stations.toml") }
        // Numbers with exponents and signs, and keys that look like dates, are not dates.
        #expect(TOMLPreflight.check("a = 1e-5\nb = -3\nc = [+2, 1.5E-3]\n2026-12-05 = 1\nd = \"2026-12-05\"\n") == nil)
    }

    /// The check must not refuse what toml++ reads fine: brackets at the start of a line inside
    /// an array or a multi-line string, quoted and dotted headers, comments.
    @Test func bracketsThatAreNotHeadersPassTheCheck() {
        let text = """
            # [not a header]
            a = [
              [1, 2],
              [ 3 ],
            ]
            b = \"\"\"
            [\u{1}not a header either
            \"\"\"
            c = '''
            [[ still text
            '''
            ["quoted key"]
            x = 1
            [ spaced . dotted ]
            y = 2
            [[ 'array' ]]
            z = 3

            """
        #expect(TOMLPreflight.check(text) == nil)
    }
}
