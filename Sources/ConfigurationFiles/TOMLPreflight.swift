// Inputs that stop TOMLKit's C++ parser (toml++) instead of getting an error: refused before it
// sees them. Found by `make fuzz`: a table header whose first character is neither a key
// character, a quote nor `]` (`[[[a`, `[` followed by a control character) fails an assertion
// in toml++'s parse_key and aborts the process: check-config, or the daemon on a shell `commit`.
// So does a `}` where an array expects a value (`kind = [}`, `a = [1, }`): parse_array hands it
// to parse_value, which asserts it never sees a value terminator (CI's 25-second fuzz found it).
// A release build is no safer: with NDEBUG the assertion becomes an assumption the optimiser may
// build on. Both are invalid TOML, so refusing them here loses nothing toml++ would accept.
// Its date and time parsers assert on what their dispatch let through (`id = 1979-05-27Tq…`
// fails `is_decimal_digit` in parse_time): no file of ours holds a date or a time (durations are
// quoted, "10m"), so a bare value that toml++ would read as one is refused as a whole family.
package enum TOMLPreflight {
    /// What toml++ cannot be trusted to refuse: where, and what was found.
    package enum Finding: Equatable, Sendable {
        /// The first character of a table header, after `[` or `[[` (and spaces), is not one
        /// toml++ can parse.
        case badTableHeader(line: Int, column: Int, found: Unicode.Scalar)
        /// A `}` inside an array (where toml++ expects a value, a comma or `]`).
        case braceInArray(line: Int, column: Int)
        /// A bare value toml++ would parse as a date or a time (a digit first, then a `-` or a
        /// `:`), with the value as written.
        case dateOrTime(line: Int, column: Int, given: String)
    }

    /// What ends a bare value for toml++ (`is_value_terminator`), and the line.
    private static func endsBareValue(_ scalar: Unicode.Scalar) -> Bool {
        " \t\r\n,]}#".unicodeScalars.contains(scalar)
    }

    /// toml++'s dispatch sends a bare value that begins with a digit to its date parser when it
    /// holds a `-` (other than an exponent's sign) and to its time parser when it holds a `:`.
    private static func isDateOrTime(_ value: ArraySlice<Unicode.Scalar>) -> Bool {
        guard let first = value.first, ("0"..."9").contains(first) else { return false }
        var previous = first
        for scalar in value.dropFirst() {
            if scalar == ":" { return true }
            if scalar == "-", previous != "e", previous != "E" { return true }
            previous = scalar
        }
        return false
    }

    /// The first finding in `text`, nil when toml++ may be given it.
    package static func check(_ text: String) -> Finding? {
        enum State { case value, basic, literal, multilineBasic, multilineLiteral, comment }
        let scalars = Array(text.unicodeScalars)
        var state = State.value
        // The brackets and braces open in a value (arrays may span lines), innermost last. Only
        // whether the innermost is an array matters, but a stack keeps `[{}]` and `{[]}` apart.
        var open: [Unicode.Scalar] = []
        // After `=`, or after `[` or `,` in an array: the next thing but spaces (and, in an
        // array, line breaks and comments) is a value.
        var expectingValue = false
        var line = 1
        var lineStart = 0
        var atStatementStart = true  // only spaces since the line began, outside any value
        var index = 0
        func next(_ offset: Int) -> Unicode.Scalar? { index + offset < scalars.count ? scalars[index + offset] : nil }
        // In a multi-line string, a run of three to five quotes closes it at the run's end (TOML:
        // the one or two before the closing three are the string's own), as toml++ reads it.
        // Closing at the run's first three put the check out of step with toml++ after a string
        // like `d = """x""""` + `"`: it read the header on the next line as inside a string, and
        // toml++'s parse_key aborted on it (a 15-minute fuzz of stations-toml). Returns how far
        // to skip past the current quote.
        func closingRun(of quote: Unicode.Scalar, at start: Int, _ state: inout State) -> Int {
            var run = 1
            while start + run < scalars.count, scalars[start + run] == quote { run += 1 }
            if run >= 3 { state = .value; return min(run, 5) - 1 }
            return run - 1
        }
        while index < scalars.count {
            let scalar = scalars[index]
            if scalar == "\n" {
                line += 1
                lineStart = index + 1
                if state == .comment || state == .basic || state == .literal { state = .value }
                atStatementStart = open.isEmpty && (state == .value)
                if open.last != "[" { expectingValue = false }
                index += 1
                continue
            }
            switch state {
            case .comment:
                break
            case .basic:
                if scalar == "\\" { index += 1 } else if scalar == "\"" { state = .value }
            case .literal:
                if scalar == "'" { state = .value }
            case .multilineBasic:
                if scalar == "\\" { index += 1 } else if scalar == "\"" { index += closingRun(of: "\"", at: index, &state) }
            case .multilineLiteral:
                if scalar == "'" { index += closingRun(of: "'", at: index, &state) }
            case .value:
                // toml++ skips a byte-order mark at the start (the loader strips one; a second
                // one is skipped again): read past it as past a space, never less strictly.
                if atStatementStart, scalar == " " || scalar == "\t" || scalar == "\r" || scalar == "\u{FEFF}" { break }
                if atStatementStart, scalar == "[" {
                    // A table header: what toml++ reads after `[`, an optional second `[`, and spaces.
                    var look = index + 1
                    if look < scalars.count, scalars[look] == "[" { look += 1 }
                    while look < scalars.count, scalars[look] == " " || scalars[look] == "\t" { look += 1 }
                    if look < scalars.count {
                        let first = scalars[look]
                        let fine = first == "]" || first == "\"" || first == "'" || first == "_" || first == "-"
                            || (first.isASCII && (first.properties.isAlphabetic || ("0"..."9").contains(first)))
                        if !fine { return .badTableHeader(line: line, column: look - lineStart + 1, found: first) }
                    }
                    // The rest of the header line is the header's own; skip to its end.
                    while index < scalars.count, scalars[index] != "\n" { index += 1 }
                    continue
                }
                atStatementStart = false
                if scalar == " " || scalar == "\t" || scalar == "\r" { break }
                if expectingValue, scalar != "#" {
                    expectingValue = false
                    var end = index
                    while end < scalars.count, !endsBareValue(scalars[end]) { end += 1 }
                    if isDateOrTime(scalars[index..<end]) {
                        return .dateOrTime(line: line, column: index - lineStart + 1, given: String(String.UnicodeScalarView(scalars[index..<end])))
                    }
                }
                switch scalar {
                case "#": state = .comment
                case "\"":
                    if next(1) == "\"", next(2) == "\"" { state = .multilineBasic; index += 2 } else { state = .basic }
                case "'":
                    if next(1) == "'", next(2) == "'" { state = .multilineLiteral; index += 2 } else { state = .literal }
                case "=": expectingValue = true
                case "," where open.last == "[": expectingValue = true
                case "[": open.append(scalar); expectingValue = true
                case "{": open.append(scalar)
                case "}" where open.last == "[":
                    return .braceInArray(line: line, column: index - lineStart + 1)
                case "]", "}": _ = open.popLast()
                default: break
                }
            }
            index += 1
        }
        return nil
    }
}
