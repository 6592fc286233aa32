// The shell's configuration commands: show, set, unset, diff, commit, rollback, history.
import Foundation
import WarningLogic

extension ShellSession {
    func editorForSession() -> ConfigurationEditor? {
        if let configurationEditor { return configurationEditor }
        guard let text = try? ConfigurationLoader.readText(path: backend.configurationPath) else { return nil }
        configurationEditor = ConfigurationEditor(file: backend.configurationPath, text: text)
        return configurationEditor
    }

    /// The effective configuration as the shell shows it: no secret (the PIN hash, the SL 651
    /// password) is printed here.
    static func shownConfiguration(_ configuration: GatewayConfiguration) -> String {
        hidingSecrets(EffectiveConfiguration.render(configuration))
    }

    /// The names of the keys the schema marks secret.
    static var secretNames: Set<String> { Set(ConfigurationSchema.keys.filter(\.isSecret).map(\.name)) }

    /// TOML lines (a file, a diff) with the value of every secret key replaced by a note: a
    /// secret is never echoed, not even back to the technician who typed it.
    static func hidingSecrets(_ text: String) -> String {
        text.split(separator: "\n", omittingEmptySubsequences: false).map { line in
            guard let name = secretName(inLine: String(line)) else { return String(line) }
            if name == "pin_hash" { return "# pin_hash is set (not shown; change it with village-gateway set-pin)" }
            let prefix = line[..<(line.firstIndex(of: "=") ?? line.endIndex)]
            return prefix + "= (not shown)" + (line.hasSuffix("# default") ? "  # default" : "")
        }.joined(separator: "\n")
    }

    /// The secret key a line of TOML (or of a diff: `+  12 password = 7`) writes, if any.
    private static func secretName(inLine line: String) -> String? {
        var body = Substring(line)
        if body.first == "+" || body.first == "-" { body = body.dropFirst().drop { $0 == " " || $0.isNumber } }
        body = body.drop { $0 == " " || $0 == "\t" }
        let name = body.prefix { $0 != " " && $0 != "=" && $0 != "\t" }
        guard secretNames.contains(String(name)), body.dropFirst(name.count).drop(while: { $0 == " " }).first == "=" else { return nil }
        return String(name)
    }

    func showConfiguration(_ typed: String?) -> [UInt8] {
        let running = backend.runningConfiguration()
        guard let typed else {
            var text = Self.shownConfiguration(running)
            if configurationEditor?.hasChanges == true { text += "\n# changes are staged and not in effect: diff shows them\n" }
            return render(text)
        }
        // A section or block (`rule.rain-1h`, `station`): every key under it. Completion leaves
        // a dot after a section's name.
        let key = typed.hasSuffix(".") ? String(typed.dropLast()) : typed
        let under = Self.keys(of: running).filter { $0.hasPrefix(key + ".") }
        if Self.value(of: key, in: running) == nil, !under.isEmpty {
            return render(under.map { "\($0) = \(Self.value(of: $0, in: running) ?? "")" }.joined(separator: "\n") + "\n")
        }
        guard let current = Self.value(of: key, in: running) else {
            return refuse(Self.keyProblem(key, in: running))
        }
        var text = "\(key) = \(current)"
        if let editor = configurationEditor, editor.hasChanges, case .success(let staged) = editor.check(),
            let stagedValue = Self.value(of: key, in: staged), stagedValue != current
        {
            text += "  (staged: \(stagedValue))"
        }
        return render(text + "\n")
    }

    /// Why `key` names no key of the schema (nil when it does): the block is checked by the
    /// editor; here the last word, with the nearest key of that table.
    static func unknownKeyProblem(_ key: String, in configuration: GatewayConfiguration) -> String? {
        let parts = key.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
        guard parts.count >= 2, ConfigurationEditor.sections.contains(where: { $0.name == parts[0] }) else { return nil }
        if let described = ConfigurationSchema.describe(shellKey: key) {
            guard described.kind == .subtable else { return nil }
            return "\(key) is a table: set its keys one by one (help \(key) lists them)"
        }
        let block = parts.dropLast().joined(separator: ".")
        let siblings = settableKeys(of: configuration).filter { $0.hasPrefix(block + ".") }
        var message = "unknown key \(key)"
        if let suggestion = closestName(to: key, among: siblings) { message += "; did you mean \(suggestion)?" }
        return message + " (help \(block) lists its keys)"
    }

    /// Every key `set` takes: each table and block of the configuration with every key the
    /// schema gives its table, set or not.
    static func settableKeys(of configuration: GatewayConfiguration) -> [String] {
        var result = Set(keys(of: configuration))
        var blocks = Set(result.map { String($0[..<$0.lastIndex(of: ".")!]) })
        for (name, kind) in ConfigurationEditor.sections {
            guard case .table = kind else { continue }
            blocks.insert(name)
            // Its sub-tables (`county.push`), written in the file or not.
            for key in ConfigurationSchema.keys where key.table == name && key.kind == .subtable { blocks.insert(name + "." + key.name) }
        }
        for block in blocks {
            guard let (table, idKey) = schemaTable(ofBlock: block) else { continue }
            for key in ConfigurationSchema.keys where key.table == table && key.name != idKey {
                result.insert(block + "." + key.name)
            }
        }
        // A table is not set as a whole: its keys are.
        return result.filter { ConfigurationSchema.describe(shellKey: $0)?.kind != .subtable }.sorted()
    }

    /// The schema's table of a block as the shell names it (`station`, `outputs.red` →
    /// `outputs.*`, `rule.rain-1h` → `rule`), and the key that names the block, if any.
    static func schemaTable(ofBlock block: String) -> (table: String, idKey: String?)? {
        let parts = block.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
        guard let section = ConfigurationEditor.sections.first(where: { $0.name == parts[0] }) else { return nil }
        switch section.kind {
        case .table:
            if parts.count == 2, ConfigurationSchema.isSubtable(parts[1], of: section.name) { return (block, nil) }
            return parts.count == 1 ? (section.name, nil) : nil
        case .tableOfTables: return parts.count == 2 ? (section.name + ".*", nil) : nil
        case .arrayById(let idKey): return parts.count == 2 ? (section.name, idKey) : nil
        }
    }

    /// Keys for completion; with `withSections`, also each section and block (`rule.rain-1h`).
    func configurationKeys(withSections: Bool) -> [String] {
        let keys = Self.settableKeys(of: backend.runningConfiguration())
        guard withSections else { return keys }
        var sections = Set<String>()
        for key in keys {
            let parts = key.split(separator: ".")
            for count in 1..<parts.count { sections.insert(parts.prefix(count).joined(separator: ".")) }
        }
        return (keys + sections.map { $0 + "." }).sorted()
    }

    func stagedKeys() -> [String] {
        Array(Set(configurationEditor?.changes.map(\.key) ?? [])).sorted()
    }

    /// A key's value as the effective configuration writes it (defaults included).
    static func value(of key: String, in configuration: GatewayConfiguration) -> String? {
        if key == "shell.pin_hash" { return configuration.shell.pinHash == nil ? nil : "(set; not shown)" }
        if ConfigurationSchema.describe(shellKey: key)?.isSecret == true { return "(not shown)" }
        guard let document = try? ConfigurationLoader.parseDocument(
            text: EffectiveConfiguration.render(configuration), file: "", what: "a configuration"),
            let resolved = try? ConfigurationEditor.resolve(key, in: document.root),
            let node = document.root.node(at: resolved.path)
        else { return nil }
        // A table is listed key by key, unless the key holds an inline table (`modbus = { … }`).
        if case .table = node, ConfigurationSchema.describe(shellKey: key)?.kind != .inlineTable { return nil }
        return node.renderedWhole
    }

    static func keyProblem(_ key: String, in configuration: GatewayConfiguration) -> String {
        guard let document = try? ConfigurationLoader.parseDocument(
            text: EffectiveConfiguration.render(configuration), file: "", what: "a configuration")
        else { return "the configuration cannot be shown" }
        do {
            _ = try ConfigurationEditor.resolve(key, in: document.root)
        } catch {
            return error.description
        }
        var message = "\(key) is not set and has no default"
        if let suggestion = closestName(to: key, among: keys(of: configuration)) { message += "; did you mean \(suggestion)?" }
        return message + " (show config lists the keys)"
    }

    /// Every key `set` and `show config` take, as the shell names them, from the effective configuration.
    static func keys(of configuration: GatewayConfiguration) -> [String] {
        guard let document = try? ConfigurationLoader.parseDocument(
            text: EffectiveConfiguration.render(configuration), file: "", what: "a configuration"),
            case .table(let root) = document.root
        else { return [] }
        var keys: [String] = []
        for (name, kind) in ConfigurationEditor.sections {
            guard let node = root[name] else { continue }
            switch (kind, node) {
            case (.table, .table(let entries)):
                for (key, value) in entries {
                    if case .table(let subtable) = value, ConfigurationSchema.isSubtable(key, of: name) {
                        keys += subtable.keys.map { "\(name).\(key).\($0)" }
                    } else {
                        keys.append("\(name).\(key)")
                    }
                }
            case (.tableOfTables, .table(let tables)):
                for (item, table) in tables {
                    if case .table(let entries) = table { keys += entries.keys.map { "\(name).\(item).\($0)" } }
                }
            case (.arrayById(let idKey), .array(let blocks)):
                for block in blocks {
                    guard case .table(let entries) = block, case .string(let id)? = entries[idKey] else { continue }
                    keys += entries.keys.filter { $0 != idKey }.map { "\(name).\(id).\($0)" }
                }
            default:
                break
            }
        }
        return keys.sorted()
    }

    func set(_ key: String, value typed: String) -> [UInt8] {
        guard var editor = editorForSession() else {
            return refuse("cannot read \(backend.configurationPath); check-config says why")
        }
        // A key the box does not know is refused here, not staged for commit to find.
        if let problem = Self.unknownKeyProblem(key, in: backend.runningConfiguration()) { return refuse(problem) }
        // Full-width digits come from a Chinese keyboard; they mean the digits.
        let value = Self.halfWidthNumber(typed) ?? typed
        let described = ConfigurationSchema.describe(shellKey: key)
        if described?.name == "key_file", let problem = keyFileProblem(value) { return refuse(problem) }
        do {
            try editor.set(key, to: value)
        } catch {
            return refuse(error.description)
        }
        configurationEditor = editor
        var note = ""
        if value != typed { note = " (full-width digits \(typed) read as \(value))" }
        let isSecret = described?.isSecret == true
        // A secret is not echoed, not even in a problem that quotes what was given.
        let hidden = { (text: String) in isSecret ? text.replacingOccurrences(of: value, with: "(not shown)") : text }
        switch editor.check() {
        case .success:
            let shown = isSecret ? "(not shown)" : editor.changes.last?.new ?? value
            return render("Staged \(key) = \(shown)\(hidden(note)) (commit saves and applies it).\n")
        case .failure(let error):
            return render(hidden(stagedProblems(error.problems, key: key, note: note)))
        }
    }

    /// Why the key file `value` names cannot sign (nil when it can): checked before staging, so
    /// a commit never leaves the county link without its key. Never says the key.
    func keyFileProblem(_ value: String) -> String? {
        let path = CountyRuntime.resolve(value, besides: backend.configurationPath)
        do {
            _ = try SigningKey.load(path: path)
            return nil
        } catch {
            return "not staged: \(error.description)"
        }
    }

    /// The problems of a staged file, those on the line of the key just set first: a
    /// technician acts on the change they made, not on a list in file order. Problems the
    /// change caused in its own table are said to be its consequence, with the way out.
    private func stagedProblems(_ problems: [ConfigurationProblem], key: String, note: String) -> String {
        let line = configurationEditor?.line(of: key)
        let label = ConfigurationEditor.problemLabel(of: key)
        let own = problems.filter { line != nil && $0.line == line }
        let sameTable = problems.filter { !own.contains($0) && label != nil && $0.key.hasPrefix(label! + " ") }
        let others = problems.filter { !own.contains($0) && !sameTable.contains($0) }
        var text = own.map { $0.description + "\n" }.joined()
        if !sameTable.isEmpty {
            let block = key.split(separator: ".").dropLast().joined(separator: ".")
            let name = { (problem: ConfigurationProblem) in problem.key.split(separator: " ").last.map { block + "." + $0 } }
            // A missing key is set; a key that no longer fits is set again or removed.
            let missing = sameTable.filter { $0.allowed.hasPrefix("missing") }.compactMap(name)
            let unfit = sameTable.filter { !$0.allowed.hasPrefix("missing") }.compactMap(name)
            var ways: [String] = []
            if !missing.isEmpty { ways.append("set " + missing.joined(separator: ", ")) }
            if !unfit.isEmpty { ways.append("set them, or unset " + unfit.joined(separator: ", ") + " to remove them") }
            text += "With \(key) = \(configurationEditor?.changes.last?.new ?? "")\(note), other keys of \(label ?? "its table") "
                + (unfit.isEmpty ? "are needed" : "no longer fit") + " (" + ways.joined(separator: "; ") + "):\n"
            text += sameTable.map { $0.description + "\n" }.joined()
        }
        if !others.isEmpty {
            text += own.isEmpty && sameTable.isEmpty
                ? "\(key) is staged\(note), but other keys now have problems:\n" : "Other problems in the staged file:\n"
            text += others.map { $0.description + "\n" }.joined()
        }
        let count = problems.count
        return text + "Staged, with \(count) problem\(count == 1 ? "" : "s"): commit refuses until fixed "
            + "(set again, unset \(key), or rollback).\n"
    }

    /// `３０` → `30`, `－１．５` → `-1.5`; nil when the text is not a number in full-width forms.
    static func halfWidthNumber(_ text: String) -> String? { FullWidthNumber.halfWidth(text) }

    /// `unset KEY`: drops the staged change of KEY; a key with no staged change is removed from
    /// the file (staged), so its default applies again.
    func unset(_ key: String) -> [UInt8] {
        guard var editor = editorForSession() else { return refuse("cannot read \(backend.configurationPath); check-config says why") }
        let dropping = editor.hasChange(of: key)
        do {
            if dropping { try editor.dropChange(of: key) } else { try editor.remove(key) }
        } catch {
            var message = error.description
            if !dropping, let suggestion = closestName(to: key, among: stagedKeys() + Self.keys(of: backend.runningConfiguration())) {
                message += "; did you mean \(suggestion)?"
            }
            return refuse(message)
        }
        configurationEditor = editor
        var text = dropping
            ? "Dropped the staged change of \(key); it is as in the file."
            : "Staged: \(key) removed from the file (its default applies; show config \(key) after commit)."
        if editor.hasChanges {
            text += " Staged: \(stagedKeys().joined(separator: ", "))."
            if case .failure(let error) = editor.check() {
                text += "\n" + error.problems.map(\.description).joined(separator: "\n")
            }
        } else {
            text += " Nothing is staged."
        }
        return render(text + "\n")
    }

    func diff() -> [UInt8] {
        guard let editor = configurationEditor, editor.hasChanges else { return render("Nothing is staged.\n") }
        return render(Self.hidingSecrets((["--- \(editor.file) (on disk)", "+++ staged"] + editor.diff()).joined(separator: "\n")) + "\n")
    }

    private var configurationHistory: ConfigurationHistory { ConfigurationHistory(configurationPath: backend.configurationPath) }

    /// The box's time for a history file name: `2026-11-22T17:40:00+08:00`.
    private var historyTime: String {
        ISO8601.format(backend.now(), utcOffsetMinutes: backend.status().utcOffsetMinutes)
    }

    func commit() -> [UInt8] {
        guard var editor = configurationEditor, editor.hasChanges else { return refuse("nothing is staged; set KEY VALUE first") }
        let configuration: GatewayConfiguration
        switch editor.check() {
        case .success(let checked): configuration = checked
        case .failure(let error):
            return render(error.problems.map(\.description).joined(separator: "\n") + "\n")
                + refuse("not committed: fix the problems above (set again, unset KEY) or rollback")
        }
        guard let onDisk = try? ConfigurationLoader.readText(path: editor.file), onDisk == editor.baseText else {
            return refuse("\(editor.file) changed on disk since you began; rollback, then set again")
        }
        // The file as it was is kept first: a commit that cannot keep it is not made, so there
        // is always a way back.
        do {
            try configurationHistory.keep(onDisk, time: historyTime)
        } catch {
            return refuse("not committed: the current file cannot be kept for rollback (\(error.description)); the file on disk is unchanged")
        }
        do {
            try writeFileAtomically(path: editor.file, contents: editor.stagedText)
        } catch {
            return refuse("not committed: \(error.description); the file on disk is unchanged")
        }
        var kept = ""
        do {
            try configurationHistory.keep(editor.stagedText, time: historyTime)
        } catch {
            kept = "; the new file is not in the history (\(error.description))"
        }
        // The audit record goes to the county: a secret's values are not in it, only that it changed.
        let changes = editor.changes.map { change in
            ConfigurationSchema.describe(shellKey: change.key)?.isSecret == true
                ? "\(change.key): changed (not shown)" : "\(change.key): \(change.old ?? "(unset)") → \(change.new ?? "(removed: default)")"
        }
        editor.committed()
        configurationEditor = editor
        let waiting = backend.apply(configuration)
        audit("commit", change: changes.joined(separator: "; ") + (waiting.isEmpty ? "" : "; waiting for a restart: " + waiting.joined(separator: ", ")))
        var text = "Saved \(editor.file) (\(changes.count) change\(changes.count == 1 ? "" : "s"))\(kept).\n"
        text += appliedText(waiting)
        text += "rollback previous goes back to the file as it was.\n"
        return render(text)
    }

    private func appliedText(_ waiting: [String]) -> String {
        if waiting.isEmpty { return "Applied: the box runs the new configuration now.\n" }
        return "Not applied yet: \(waiting.joined(separator: ", ")) need a restart (reboot now); "
            + "until then the box runs the previous configuration.\n"
    }

    func rollback() -> [UInt8] {
        guard let editor = configurationEditor, editor.hasChanges else {
            return refuse("nothing is staged; rollback previous goes back to the configuration before the last commit")
        }
        configurationEditor?.rollback()
        return render("Dropped \(editor.changes.count) staged change(s); the file is as it was.\n")
    }

    /// Back to the configuration before the last commit: checked, written and applied like a
    /// commit, and audited. The file it replaces is kept, so nothing is lost.
    func rollbackToPrevious() -> [UInt8] {
        if configurationEditor?.hasChanges == true { return refuse("changes are staged; commit or rollback them first") }
        let path = backend.configurationPath
        guard let current = try? ConfigurationLoader.readText(path: path) else { return refuse("cannot read \(path); check-config says why") }
        // A file edited by hand since is kept first; one already kept is not kept twice, so
        // rollback previous walks back instead of swinging between two files.
        if !configurationHistory.entries().contains(where: { $0.text == current }) {
            do {
                try configurationHistory.keep(current, time: historyTime)
            } catch {
                return refuse("the current file cannot be kept (\(error.description)); nothing changed")
            }
        }
        guard let previous = configurationHistory.previous(toCurrent: current) else {
            return refuse("no earlier configuration is kept (history lists them; commits keep them)")
        }
        let configuration: GatewayConfiguration
        do {
            configuration = try ConfigurationLoader.parse(text: previous.text, file: path)
        } catch {
            return render(error.problems.map(\.description).joined(separator: "\n") + "\n")
                + refuse("the configuration of \(previous.time) (#\(previous.number)) no longer passes the checks; nothing changed")
        }
        do {
            try writeFileAtomically(path: path, contents: previous.text)
        } catch {
            return refuse("\(error.description); the file on disk is unchanged")
        }
        configurationEditor = ConfigurationEditor(file: path, text: previous.text)
        let changed = lineDiff(old: current, new: previous.text)
        let waiting = backend.apply(configuration)
        audit("rollback previous", change: "back to the configuration of \(previous.time) (#\(previous.number)); "
            + "\(changed.count) line(s) changed" + (waiting.isEmpty ? "" : "; waiting for a restart: " + waiting.joined(separator: ", ")))
        /// A rollback across many commits could change the whole file; the first lines say enough.
        let diffLinesShownMax = 20
        var text = "Back to the configuration of \(previous.time) (#\(previous.number)):\n"
        text += Self.hidingSecrets(changed.prefix(diffLinesShownMax).joined(separator: "\n")) + "\n"
        if changed.count > diffLinesShownMax { text += "… and \(changed.count - diffLinesShownMax) more changed lines\n" }
        return render(text + appliedText(waiting))
    }

    func history() -> [UInt8] {
        let kept = configurationHistory.entries()
        guard !kept.isEmpty else { return render("No earlier configuration is kept yet: each commit keeps the file as it was.\n") }
        let current = try? ConfigurationLoader.readText(path: backend.configurationPath)
        let inUse = kept.lastIndex { $0.text == current }
        var text = "Kept in \(configurationHistory.directory) (the newest \(ConfigurationHistory.keptMax)):\n"
        for (index, entry) in kept.enumerated().reversed() {
            text += "  #\(entry.number)  \(entry.time)  \(entry.text.utf8.count) bytes"
            text += index == inUse ? "  (in use)\n" : "\n"
        }
        return render(text)
    }
}

extension ShellSession {
    /// `help KEY`: what the schema says of one configuration key, and what it holds now.
    func keyHelp(_ key: String) -> String? {
        let running = backend.runningConfiguration()
        if let described = ConfigurationSchema.describe(shellKey: key), described.kind != .subtable {
            var text = described.helpText.replacingOccurrences(of: "\(described.table).\(described.name):", with: "\(key):") + "\n"
            text += "  now      " + (Self.value(of: key, in: running) ?? "not set") + "\n"
            return text
        }
        // A table or block: its keys, one line each.
        let under = Self.settableKeys(of: running).filter { $0.hasPrefix(key + ".") }
        guard !under.isEmpty else { return nil }
        return under.map { name in
            let meaning = ConfigurationSchema.describe(shellKey: name)?.meaning ?? ""
            return "\(name)  \(meaning)"
        }.joined(separator: "\n") + "\n"
    }
}
