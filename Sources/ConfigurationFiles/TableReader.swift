// Typed reads from one TOML table that turn every mistake into a located ConfigurationProblem.

/// Gathers problems with their lines; sorts them into file order at the end.
package final class ProblemCollector {
    package let file: String
    package let locator: TOMLLineLocator
    private var found: [ConfigurationProblem] = []
    private var omittedCount = 0

    package init(file: String, locator: TOMLLineLocator) {
        self.file = file
        self.locator = locator
    }

    package var isEmpty: Bool { found.isEmpty }

    /// Records a problem at `path` (its line, or its nearest written ancestor's).
    package func report(at path: TOMLPath?, key: String, given: String?, _ allowed: String) {
        guard found.count < ConfigurationFileLimits.problemsMax else {
            omittedCount += 1
            return
        }
        let line = path.flatMap { locator.line(for: $0) }
        found.append(ConfigurationProblem(file: file, line: line, key: key, given: given, allowed: allowed))
    }

    /// In file order; problems without a line (something missing altogether) come last.
    /// Problems on one line keep the order they were found in.
    package var problems: [ConfigurationProblem] {
        var sorted = found.enumerated().sorted { a, b in
            let lineA = a.element.line ?? Int.max
            let lineB = b.element.line ?? Int.max
            return lineA != lineB ? lineA < lineB : a.offset < b.offset
        }.map(\.element)
        if omittedCount > 0 {
            sorted.append(ConfigurationProblem(
                file: file, line: nil, key: "", given: nil,
                allowed: "\(omittedCount) more problems not shown; fix the ones above and check again"))
        }
        return sorted
    }
}

/// One table of the file (`[station]`, one `[[sensor]]` block, an inline `{ rule = …, … }`),
/// read key by key. Each read returns nil when the key is absent or wrong; when wrong, it has
/// already reported why, so callers use `?? default` without hiding anything.
package struct TableReader {
    package let entries: [String: TOMLNode]
    package let path: TOMLPath
    /// How problems name this table: `[station]`, `[[sensor]] "rain1"`, `[[rule]] #3`.
    package var label: String
    package let problems: ProblemCollector

    package init(entries: [String: TOMLNode], path: TOMLPath, label: String, problems: ProblemCollector) {
        self.entries = entries
        self.path = path
        self.label = label
        self.problems = problems
    }

    package func has(_ key: String) -> Bool { entries[key] != nil }

    package func keyLabel(_ key: String) -> String { label + " " + key }

    /// A problem with `key` (placed on its line, or on the table's header when absent).
    package func report(_ key: String, given: TOMLNode?, _ allowed: String) {
        problems.report(at: path + [.key(key)], key: keyLabel(key), given: given?.rendered, allowed)
    }

    /// A problem with the table as a whole, placed on its header.
    package func reportTable(_ allowed: String) {
        problems.report(at: path, key: label, given: nil, allowed)
    }

    /// Reports every key not in `known`, with the nearest known key as a suggestion.
    package func reportUnknownKeys(known: [String]) {
        for key in entries.keys where !known.contains(key) {
            let allowed: String
            if let suggestion = closestName(to: key, among: known) {
                allowed = "unknown key \"\(key)\"; did you mean \"\(suggestion)\"?"
            } else {
                allowed = "unknown key \"\(key)\"; allowed here: " + known.joined(separator: ", ")
            }
            problems.report(at: path + [.key(key)], key: label, given: nil, allowed)
        }
    }

    /// Reports a required key as missing, unless a misspelling of it is present: then the
    /// unknown-key problem already says "did you mean", and one problem is clearer than two.
    package func missing(_ key: String, _ explanation: String) {
        if entries.keys.contains(where: { $0 != key && closestName(to: $0, among: [key]) == key }) { return }
        report(key, given: nil, "missing; " + explanation)
    }

    package func string(_ key: String) -> String? {
        guard let node = entries[key] else { return nil }
        guard case .string(let text) = node else {
            report(key, given: node, "must be text in quotes, not \(node.kindDescription)")
            return nil
        }
        return text
    }

    /// A whole number within `range`.
    package func integer(_ key: String, in range: ClosedRange<Int>, meaning: String) -> Int? {
        guard let node = entries[key] else { return nil }
        guard case .integer(let value) = node else {
            report(key, given: node, "must be a whole number (\(meaning)), \(range.lowerBound) to \(range.upperBound)")
            return nil
        }
        guard range.contains(value) else {
            report(key, given: node, "must be \(range.lowerBound) to \(range.upperBound) (\(meaning))")
            return nil
        }
        return value
    }

    /// A finite number; integers are accepted where numbers are ("35" for "35.0").
    package func number(_ key: String) -> Double? {
        guard let node = entries[key] else { return nil }
        return number(node, key: key)
    }

    package func number(_ node: TOMLNode, key: String) -> Double? {
        let value: Double
        switch node {
        case .integer(let integer): value = Double(integer)
        case .float(let float): value = float
        case .string(let text) where FullWidthNumber.halfWidth(text) != nil:
            // Typed on a Chinese keyboard: say what is wrong in the technician's terms.
            report(key, given: node, "must be a number; \(text) is written in full-width digits: write \(FullWidthNumber.halfWidth(text) ?? "") without quotes")
            return nil
        default:
            report(key, given: node, "must be a number, not \(node.kindDescription)")
            return nil
        }
        guard value.isFinite else {
            report(key, given: node, "must be a finite number")
            return nil
        }
        return value
    }

    /// A duration such as "30m" or "1h30m" within `range` (milliseconds).
    package func duration(_ key: String, in range: ClosedRange<Int64>, meaning: String) -> Int64? {
        guard let node = entries[key] else { return nil }
        let bounds = "from \(formatDuration(range.lowerBound)) to \(formatDuration(range.upperBound))"
        guard case .string(let text) = node else {
            report(key, given: node, "must be a duration in quotes such as \"30m\" (\(meaning)), \(bounds)")
            return nil
        }
        guard let milliseconds = parseDuration(text) else {
            var hint = "not a duration; write a whole number and a unit (s, m, h, d), e.g. \"90s\", \"30m\", \"6h\", \"1h30m\""
            if !text.isEmpty, text.allSatisfy({ $0.isASCII && $0.isNumber }) {
                hint = "a duration needs a unit: \"\(text)s\", \"\(text)m\" or \"\(text)h\"?"
            }
            report(key, given: node, hint)
            return nil
        }
        guard range.contains(milliseconds) else {
            report(key, given: node, "must be \(bounds) (\(meaning))")
            return nil
        }
        return milliseconds
    }

    /// One of a fixed set of names.
    package func choice(_ key: String, among allowed: [String]) -> String? {
        guard let text = string(key) else { return nil }
        guard allowed.contains(text) else {
            var message = "must be " + quotedList(allowed)
            if let suggestion = closestName(to: text, among: allowed) { message += "; did you mean \"\(suggestion)\"?" }
            report(key, given: .string(text), message)
            return nil
        }
        return text
    }

    /// A required text that is an id: letters, digits, `_` and `-`.
    package func identifier(_ key: String, what: String) -> String? {
        guard has(key) else {
            missing(key, "every \(label.split(separator: " ").first ?? "") needs an id (letters, digits, _ and -), e.g. id = \"\(what)\"")
            return nil
        }
        guard let text = string(key) else { return nil }
        let isValid = !text.isEmpty && text.count <= ConfigurationFileLimits.idCharactersMax
            && text.unicodeScalars.allSatisfy { scalar in
                (scalar >= "A" && scalar <= "Z") || (scalar >= "a" && scalar <= "z") || (scalar >= "0" && scalar <= "9")
                    || scalar == "_" || scalar == "-"
            }
        guard isValid else {
            report(key, given: .string(text),
                   "an id is 1 to \(ConfigurationFileLimits.idCharactersMax) letters (A-Z, a-z), digits, _ or -, e.g. \"\(what)\"")
            return nil
        }
        return text
    }
}
