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
        #expect(TOMLPreflight.badTableHeader(text) == nil)
    }
}
