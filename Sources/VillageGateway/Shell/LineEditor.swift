// The shell's line editor as a pure state machine: bytes from a dumb terminal in, echo bytes and
// completed lines out. No I/O, no clock, so every keystroke sequence is testable.

/// Edits one line at the end (a dumb terminal at 115200 baud has no cursor keys we can trust):
/// printable text is echoed, backspace (0x7F or 0x08) erases the last character with
/// "\b \b" (twice for a Chinese character, which takes two columns), Ctrl-U erases the line,
/// Ctrl-C abandons it, Ctrl-D on an empty line ends the session, Tab completes, and the up and
/// down arrows (ESC [ A / ESC [ B, or ESC O A / ESC O B) walk the history when the terminal
/// sends them. `!!` repeats the last line. Nothing here sends an ANSI sequence.
struct LineEditor {
    /// A technician types commands, not essays; past this the terminal bell rings.
    static let lineScalarsMax = 240
    static let historyLinesMax = 50
    /// Candidates listed after a Tab; more are summarised ("and 12 more").
    static let completionsListedMax = 40
    static let bell: UInt8 = 0x07

    enum Event: Equatable, Sendable {
        case line(String)
        /// Ctrl-C: the line was abandoned (also stops a running `sensors` or `test`).
        case interrupt
        /// Ctrl-D on an empty line.
        case endOfInput
        /// Enter on a line that lost characters past the limit: it must not run cut short.
        case tooLong(String)
    }

    struct Output: Equatable, Sendable {
        var bytes: [UInt8] = []
        var events: [Event] = []
    }

    /// Candidate words for the word being typed: given the complete words before it and its
    /// beginning, every word that could stand there (the editor keeps those that match).
    typealias Completer = (_ wordsBefore: [String], _ partial: String) -> [String]

    var prompt = "> "
    /// PIN entry: each character echoes as "*", and the line is not kept in the history.
    var masked = false
    /// Screen width used to lay out the list of completions.
    var columns = 80

    private(set) var line: [Unicode.Scalar] = []
    private(set) var history: [String] = []
    /// Where the arrows have walked to in the history; nil when editing a new line.
    private var historyIndex: Int?
    /// The new line being typed before the arrows were used, restored by walking past the end.
    private var draft: [Unicode.Scalar] = []
    private var utf8Pending: [UInt8] = []
    private var utf8Expected = 0
    private enum EscapeState { case none, escape, csi, ss3 }
    private var escape = EscapeState.none
    private var lastWasCarriageReturn = false
    /// Characters were dropped from this line; said once when it happened, and on Enter.
    private var overflowed = false

    init(prompt: String = "> ") {
        self.prompt = prompt
    }

    /// The prompt, to be sent when a new line starts.
    var promptBytes: [UInt8] { Array(prompt.utf8) }

    var text: String { String(String.UnicodeScalarView(line)) }

    mutating func feed(_ bytes: [UInt8], completer: Completer = { _, _ in [] }) -> Output {
        var output = Output()
        for byte in bytes { feed(byte, into: &output, completer: completer) }
        return output
    }

    private mutating func feed(_ byte: UInt8, into output: inout Output, completer: Completer) {
        let wasCarriageReturn = lastWasCarriageReturn
        lastWasCarriageReturn = false
        switch escape {
        case .escape:
            escape = byte == UInt8(ascii: "[") ? .csi : byte == UInt8(ascii: "O") ? .ss3 : .none
            return
        case .csi, .ss3:
            // Parameters and intermediates (0x20–0x3F) continue the sequence; a final byte ends it.
            if byte >= 0x20 && byte <= 0x3F && escape == .csi { return }
            escape = .none
            if byte == UInt8(ascii: "A") { walkHistory(up: true, into: &output) }
            if byte == UInt8(ascii: "B") { walkHistory(up: false, into: &output) }
            return
        case .none:
            break
        }
        if utf8Expected > 0 {
            guard byte & 0xC0 == 0x80 else {
                // A broken sequence (line noise): drop it and read this byte afresh.
                utf8Pending = []
                utf8Expected = 0
                feed(byte, into: &output, completer: completer)
                return
            }
            utf8Pending.append(byte)
            if utf8Pending.count == utf8Expected {
                let decoded = String(decoding: utf8Pending, as: UTF8.self).unicodeScalars
                utf8Pending = []
                utf8Expected = 0
                if let scalar = decoded.first, decoded.count == 1, scalar != "\u{FFFD}" { insert(scalar, into: &output) }
            }
            return
        }
        switch byte {
        case 0x0D:
            lastWasCarriageReturn = true
            complete(into: &output)
        case 0x0A:
            // CR LF from a terminal is one Enter.
            if !wasCarriageReturn { complete(into: &output) }
        case 0x7F, 0x08:
            guard let last = line.popLast() else { return }
            output.bytes += erase(columns: masked ? 1 : last.terminalColumns)
        case 0x15:
            output.bytes += erase(columns: displayedColumns)
            line = []
            overflowed = false
        case 0x03:
            output.bytes += Array("^C\r\n".utf8)
            line = []
            overflowed = false
            historyIndex = nil
            output.events.append(.interrupt)
        case 0x04:
            if line.isEmpty {
                output.bytes += Array("\r\n".utf8)
                output.events.append(.endOfInput)
            }
        case 0x09:
            if !masked { completeWord(into: &output, completer: completer) }
        case 0x1B:
            escape = .escape
        case 0x20...0x7E:
            insert(Unicode.Scalar(byte), into: &output)
        case 0xC2...0xDF:
            utf8Pending = [byte]
            utf8Expected = 2
        case 0xE0...0xEF:
            utf8Pending = [byte]
            utf8Expected = 3
        case 0xF0...0xF4:
            utf8Pending = [byte]
            utf8Expected = 4
        default:
            // Other control characters and stray bytes mean nothing here.
            break
        }
    }

    private var displayedColumns: Int {
        masked ? line.count : line.reduce(0) { $0 + $1.terminalColumns }
    }

    private func erase(columns: Int) -> [UInt8] {
        let back = [UInt8](repeating: 0x08, count: columns)
        return back + [UInt8](repeating: 0x20, count: columns) + back
    }

    private mutating func insert(_ scalar: Unicode.Scalar, into output: inout Output) {
        // Control characters never enter a line: they would garble the next person's screen.
        guard scalar.value >= 0x20, scalar.value != 0x7F, !(0x80...0x9F).contains(scalar.value) else { return }
        guard line.count < Self.lineScalarsMax else {
            output.bytes.append(Self.bell)
            if !overflowed, !masked {
                // A bell alone is silent on many terminals: say it, then show the line again.
                overflowed = true
                output.bytes += Array("\r\n(the line is full: \(Self.lineScalarsMax) characters at most; what follows is dropped, and Enter will not run it)\r\n".utf8)
                output.bytes += promptBytes + Array(text.utf8)
            }
            overflowed = true
            return
        }
        line.append(scalar)
        output.bytes += masked ? [UInt8(ascii: "*")] : Array(String(scalar).utf8)
    }

    private mutating func complete(into output: inout Output) {
        var completed = text
        output.bytes += Array("\r\n".utf8)
        if !masked, completed.trimmingSpaces == "!!" {
            guard let last = history.last else {
                output.events.append(.line(""))
                line = []
                historyIndex = nil
                return
            }
            completed = last
            output.bytes += Array((last + "\r\n").utf8)
        }
        if !masked {
            let trimmed = String(completed.trimmingSpaces)
            if !trimmed.isEmpty, history.last != trimmed {
                history.append(trimmed)
                if history.count > Self.historyLinesMax { history.removeFirst(history.count - Self.historyLinesMax) }
            }
        }
        line = []
        historyIndex = nil
        if overflowed {
            overflowed = false
            output.events.append(.tooLong(completed))
            return
        }
        output.events.append(.line(completed))
    }

    private mutating func walkHistory(up: Bool, into output: inout Output) {
        guard !masked, !history.isEmpty else { return }
        let next: Int?
        if up {
            next = max((historyIndex ?? history.count) - 1, 0)
            if historyIndex == nil { draft = line }
        } else {
            guard let index = historyIndex else { return }
            next = index + 1 < history.count ? index + 1 : nil
        }
        output.bytes += erase(columns: displayedColumns)
        historyIndex = next
        line = next.map { Array(history[$0].unicodeScalars) } ?? draft
        output.bytes += Array(text.utf8)
    }

    private mutating func completeWord(into output: inout Output, completer: Completer) {
        let current = text
        var words = current.split(separator: " ", omittingEmptySubsequences: true).map(String.init)
        let partial = current.hasSuffix(" ") || current.isEmpty ? "" : (words.popLast() ?? "")
        let candidates = Array(Set(completer(words, partial).filter { $0.hasPrefix(partial) })).sorted()
        guard !candidates.isEmpty else {
            output.bytes.append(Self.bell)
            return
        }
        if candidates.count == 1, let only = candidates.first {
            append(String(only.dropFirst(partial.count)) + " ", into: &output)
            return
        }
        let common = commonPrefix(candidates)
        if common.count > partial.count {
            append(String(common.dropFirst(partial.count)), into: &output)
            return
        }
        // Nothing more to add: list the choices in columns, then the prompt and the line again.
        output.bytes += Array("\r\n".utf8)
        let shown = candidates.prefix(Self.completionsListedMax)
        let width = (shown.map(\.terminalColumns).max() ?? 0) + 2
        let perRow = max(columns / max(width, 1), 1)
        var row = ""
        for (index, candidate) in shown.enumerated() {
            row += candidate + String(repeating: " ", count: width - candidate.terminalColumns)
            if (index + 1) % perRow == 0 || index == shown.count - 1 {
                output.bytes += Array((String(row.trimmingSpaces) + "\r\n").utf8)
                row = ""
            }
        }
        if candidates.count > shown.count {
            output.bytes += Array("and \(candidates.count - shown.count) more\r\n".utf8)
        }
        output.bytes += promptBytes + Array(current.utf8)
    }

    private mutating func append(_ addition: String, into output: inout Output) {
        for scalar in addition.unicodeScalars { insert(scalar, into: &output) }
    }

    private func commonPrefix(_ words: [String]) -> String {
        guard var prefix = words.first.map({ Array($0) }) else { return "" }
        for word in words.dropFirst() {
            let characters = Array(word)
            var length = 0
            while length < min(prefix.count, characters.count), prefix[length] == characters[length] { length += 1 }
            prefix = Array(prefix.prefix(length))
        }
        return String(prefix)
    }
}
