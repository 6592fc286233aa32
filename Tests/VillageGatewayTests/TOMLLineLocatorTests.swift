// The line locator on TOML that would fool a naive line-by-line reader.
import Testing
@testable import ConfigurationFiles
@testable import VillageGateway

@Suite struct TOMLLineLocatorTests {
    @Test func placesTablesArraysOfTablesAndTheirKeys() {
        let locator = TOMLLineLocator(text: """
            # a comment with [brackets] and [[double]] and key = value
            [station]
            id = "0011223344"   # [not a table]

            [[sensor]]
            id = "rain1"
            [[sensor]]
            id = "river1"
            kind = "water_level"
            [outputs.red]
            siren = "off"
            """)
        #expect(locator.exactLine(for: [.key("station")]) == 2)
        #expect(locator.exactLine(for: [.key("station"), .key("id")]) == 3)
        #expect(locator.exactLine(for: [.key("sensor"), .index(0)]) == 5)
        #expect(locator.exactLine(for: [.key("sensor"), .index(0), .key("id")]) == 6)
        #expect(locator.exactLine(for: [.key("sensor"), .index(1)]) == 7)
        #expect(locator.exactLine(for: [.key("sensor"), .index(1), .key("kind")]) == 9)
        #expect(locator.exactLine(for: [.key("outputs")]) == 10)
        #expect(locator.exactLine(for: [.key("outputs"), .key("red"), .key("siren")]) == 11)
        #expect(locator.exactLine(for: [.key("not a table")]) == nil)
        #expect(locator.exactLine(for: [.key("double")]) == nil)
    }

    @Test func fallsBackToTheNearestWrittenAncestor() {
        let locator = TOMLLineLocator(text: """
            [x]
            a = 1

            [[sensor]]
            id = "rain1"
            """)
        #expect(locator.line(for: [.key("sensor"), .index(0), .key("mm_per_tip")]) == 4)
        #expect(locator.line(for: [.key("station"), .key("id")]) == nil)
    }

    @Test func readsQuotedAndDottedKeys() {
        let locator = TOMLLineLocator(text: """
            [ "outputs" . 'red' ]
            "siren" = "off"
            lamp.colour = "red"
            'message' = "a = b # c [d]"
            "key with \\"quote\\" and ." = 1
            """)
        #expect(locator.exactLine(for: [.key("outputs"), .key("red")]) == 1)
        #expect(locator.exactLine(for: [.key("outputs"), .key("red"), .key("siren")]) == 2)
        #expect(locator.exactLine(for: [.key("outputs"), .key("red"), .key("lamp"), .key("colour")]) == 3)
        #expect(locator.exactLine(for: [.key("outputs"), .key("red"), .key("lamp")]) == 3)
        #expect(locator.exactLine(for: [.key("outputs"), .key("red"), .key("message")]) == 4)
        #expect(locator.exactLine(for: [.key("outputs"), .key("red"), .key("key with \"quote\" and .")]) == 5)
    }

    @Test func followsMultiLineArraysInlineTablesAndStrings() {
        let locator = TOMLLineLocator(text: """
            [[combined_rule]]
            id = "both"
            when = [   # conditions [all of them]
                { rule = "rain-24h", at_least = "yellow" },  # a comment, then
                # a whole comment line with { rule = "x" }
                { rule = "slope-rate",
                  at_least = "blue" },
            ]
            note = \"\"\"
            [not a table]
            id = "not a key"
            \"\"\"
            poem = '''
            [[sensor]]
            '''
            level = "orange"
            """)
        let rule: TOMLPath = [.key("combined_rule"), .index(0)]
        #expect(locator.exactLine(for: rule + [.key("when")]) == 3)
        #expect(locator.exactLine(for: rule + [.key("when"), .index(0)]) == 4)
        #expect(locator.exactLine(for: rule + [.key("when"), .index(0), .key("at_least")]) == 4)
        #expect(locator.exactLine(for: rule + [.key("when"), .index(1), .key("rule")]) == 6)
        #expect(locator.exactLine(for: rule + [.key("when"), .index(1), .key("at_least")]) == 7)
        #expect(locator.exactLine(for: rule + [.key("when"), .index(2)]) == nil)
        #expect(locator.exactLine(for: rule + [.key("note")]) == 9)
        #expect(locator.exactLine(for: rule + [.key("poem")]) == 13)
        #expect(locator.exactLine(for: rule + [.key("level")]) == 16)
        #expect(locator.exactLine(for: [.key("not a table")]) == nil)
        #expect(locator.exactLine(for: [.key("sensor")]) == nil)
    }

    @Test func countsArrayOfTablesPerParent() {
        let locator = TOMLLineLocator(text: """
            [[a]]
            [[a.b]]
            x = 1
            [[a]]
            [[a.b]]
            [[a.b]]
            x = 2
            """)
        #expect(locator.exactLine(for: [.key("a"), .index(0), .key("b"), .index(0), .key("x")]) == 3)
        #expect(locator.exactLine(for: [.key("a"), .index(1)]) == 4)
        #expect(locator.exactLine(for: [.key("a"), .index(1), .key("b"), .index(1), .key("x")]) == 7)
    }

    @Test func handlesWindowsLineEndingsAndEscapedQuotes() {
        let locator = TOMLLineLocator(text: "[station]\r\nname = \"say \\\"[x]\\\"\" # c\r\nid = \"1\"\r\n")
        #expect(locator.exactLine(for: [.key("station"), .key("name")]) == 2)
        #expect(locator.exactLine(for: [.key("station"), .key("id")]) == 3)
    }
}

@Suite struct TOMLLineLocatorRobustnessTests {
    @Test func deepNestingIsNotFollowedButDoesNotStopTheScan() {
        let deep = String(repeating: "[", count: 200) + String(repeating: "]", count: 200)
        let locator = TOMLLineLocator(text: "a = \(deep)\nb = 1\n")
        #expect(locator.exactLine(for: [.key("a")]) == 1)
        #expect(locator.exactLine(for: [.key("b")]) == 2)
    }

    @Test func unterminatedTextEndsTheScanQuietly() {
        for text in ["a = \"open", "a = [1, 2", "a = { b = ", "[open", "a = '''never closed", "= 1", "[[", "a = \"\"\"x\\"] {
            let locator = TOMLLineLocator(text: text + "\n")
            #expect(locator.lines.count <= 3, "\(text)")
        }
    }
}
