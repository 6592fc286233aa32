// Staged edits of gateway.toml for the shell's `set`, `diff`, `commit` and `rollback`: the text
// is edited in place (comments and layout kept), checked by the same loader as check-config.

/// A change the shell refused to stage, in one line: why, and what would be accepted.
struct ConfigurationEditRefusal: Error, Equatable, CustomStringConvertible {
    var description: String
}

/// The configuration file's text as on disk when editing began, and as staged. Keys are named
/// as the shell shows them: `station.name`, `logic.clear_after`, `rule.rain-1h.red` (blocks of
/// `[[sensor]]`, `[[rule]]` and `[[combined_rule]]` by id, `[[contact]]` by name),
/// `outputs.red.siren`, `buses.rs485.baud`, `shell.idle_logout`.
struct ConfigurationEditor {
    /// Keys changed before one commit; more is not a field adjustment but a new file.
    static let stagedChangesMax = 64

    /// Every top-level section the shell can edit, and how its keys are named: the schema's tables.
    static var sections: [(name: String, kind: ConfigurationTable.Kind)] { ConfigurationSchema.tables.map { ($0.name, $0.kind) } }

    let file: String
    /// The file when editing began; a commit refuses if the disk no longer holds it.
    private(set) var baseText: String
    private(set) var stagedText: String
    /// What was set, in order, as `key: old → new`, for `diff` and the audit record.
    /// `new` is nil for a key removed from the file (its default applies again).
    private(set) var changes: [(key: String, old: String?, new: String?)] = []

    init(file: String, text: String) {
        self.file = file
        baseText = text
        stagedText = text
    }

    var hasChanges: Bool { stagedText != baseText }

    /// The staged configuration, or every problem check-config would report about it.
    func check() -> Result<GatewayConfiguration, ConfigurationError> {
        do {
            return .success(try ConfigurationLoader.parse(text: stagedText, file: file))
        } catch {
            return .failure(error)
        }
    }

    mutating func rollback() {
        stagedText = baseText
        changes = []
    }

    /// The line of the staged file that holds `key` (1-based), to put its problems first.
    func line(of key: String) -> Int? {
        guard let document = try? ConfigurationLoader.parseDocument(text: stagedText, file: file, what: "a configuration"),
            let resolved = try? Self.resolve(key, in: document.root)
        else { return nil }
        return document.locator.exactLine(for: resolved.path)
    }

    /// Drops the staged change of one key, keeping the others: they are made again, in order,
    /// on the file as it was.
    mutating func dropChange(of key: String) throws(ConfigurationEditRefusal) {
        guard changes.contains(where: { $0.key == key }) else {
            let staged = Array(Set(changes.map(\.key))).sorted()
            var message = "\(key) has no staged change; staged: " + (staged.isEmpty ? "none" : staged.joined(separator: ", "))
            if let suggestion = closestName(to: key, among: staged) { message += "; did you mean \(suggestion)?" }
            throw ConfigurationEditRefusal(description: message)
        }
        var replayed = ConfigurationEditor(file: file, text: baseText)
        for change in changes where change.key != key {
            if let new = change.new {
                try replayed.set(change.key, to: new, allowingPINHash: true)
            } else {
                try replayed.remove(change.key)
            }
        }
        stagedText = replayed.stagedText
        changes = replayed.changes
    }

    func hasChange(of key: String) -> Bool { changes.contains { $0.key == key } }

    /// Stages the removal of `key` from the file, so its default applies again (a key that a
    /// change made meaningless, like `siren_rest` once `siren = "off"`).
    mutating func remove(_ key: String) throws(ConfigurationEditRefusal) {
        guard changes.count < Self.stagedChangesMax else {
            throw ConfigurationEditRefusal(description: "\(Self.stagedChangesMax) changes are staged; `commit` or `rollback` them first")
        }
        let document: (root: TOMLNode, locator: TOMLLineLocator)
        do {
            document = try ConfigurationLoader.parseDocument(text: stagedText, file: file, what: "a configuration")
        } catch {
            throw ConfigurationEditRefusal(description: "the file cannot be edited here: \(error.description)")
        }
        let resolved = try Self.resolve(key, in: document.root)
        guard let existing = document.root.node(at: resolved.path), let line = document.locator.exactLine(for: resolved.path) else {
            throw ConfigurationEditRefusal(description: "\(key) is not written in the file (its default applies already) and has no staged change")
        }
        if resolved.path.last == .key("pin_hash") {
            throw ConfigurationEditRefusal(description: "the PIN is changed with `village-gateway set-pin --config \(file)`, never here")
        }
        var lines = stagedText.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        // The value may run over several lines (a list); remove them all, and only them.
        guard let extent = Self.valueExtent(in: lines, keyLine: line - 1, name: resolved.name, value: existing) else {
            throw ConfigurationEditRefusal(description: "\(key) is written in a form the shell cannot remove (line \(line)); edit the file with an editor")
        }
        lines.removeSubrange((line - 1)...(line - 1 + extent.lastLine))
        let candidate = lines.joined(separator: "\n")
        guard let reparsed = try? ConfigurationLoader.parseDocument(text: candidate, file: file, what: "a configuration"),
            reparsed.root.sameValue(as: document.root.replacing(resolved.path, with: nil))
        else {
            throw ConfigurationEditRefusal(description: "\(key) could not be removed without touching other keys (an unusual layout in the file); edit the file with an editor")
        }
        changes.append((key, existing.rendered, nil))
        stagedText = candidate
    }

    /// After a commit: the staged text is what the disk holds now.
    mutating func committed() {
        baseText = stagedText
        changes = []
    }

    /// Starts again from `text` (the file changed on disk).
    mutating func rebase(on text: String) {
        baseText = text
        stagedText = text
        changes = []
    }

    /// Stages `key = value` (the value as TOML, or bare text, which is quoted). Refuses what
    /// cannot be placed in the file; problems with the value itself are for `check()`, in
    /// check-config's words.
    mutating func set(_ key: String, to value: String, allowingPINHash: Bool = false) throws(ConfigurationEditRefusal) {
        guard changes.count < Self.stagedChangesMax else {
            throw ConfigurationEditRefusal(description: "\(Self.stagedChangesMax) changes are staged; `commit` or `rollback` them first")
        }
        let document: (root: TOMLNode, locator: TOMLLineLocator)
        do {
            document = try ConfigurationLoader.parseDocument(text: stagedText, file: file, what: "a configuration")
        } catch {
            throw ConfigurationEditRefusal(description: "the file cannot be edited here: \(error.description)")
        }
        let resolved = try Self.resolve(key, in: document.root)
        if resolved.path.last == .key("pin_hash"), !allowingPINHash {
            throw ConfigurationEditRefusal(description: "the PIN is changed with `village-gateway set-pin --config \(file)`, never typed here")
        }
        let existing = document.root.node(at: resolved.path)
        let valueText = Self.tomlValue(value, replacing: existing)
        guard let newNode = Self.parseValue(valueText) else {
            throw ConfigurationEditRefusal(description: "\(value) is not a value; write a number, true/false, text, or a TOML list like [\"red\"]")
        }
        var lines = stagedText.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        let keyText = tomlKey(resolved.name)
        if let line = document.locator.exactLine(for: resolved.path), let existing {
            guard let replaced = Self.replaceValue(in: lines, keyLine: line - 1, name: resolved.name, value: existing, with: valueText) else {
                throw ConfigurationEditRefusal(description: "\(key) is written in a form the shell cannot edit in place (line \(line)); edit the file with an editor")
            }
            lines = replaced
        } else if let header = document.locator.exactLine(for: resolved.tablePath) {
            lines.insert("\(keyText) = \(valueText)", at: header)
        } else {
            if lines.last == "" { lines.removeLast() }
            lines += ["", resolved.header, "\(keyText) = \(valueText)", ""]
        }
        let candidate = lines.joined(separator: "\n")
        // Assert the positive and the negative space: the key now holds the value, and nothing
        // else in the file changed meaning.
        // (A table added for the key is compared as absent.)
        let addedLength = (1...resolved.path.count).first { document.root.node(at: Array(resolved.path.prefix($0))) == nil } ?? resolved.path.count
        let added = Array(resolved.path.prefix(addedLength))
        guard let reparsed = try? ConfigurationLoader.parseDocument(text: candidate, file: file, what: "a configuration"),
            let placed = reparsed.root.node(at: resolved.path), placed.sameValue(as: newNode),
            reparsed.root.replacing(added, with: nil).sameValue(as: document.root.replacing(resolved.path, with: nil))
        else {
            throw ConfigurationEditRefusal(description: "\(key) could not be changed without touching other keys (an unusual layout in the file); edit the file with an editor")
        }
        changes.append((key, existing?.rendered, valueText))
        stagedText = candidate
    }

    /// A key's place in the document: its TOML path, its table's path and how that table's
    /// header is written (for a table that is not in the file yet).
    struct ResolvedKey {
        var path: TOMLPath
        var tablePath: TOMLPath
        var header: String
        var name: String
    }

    static var sectionNames: [String] { sections.map(\.name) }

    static func resolve(_ key: String, in root: TOMLNode) throws(ConfigurationEditRefusal) -> ResolvedKey {
        let parts = key.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
        guard let sectionName = parts.first, let section = sections.first(where: { $0.name == sectionName }) else {
            var message = "unknown key \(key); keys start with " + sectionNames.joined(separator: ", ")
            if let first = parts.first, let suggestion = closestName(to: first, among: sectionNames) { message += "; did you mean \(suggestion)?" }
            throw ConfigurationEditRefusal(description: message + " (`show config` lists them)")
        }
        switch section.kind {
        case .table:
            // A sub-table the schema describes (`county.push.url`), or a key of the table itself.
            if parts.count == 3, !parts[2].isEmpty, ConfigurationSchema.isSubtable(parts[1], of: sectionName) {
                let table: TOMLPath = [.key(sectionName), .key(parts[1])]
                return ResolvedKey(path: table + [.key(parts[2])], tablePath: table, header: "[\(sectionName).\(parts[1])]", name: parts[2])
            }
            guard parts.count == 2, !parts[1].isEmpty else {
                throw ConfigurationEditRefusal(description: "write \(sectionName).KEY, e.g. \(example(sectionName))")
            }
            if ConfigurationSchema.isSubtable(parts[1], of: sectionName) {
                throw ConfigurationEditRefusal(description: "\(key) is a table: set its keys one by one, e.g. \(key).\(ConfigurationSchema.names(in: key).first ?? "KEY") (help \(key) lists them)")
            }
            return ResolvedKey(path: [.key(sectionName), .key(parts[1])], tablePath: [.key(sectionName)], header: "[\(sectionName)]", name: parts[1])
        case .tableOfTables:
            guard parts.count == 3, !parts[1].isEmpty, !parts[2].isEmpty else {
                throw ConfigurationEditRefusal(description: "write \(sectionName).NAME.KEY, e.g. \(example(sectionName))")
            }
            let table: TOMLPath = [.key(sectionName), .key(parts[1])]
            return ResolvedKey(
                path: table + [.key(parts[2])], tablePath: table, header: "[\(sectionName).\(tomlKey(parts[1]))]", name: parts[2])
        case .arrayById(let idKey):
            guard parts.count == 3, !parts[1].isEmpty, !parts[2].isEmpty else {
                throw ConfigurationEditRefusal(description: "write \(sectionName).\(idKey.uppercased()).KEY, e.g. \(example(sectionName))")
            }
            var blocks: [TOMLNode] = []
            if case .table(let entries) = root, case .array(let elements)? = entries[sectionName] { blocks = elements }
            let ids = blocks.compactMap { block -> String? in
                if case .table(let entries) = block, case .string(let id)? = entries[idKey] { return id }
                return nil
            }
            guard let index = blocks.firstIndex(where: { block in
                if case .table(let entries) = block, case .string(let id)? = entries[idKey] { return id == parts[1] }
                return false
            }) else {
                let known = ids.isEmpty ? "there is none" : "there are " + ids.joined(separator: ", ")
                throw ConfigurationEditRefusal(description: "no [[\(sectionName)]] with \(idKey) \(parts[1]); \(known) (new blocks are added with an editor)")
            }
            let table: TOMLPath = [.key(sectionName), .index(index)]
            return ResolvedKey(path: table + [.key(parts[2])], tablePath: table, header: "[[\(sectionName)]]", name: parts[2])
        }
    }

    /// How check-config names the table of `key` in its problems: `[station]`,
    /// `[outputs.red]`, `[[rule]] "rain-1h"`; nil for a key that names no table.
    static func problemLabel(of key: String) -> String? {
        let parts = key.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
        guard parts.count >= 2, let section = sections.first(where: { $0.name == parts[0] }) else { return nil }
        switch section.kind {
        case .table: return parts.count == 3 ? "[\(parts[0]).\(parts[1])]" : "[\(parts[0])]"
        case .tableOfTables: return parts.count == 3 ? "[\(parts[0]).\(parts[1])]" : nil
        case .arrayById: return parts.count == 3 ? "[[\(parts[0])]] \(tomlQuoted(parts[1]))" : nil
        }
    }

    private static func example(_ section: String) -> String {
        switch section {
        case "station": "station.name"
        case "logic": "logic.clear_after"
        case "acknowledgement": "acknowledgement.deadline"
        case "sensor": "sensor.rain1.mm_per_tip"
        case "rule": "rule.rain-1h.red"
        case "combined_rule": "combined_rule.slope-and-rain.level"
        case "contact": "contact.王建国.phone"
        case "outputs": "outputs.red.siren"
        case "buses": "buses.rs485.baud"
        case "drill": "drill.end_message"
        case "county": "county.summary_every or county.push.url"
        default: "shell.idle_logout"
        }
    }

    /// The value as TOML: kept as typed when it is TOML of the kind the key holds (70, true,
    /// ["red"], "text"); otherwise quoted as text, so `set station.name 黄坑村`, `set
    /// logic.clear_after 30m` and `set contact.王建国.phone +8613800000001` need no quotes.
    static func tomlValue(_ typed: String, replacing existing: TOMLNode?) -> String {
        guard let parsed = parseValue(typed) else { return tomlQuoted(typed) }
        if case .string? = existing, !parsed.isString { return tomlQuoted(typed) }
        return typed
    }

    static func parseValue(_ text: String) -> TOMLNode? { ConfigurationSchema.parseValue(text) }

    /// `lines` with the value of the key written on line `keyLine` (0-based) replaced by
    /// `value`; a comment after it is kept. nil when the line is not `name = value`.
    static func replaceValue(in lines: [String], keyLine: Int, name: String, value existing: TOMLNode, with value: String) -> [String]? {
        guard let extent = valueExtent(in: lines, keyLine: keyLine, name: name, value: existing) else { return nil }
        let text = Array(lines[keyLine...].joined(separator: "\n").utf8)
        let rebuilt = String(decoding: text[..<extent.start], as: UTF8.self) + value + String(decoding: text[extent.end...], as: UTF8.self)
        return Array(lines[..<keyLine]) + rebuilt.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
    }

    /// Where the value of `name`, written from line `keyLine` on, lies in the text from that
    /// line (UTF-8 offsets), and the last line it reaches (0 when on one line). The TOML library
    /// judges every step: the `=` is the one after which the line reads as `name`, and the
    /// value ends where the text so far reads as the value the document holds, with only blanks
    /// or a comment after it on its line. nil when no such place is found.
    static func valueExtent(in lines: [String], keyLine: Int, name: String, value existing: TOMLNode) -> (start: Int, end: Int, lastLine: Int)? {
        guard keyLine < lines.count else { return nil }
        /// A value spread over more lines than this is no field adjustment (and each line costs parses).
        let valueLinesMax = 200
        let text = Array(lines[keyLine..<min(lines.count, keyLine + valueLinesMax)].joined(separator: "\n").utf8)
        let newline = UInt8(ascii: "\n")
        let firstLineEnd = text.firstIndex(of: newline) ?? text.count
        /// The document's one key and value, read by the TOML library.
        func entries(_ document: String) -> [String: TOMLNode]? {
            guard let parsed = try? ConfigurationLoader.parseDocument(text: document, file: "", what: "a value"),
                case .table(let entries) = parsed.root, entries.count == 1
            else { return nil }
            return entries
        }
        guard let equals = text[..<firstLineEnd].indices.first(where: { index in
            text[index] == UInt8(ascii: "=") && entries(String(decoding: text[..<index], as: UTF8.self) + "= 0\n")?[name] != nil
        }) else { return nil }
        var start = equals + 1
        while start < text.count, text[start] == UInt8(ascii: " ") || text[start] == UInt8(ascii: "\t") { start += 1 }
        let isBlank = { (byte: UInt8) in byte == UInt8(ascii: " ") || byte == UInt8(ascii: "\t") || byte == UInt8(ascii: "\r") }
        for end in (start + 1)...text.count {
            // A value ends before a blank, a comment or the end of its line.
            guard end == text.count || isBlank(text[end]) || text[end] == newline || text[end] == UInt8(ascii: "#") else { continue }
            let lineEnd = text[end...].firstIndex(of: newline) ?? text.count
            let rest = text[end..<lineEnd].drop(while: isBlank)
            guard rest.isEmpty || rest.first == UInt8(ascii: "#") else { continue }
            guard let read = entries("v = " + String(decoding: text[start..<end], as: UTF8.self) + "\n")?["v"], read.sameValue(as: existing) else { continue }
            return (start, end, text[..<end].count { $0 == newline })
        }
        return nil
    }

    /// Lines removed and added since the file was read, each with its line number.
    func diff() -> [String] {
        lineDiff(old: baseText, new: stagedText)
    }
}

/// A line diff for a technician: `-  12 red = 80` / `+  12 red = 70`, in file order.
func lineDiff(old: String, new: String) -> [String] {
    let a = old.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
    let b = new.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
    var prefix = 0
    while prefix < min(a.count, b.count), a[prefix] == b[prefix] { prefix += 1 }
    var suffix = 0
    while suffix < min(a.count, b.count) - prefix, a[a.count - 1 - suffix] == b[b.count - 1 - suffix] { suffix += 1 }
    let middleA = Array(a[prefix..<(a.count - suffix)])
    let middleB = Array(b[prefix..<(b.count - suffix)])
    /// The table is rows × columns; past this the middle is shown as one removed and one added block.
    let cellsMax = 4_000_000
    func line(_ sign: String, _ number: Int, _ text: String) -> String {
        let digits = String(number)
        return sign + String(repeating: " ", count: max(4 - digits.count, 0)) + digits + " " + text
    }
    guard middleA.count * middleB.count <= cellsMax, !middleA.isEmpty, !middleB.isEmpty else {
        return middleA.enumerated().map { line("-", prefix + $0.offset + 1, $0.element) }
            + middleB.enumerated().map { line("+", prefix + $0.offset + 1, $0.element) }
    }
    // Longest common subsequence, filled from the end so the walk below goes forwards.
    var lengths = [[Int]](repeating: [Int](repeating: 0, count: middleB.count + 1), count: middleA.count + 1)
    for i in stride(from: middleA.count - 1, through: 0, by: -1) {
        for j in stride(from: middleB.count - 1, through: 0, by: -1) {
            lengths[i][j] = middleA[i] == middleB[j] ? lengths[i + 1][j + 1] + 1 : max(lengths[i + 1][j], lengths[i][j + 1])
        }
    }
    var result: [String] = []
    var i = 0
    var j = 0
    while i < middleA.count || j < middleB.count {
        if i < middleA.count, j < middleB.count, middleA[i] == middleB[j] {
            i += 1
            j += 1
        } else if i < middleA.count, j == middleB.count || lengths[i + 1][j] >= lengths[i][j + 1] {
            // A removed line before the line that replaces it, as `diff` shows them.
            result.append(line("-", prefix + i + 1, middleA[i]))
            i += 1
        } else {
            result.append(line("+", prefix + j + 1, middleB[j]))
            j += 1
        }
    }
    return result
}

extension TOMLNode {
    var isString: Bool { if case .string = self { true } else { false } }

    func node(at path: TOMLPath) -> TOMLNode? {
        var current = self
        for component in path {
            switch (component, current) {
            case (.key(let key), .table(let entries)):
                guard let next = entries[key] else { return nil }
                current = next
            case (.index(let index), .array(let elements)):
                guard elements.indices.contains(index) else { return nil }
                current = elements[index]
            default:
                return nil
            }
        }
        return current
    }

    /// This document with the value at `path` replaced (nil: removed).
    func replacing(_ path: TOMLPath, with value: TOMLNode?) -> TOMLNode? {
        guard let first = path.first else { return value }
        let rest = Array(path.dropFirst())
        switch (first, self) {
        case (.key(let key), .table(var entries)):
            if let child = entries[key] {
                entries[key] = child.replacing(rest, with: value)
            } else if rest.isEmpty {
                entries[key] = value
            }
            return .table(entries)
        case (.index(let index), .array(var elements)) where elements.indices.contains(index):
            if let replaced = elements[index].replacing(rest, with: value) { elements[index] = replaced } else { elements.remove(at: index) }
            return .array(elements)
        default:
            return self
        }
    }

    /// The same TOML value (integers and floats compare by kind; tables by keys).
    func sameValue(as other: TOMLNode?) -> Bool {
        guard let other else { return false }
        switch (self, other) {
        case (.table(let a), .table(let b)):
            return a.count == b.count && a.allSatisfy { key, value in value.sameValue(as: b[key]) }
        case (.array(let a), .array(let b)):
            return a.count == b.count && zip(a, b).allSatisfy { $0.sameValue(as: $1) }
        case (.string(let a), .string(let b)): return a == b
        case (.integer(let a), .integer(let b)): return a == b
        case (.float(let a), .float(let b)): return a == b || (a.isNaN && b.isNaN)
        case (.boolean(let a), .boolean(let b)): return a == b
        case (.dateOrTime(let a), .dateOrTime(let b)): return a == b
        default: return false
        }
    }
}

extension Optional where Wrapped == TOMLNode {
    func sameValue(as other: TOMLNode?) -> Bool {
        switch (self, other) {
        case (nil, nil): true
        case (let a?, let b): a.sameValue(as: b)
        default: false
        }
    }
}
