// The shell's line editor, keystroke by keystroke, as a technician's dumb terminal sends them.
import Testing
@testable import VillageGateway

@Suite struct ShellLineEditorTests {
    static func keys(_ text: String) -> [UInt8] { Array(text.utf8) }

    /// Feeds one byte at a time, as a person types, and gathers everything.
    static func type(_ bytes: [UInt8], into editor: inout LineEditor, completer: LineEditor.Completer = { _, _ in [] }) -> LineEditor.Output {
        var all = LineEditor.Output()
        for byte in bytes {
            let output = editor.feed([byte], completer: completer)
            all.bytes += output.bytes
            all.events += output.events
        }
        return all
    }

    @Test func typedTextIsEchoedAndEnterCompletesTheLine() {
        var editor = LineEditor()
        let output = Self.type(Self.keys("status\r"), into: &editor)
        #expect(output.events == [.line("status")])
        #expect(output.bytes == Self.keys("status\r\n"))
    }

    @Test func bothBackspacesEraseTheLastCharacterOnScreenAndInTheLine() {
        var editor = LineEditor()
        let output = Self.type(Self.keys("stq") + [0x7F] + Self.keys("x") + [0x08] + Self.keys("atus\r"), into: &editor)
        #expect(output.events == [.line("status")])
        #expect(output.bytes == Self.keys("stq\u{8} \u{8}x\u{8} \u{8}atus\r\n"))
    }

    @Test func aChineseCharacterTakesTwoColumnsToErase() {
        var editor = LineEditor()
        let output = Self.type(Self.keys("黄坑") + [0x7F], into: &editor)
        #expect(editor.text == "黄")
        #expect(output.bytes.suffix(6) == [8, 8, 32, 32, 8, 8])
    }

    @Test func controlUErasesTheWholeLine() {
        var editor = LineEditor()
        let output = Self.type(Self.keys("set x") + [0x15] + Self.keys("ack\r"), into: &editor)
        #expect(output.events == [.line("ack")])
        #expect(output.bytes.contains(8))
    }

    @Test func controlCAbandonsTheLineMidWay() {
        var editor = LineEditor()
        let output = Self.type(Self.keys("reboot n") + [0x03] + Self.keys("status\r"), into: &editor)
        #expect(output.events == [.interrupt, .line("status")])
        #expect(String(decoding: output.bytes, as: UTF8.self).contains("^C\r\n"))
    }

    @Test func controlDEndsTheSessionOnlyOnAnEmptyLine() {
        var editor = LineEditor()
        #expect(Self.type(Self.keys("ab") + [0x04], into: &editor).events.isEmpty)
        #expect(Self.type([0x15, 0x04], into: &editor).events == [.endOfInput])
    }

    @Test func theArrowsWalkTheHistoryInBothEscapeForms() {
        var editor = LineEditor()
        _ = Self.type(Self.keys("status\rlog 5\r"), into: &editor)
        _ = Self.type([0x1B, 0x5B, 0x41], into: &editor)
        #expect(editor.text == "log 5")
        _ = Self.type([0x1B, 0x4F, 0x41], into: &editor)
        #expect(editor.text == "status")
        _ = Self.type([0x1B, 0x5B, 0x42, 0x1B, 0x5B, 0x42], into: &editor)
        #expect(editor.text == "")
        let output = Self.type([0x1B, 0x5B, 0x41, 0x0D], into: &editor)
        #expect(output.events == [.line("log 5")])
        #expect(!output.bytes.contains(0x1B), "the editor never sends escape sequences")
    }

    @Test func bangBangRepeatsTheLastLine() {
        var editor = LineEditor()
        _ = Self.type(Self.keys("sensors\r"), into: &editor)
        let output = Self.type(Self.keys("!!\r"), into: &editor)
        #expect(output.events == [.line("sensors")])
    }

    @Test func carriageReturnLineFeedIsOneEnter() {
        var editor = LineEditor()
        #expect(Self.type(Self.keys("ack\r\n"), into: &editor).events == [.line("ack")])
        #expect(Self.type(Self.keys("ack\n"), into: &editor).events == [.line("ack")])
    }

    @Test func tabCompletesAUniqueWordAndListsSeveral() {
        var editor = LineEditor()
        let completer: LineEditor.Completer = { words, _ in words.isEmpty ? ["status", "sensors", "set", "show"] : ["siren", "lamp"] }
        var output = Self.type(Self.keys("st\t"), into: &editor, completer: completer)
        #expect(editor.text == "status ")
        _ = Self.type([0x15], into: &editor)
        output = Self.type(Self.keys("s\t"), into: &editor, completer: completer)
        let shown = String(decoding: output.bytes, as: UTF8.self)
        #expect(shown.contains("sensors") && shown.contains("show") && shown.hasSuffix("> s"))
        output = Self.type(Self.keys("e\t"), into: &editor, completer: completer)
        #expect(editor.text == "se")
        _ = Self.type(Self.keys("n\t"), into: &editor, completer: completer)
        #expect(editor.text == "sensors ")
    }

    @Test func aMaskedPINEchoesStarsAndStaysOutOfTheHistory() {
        var editor = LineEditor(prompt: "PIN: ")
        editor.masked = true
        let output = Self.type(Self.keys("2468\r"), into: &editor)
        #expect(output.bytes == Self.keys("****\r\n"))
        #expect(output.events == [.line("2468")])
        #expect(editor.history.isEmpty)
    }

    @Test func utf8SplitAcrossReadsIsOneCharacter() {
        var editor = LineEditor()
        let bytes = Self.keys("黄坑村\r")
        _ = editor.feed(Array(bytes[0..<2]))
        _ = editor.feed(Array(bytes[2..<5]))
        let output = editor.feed(Array(bytes[5...]))
        #expect(output.events == [.line("黄坑村")])
    }

    @Test func aLineStopsAtItsLimitWithTheBell() {
        var editor = LineEditor()
        let output = editor.feed([UInt8](repeating: UInt8(ascii: "a"), count: LineEditor.lineScalarsMax + 3))
        #expect(editor.text.count == LineEditor.lineScalarsMax)
        #expect(output.bytes.filter { $0 == LineEditor.bell }.count == 3)
        #expect(String(decoding: output.bytes, as: UTF8.self).components(separatedBy: "(the line is full: 240 characters at most").count == 2,
                "said once, not at every dropped key")
        #expect(editor.feed([0x0D]).events == [.tooLong(String(repeating: "a", count: LineEditor.lineScalarsMax))], "a cut line is not run")
        #expect(editor.feed(Array("log\r".utf8)).events == [.line("log")], "the next line is a line again")
    }

    @Test func historyKeepsItsLimit() {
        var editor = LineEditor()
        for index in 0..<(LineEditor.historyLinesMax + 10) { _ = editor.feed(Self.keys("log \(index)\r")) }
        #expect(editor.history.count == LineEditor.historyLinesMax)
        #expect(editor.history.last == "log \(LineEditor.historyLinesMax + 9)")
    }
}
