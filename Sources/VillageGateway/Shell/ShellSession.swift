// One technician's session: login by PIN, then commands, on any byte stream (console UART or
// Unix socket). Driven by bytes and an injected clock; the caller moves the bytes.
import Foundation
import WarningLogic

/// A session is owned by one thread: bytes in (`receive`), time passing (`tick`), bytes out.
/// Output fits 80 columns and has no ANSI sequence unless the terminal asked (`term ansi`, or a
/// TERM other than "dumb" sent by `village-gateway shell`).
final class ShellSession {
    static let columns = 80
    static let sensorsRefreshMilliseconds: Int64 = 1_000
    static let testSecondsDefault = 5
    static let testSecondsAllowed = 1...60
    static let logLinesDefault = 20
    /// The first bytes of a session may be `\0TERM=<name>\n` from the `shell` client.
    static let helloBytesMax = 64

    enum Mode: Equatable {
        case login
        /// Wrong PINs locked the login; keys are ignored until then (box monotonic milliseconds).
        case locked(untilMilliseconds: Int64)
        case command
        /// `sensors`: a line of readings every second until a key is pressed.
        case sensors(nextMilliseconds: Int64)
        /// `test siren|lamp`: the output is on until then, or until a key is pressed.
        case testing(untilMilliseconds: Int64)
        case closed
    }

    let port: String
    private let backend: any ShellBackend
    private let loginGuard: LoginGuard
    private(set) var mode = Mode.login
    private var editor = LineEditor(prompt: "PIN: ")
    private var configurationEditor: ConfigurationEditor?
    private(set) var ansi = false
    private var lastInputMilliseconds: Int64
    private var hello: [UInt8]?
    /// The PIN hash and idle logout, read from the file at the start and at each PIN typed, so a
    /// PIN set with `set-pin` while the box runs is the one asked for.
    private var settings: ShellConfiguration
    private var receivedAny = false

    init(port: String, backend: any ShellBackend, loginGuard: LoginGuard, nowMilliseconds: Int64) {
        self.port = port
        self.backend = backend
        self.loginGuard = loginGuard
        lastInputMilliseconds = nowMilliseconds
        settings = backend.shellSettings()
        editor.masked = true
    }

    var isClosed: Bool { mode == .closed }

    /// When `tick` must next be called: the idle logout, the end of a lock, a refresh, a test's end.
    var nextWakeMilliseconds: Int64 {
        let idle = lastInputMilliseconds + settings.idleLogoutMilliseconds
        switch mode {
        case .locked(let until): return min(until, idle)
        case .sensors(let next): return min(next, idle)
        case .testing(let until): return until
        default: return idle
        }
    }

    /// The greeting; the session is closed at once when no PIN is set.
    func start(nowMilliseconds: Int64) -> [UInt8] {
        settings = backend.shellSettings()
        let status = backend.status()
        var text = "VillageGateway \(status.stationName) (\(status.stationId)): technician shell on \(port)\n"
        guard settings.pinHash != nil else {
            text += "No PIN is set, so the shell stays closed. On the box run:\n"
                + "  village-gateway set-pin --config \(backend.configurationPath)\n"
            mode = .closed
            return render(text)
        }
        let lock = loginGuard.lockRemainingMilliseconds(now: nowMilliseconds)
        if lock > 0 {
            mode = .locked(untilMilliseconds: nowMilliseconds + lock)
            return render(text + "The shell is locked after wrong PINs for another \(Self.seconds(lock)).\n")
        }
        text += "Enter the PIN (Ctrl-D leaves).\n"
        return render(text) + editor.promptBytes
    }

    /// Ends what the session holds (a running output test) when the line goes away.
    func close() {
        if case .testing = mode { backend.endTest() }
        mode = .closed
    }

    func tick(nowMilliseconds now: Int64) -> [UInt8] {
        var out: [UInt8] = []
        switch mode {
        case .closed:
            return []
        case .testing(let until):
            if now >= until { out += finishTest("test over") }
            return out
        case .locked(let until):
            if now >= until {
                mode = .login
                editor = LineEditor(prompt: "PIN: ")
                editor.masked = true
                out += render("The lock is over.\n") + editor.promptBytes
            }
        case .sensors(let next):
            if now >= next {
                mode = .sensors(nextMilliseconds: now + Self.sensorsRefreshMilliseconds)
                out += sensorsLine()
            }
        case .login, .command:
            break
        }
        let idle = settings.idleLogoutMilliseconds
        if now - lastInputMilliseconds >= idle {
            out += render("\nNo key for \(formatDuration(idle)): logged out.\n")
            mode = .closed
        }
        return out
    }

    func receive(_ bytes: [UInt8], nowMilliseconds now: Int64) -> [UInt8] {
        var bytes = bytes
        var out: [UInt8] = []
        // `village-gateway shell` introduces itself with its TERM before anything is typed.
        if hello != nil || (!receivedAny && bytes.first == 0) {
            var buffer = (hello ?? []) + bytes
            if let end = buffer.firstIndex(of: UInt8(ascii: "\n")) {
                let line = String(decoding: buffer[1..<end], as: UTF8.self)
                if line.hasPrefix("TERM=") {
                    let term = String(line.dropFirst(5))
                    ansi = !term.isEmpty && term != "dumb"
                }
                hello = nil
                buffer = Array(buffer[(end + 1)...])
                bytes = buffer
            } else {
                hello = buffer.count > Self.helloBytesMax ? nil : buffer
                return []
            }
        }
        receivedAny = true
        guard !bytes.isEmpty else { return [] }
        lastInputMilliseconds = now
        switch mode {
        case .closed:
            return []
        case .locked(let until):
            return render("Locked after wrong PINs for another \(Self.seconds(until - now)).\n")
        case .sensors:
            mode = .command
            return render("\n") + editor.promptBytes
        case .testing:
            return finishTest("stopped by a key")
        case .login, .command:
            break
        }
        let fed = editor.feed(bytes) { words, partial in self.completions(words: words, partial: partial) }
        out += fed.bytes
        for event in fed.events {
            guard mode == .login || mode == .command else { break }
            switch event {
            case .endOfInput:
                out += render("Logged out.\n")
                mode = .closed
            case .interrupt:
                out += editor.promptBytes
            case .line(let line):
                out += mode == .login ? login(line, now: now) : command(line, now: now)
                if mode == .login || mode == .command { out += editor.promptBytes }
            }
        }
        return out
    }

    // MARK: Login

    private func login(_ pin: String, now: Int64) -> [UInt8] {
        settings = backend.shellSettings()
        guard let hash = settings.pinHash else {
            mode = .closed
            return render("No PIN is set: run village-gateway set-pin --config \(backend.configurationPath)\n")
        }
        let lock = loginGuard.lockRemainingMilliseconds(now: now)
        if lock > 0 {
            mode = .locked(untilMilliseconds: now + lock)
            return render("Locked after wrong PINs for another \(Self.seconds(lock)).\n")
        }
        if !pin.isEmpty, hash.matches(pin: pin) {
            loginGuard.recordRightPIN()
            mode = .command
            let status = backend.status()
            editor = LineEditor(prompt: "\(status.stationName)> ")
            editor.columns = Self.columns
            var text = "Logged in. Level \(status.level.uppercased())"
            if !status.causes.isEmpty { text += " (causes: \(status.causes.joined(separator: ", ")))" }
            text += ". Type help for the commands.\n"
            return render(text)
        }
        let locked = loginGuard.recordWrongPIN(now: now)
        if locked > 0 {
            mode = .locked(untilMilliseconds: now + locked)
            audit("login locked", change: "\(LoginGuard.wrongPINsBeforeLock) wrong PINs; locked for \(Self.seconds(locked))")
            return render("Wrong PIN. The shell is locked for \(Self.seconds(locked)).\n")
        }
        return render("Wrong PIN.\n")
    }

    // MARK: Commands

    struct CommandHelp {
        var name: String
        var usage: String
        var summary: String
    }

    static let commands: [CommandHelp] = [
        CommandHelp(name: "status", usage: "status", summary: "level and causes, sensors, outputs, outbox"),
        CommandHelp(name: "sensors", usage: "sensors", summary: "live readings every second; any key stops"),
        CommandHelp(name: "show", usage: "show config [KEY]", summary: "the configuration in use, or one key"),
        CommandHelp(name: "set", usage: "set KEY VALUE", summary: "stage a change, checked at once (commit saves it)"),
        CommandHelp(name: "diff", usage: "diff", summary: "the staged changes against the file"),
        CommandHelp(name: "commit", usage: "commit", summary: "save the staged changes and apply them"),
        CommandHelp(name: "rollback", usage: "rollback", summary: "drop the staged changes"),
        CommandHelp(name: "test", usage: "test siren|lamp COLOUR|voice TEXT|sms CONTACT [SECONDS] [--force]",
                    summary: "sound, light, speak or text as a drill; back to safe after"),
        CommandHelp(name: "drill", usage: "drill start LEVEL [--force] | drill stop", summary: "a drill (演练) through the engine"),
        CommandHelp(name: "ack", usage: "ack", summary: "answer the warning (叫应)"),
        CommandHelp(name: "alarm", usage: "alarm clear", summary: "clear a latched level"),
        CommandHelp(name: "log", usage: "log [N]", summary: "the last N log lines (\(logLinesDefault) if not given)"),
        CommandHelp(name: "outbox", usage: "outbox", summary: "reports waiting for the county"),
        CommandHelp(name: "time", usage: "time | time set 2026-11-22T17:40:00+08:00", summary: "the box's clock; set it (no RTC)"),
        CommandHelp(name: "term", usage: "term ansi|dumb", summary: "allow ANSI sequences, or not (the default)"),
        CommandHelp(name: "reboot", usage: "reboot now", summary: "restart the box"),
        CommandHelp(name: "help", usage: "help [COMMAND]", summary: "this list, or one command"),
        CommandHelp(name: "logout", usage: "logout", summary: "end the session (also exit, quit, Ctrl-D)"),
    ]

    private static let detailedHelp: [String: String] = [
        "set": """
            Stages KEY = VALUE in the configuration and checks it at once, with
            check-config's messages. Nothing changes until commit. Keys: station.name,
            logic.clear_after, rule.<id>.red, sensor.<id>.range, contact.<name>.phone,
            outputs.<level>.siren, buses.<bus>.baud, shell.idle_logout ... (Tab completes).
            Text needs no quotes: set logic.clear_after 30m
            """,
        "commit": """
            Writes the staged configuration (temporary file, fsync, rename: a power cut
            leaves the old or the new file, never half) and applies it without a restart.
            Changes to wiring, sensors or the station wait for a restart; commit says which.
            """,
        "test": """
            test siren [SECONDS]        the siren for SECONDS (default 5, at most 60)
            test lamp COLOUR [SECONDS]  blue, yellow, orange or red
            test voice TEXT             speak TEXT on the broadcast
            test sms CONTACT            a test SMS to a contact (name or phone)
            Refused while a real alarm is on, unless --force. Any key ends a test early.
            """,
        "drill": """
            drill start LEVEL     a drill at blue, yellow, orange or red: the outputs act
                                  as at LEVEL, every word and report marked 演练 (exercise)
            drill stop            ends it with 【演练】演练结束, never the all-clear
            Real warnings pre-empt drills: refused while a real yellow or above or a
            county warning is in force; at a real blue add --force. A real level change
            or county warning ends a running drill at once, and the real warning sounds.
            """,
        "alarm": """
            alarm clear           clears a latched level and says what the level is then:
                                  it stays while a rule, a manual or a county level still
                                  holds it; it latches again only on a new rise.
            """,
        "time": """
            time                  the box's clock
            time set TIME         set it, e.g. time set 2026-11-22T17:40:00+08:00;
                                  only on boxes without a real-time clock
            """,
    ]

    private func command(_ line: String, now: Int64) -> [UInt8] {
        let words = line.split(separator: " ", omittingEmptySubsequences: true).map(String.init)
        guard let name = words.first else { return [] }
        let arguments = Array(words.dropFirst())
        switch name {
        case "help", "?": return help(arguments)
        case "status": return statusText()
        case "sensors":
            mode = .sensors(nextMilliseconds: now + Self.sensorsRefreshMilliseconds)
            return render("Live readings (any key stops):\n") + sensorsLine()
        case "show":
            guard arguments.first == "config", arguments.count <= 2 else { return refuse("write show config, or show config KEY") }
            return showConfiguration(arguments.count == 2 ? arguments[1] : nil)
        case "set":
            guard arguments.count >= 2 else { return refuse("write set KEY VALUE, e.g. set rule.rain-1h.red 70 (help set)") }
            return set(arguments[0], value: rest(of: line, after: 2))
        case "diff": return diff()
        case "commit": return commit()
        case "rollback":
            guard let editor = configurationEditor, editor.hasChanges else { return refuse("nothing is staged") }
            configurationEditor?.rollback()
            return render("Dropped \(editor.changes.count) staged change(s); the file is as it was.\n")
        case "test": return test(arguments, line: line, now: now)
        case "drill": return drill(arguments)
        case "ack": return acknowledge(arguments)
        case "alarm":
            guard arguments == ["clear"] else { return refuse("write alarm clear (it clears a latched level)") }
            return clearAlarm()
        case "log": return log(arguments)
        case "outbox": return outbox()
        case "time": return time(arguments)
        case "term":
            guard arguments.count == 1, ["ansi", "dumb"].contains(arguments[0]) else { return refuse("write term ansi or term dumb") }
            ansi = arguments[0] == "ansi"
            return render(ansi ? "ANSI sequences allowed.\n" : "No ANSI sequences.\n")
        case "reboot": return reboot(arguments)
        case "logout", "exit", "quit":
            mode = .closed
            return render("Logged out.\n")
        default:
            var message = "unknown command \(name)"
            if let suggestion = closestName(to: name, among: Self.commands.map(\.name)) { message += "; did you mean \(suggestion)?" }
            return refuse(message + " (help lists the commands)")
        }
    }

    /// The text of `line` after its first `words` words, as typed (spaces inside kept).
    private func rest(of line: String, after words: Int) -> String {
        var remaining = Substring(line)
        for _ in 0..<words {
            remaining = remaining.drop { $0 == " " }
            remaining = remaining.drop { $0 != " " }
        }
        return String(String(remaining).trimmingSpaces)
    }

    private func help(_ arguments: [String]) -> [UInt8] {
        if let name = arguments.first {
            guard let entry = Self.commands.first(where: { $0.name == name }) else {
                return refuse("no command \(name); help lists them")
            }
            var text = "\(entry.usage)\n  \(entry.summary)\n"
            if let detail = Self.detailedHelp[name] { text += detail + "\n" }
            return render(text)
        }
        var text = ""
        for entry in Self.commands {
            text += entry.usage.count <= 20
                ? entry.usage.paddedRight(to: 21) + entry.summary + "\n"
                : entry.usage + "\n" + String(repeating: " ", count: 21) + entry.summary + "\n"
        }
        return render(text)
    }

    private func statusText() -> [UInt8] {
        let status = backend.status()
        var text = status.humanText() + "\n"
        if let backlog = backend.outboxBacklog() {
            text += "Outbox    \(backlog.undelivered) waiting for the county (\(backlog.undeliveredAlarms) alarms, "
                + "\(backlog.undeliveredEvents) events, \(backlog.undeliveredRoutine) routine)\n"
        } else {
            text += "Outbox    \(backend.outboxDescription)\n"
        }
        text += "Supply    not measured on board \(status.board)\n"
        return render(text)
    }

    private func sensorsLine() -> [UInt8] {
        let status = backend.status()
        let units = Dictionary(backend.runningConfiguration().engine.sensors.map { ($0.id, $0.unit) }) { first, _ in first }
        var parts: [String] = []
        for sensor in status.station?.sensors ?? [] {
            var part = sensor.id
            if let tips = sensor.tipsTotal {
                part += " \(tips) tips"
                if let measure = status.station?.measures.first(where: { $0.sensorId == sensor.id }), let value = measure.value {
                    part += ", \(measure.measure.name) \(tomlNumber((value * 10).rounded() / 10)) \(measure.measure.unit)"
                }
            } else if let value = sensor.lastValue {
                // "2 m", not "2m": a technician would read that as minutes.
                part += " \(tomlNumber(value)) \(units[sensor.id] ?? "")"
            } else {
                part += " —"
            }
            if sensor.faulty { part += " FAULTY" }
            parts.append(part)
        }
        let time = status.station.map { ISO8601.format($0.time, utcOffsetMinutes: status.utcOffsetMinutes) } ?? "starting"
        let line = (String(time.dropFirst(11).prefix(8)) + " " + parts.joined(separator: " · ")).truncated(toColumns: Self.columns - 1)
        if ansi { return Array(("\r\u{1B}[K" + line).utf8) }
        return render(line + "\n")
    }

    // MARK: Configuration

    private func editorForSession() -> ConfigurationEditor? {
        if let configurationEditor { return configurationEditor }
        guard let text = try? ConfigurationLoader.readText(path: backend.configurationPath) else { return nil }
        configurationEditor = ConfigurationEditor(file: backend.configurationPath, text: text)
        return configurationEditor
    }

    /// The effective configuration as the shell shows it: the PIN hash is not printed here.
    static func shownConfiguration(_ configuration: GatewayConfiguration) -> String {
        EffectiveConfiguration.render(configuration).split(separator: "\n", omittingEmptySubsequences: false).map { line in
            line.hasPrefix("pin_hash = ") ? "# pin_hash is set (not shown; change it with village-gateway set-pin)" : String(line)
        }.joined(separator: "\n")
    }

    private func showConfiguration(_ key: String?) -> [UInt8] {
        let running = backend.runningConfiguration()
        guard let key else {
            var text = Self.shownConfiguration(running)
            if configurationEditor?.hasChanges == true { text += "\n# changes are staged and not in effect: diff shows them\n" }
            return render(text)
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

    /// A key's value as the effective configuration writes it (defaults included).
    static func value(of key: String, in configuration: GatewayConfiguration) -> String? {
        if key == "shell.pin_hash" { return configuration.shell.pinHash == nil ? nil : "(set; not shown)" }
        guard let document = try? ConfigurationLoader.parseDocument(
            text: EffectiveConfiguration.render(configuration), file: "", what: "a configuration"),
            let resolved = try? ConfigurationEditor.resolve(key, in: document.root),
            let node = document.root.node(at: resolved.path)
        else { return nil }
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
        return "\(key) is not set and has no default (show config lists the keys)"
    }

    private func set(_ key: String, value: String) -> [UInt8] {
        guard var editor = editorForSession() else {
            return refuse("cannot read \(backend.configurationPath); check-config says why")
        }
        do {
            try editor.set(key, to: value)
        } catch {
            return refuse(error.description)
        }
        configurationEditor = editor
        switch editor.check() {
        case .success:
            return render("Staged \(key) = \(editor.changes.last?.new ?? value) (commit saves and applies it).\n")
        case .failure(let error):
            let count = error.problems.count
            return render(error.problems.map(\.description).joined(separator: "\n") + "\n"
                + "Staged, with \(count) problem\(count == 1 ? "" : "s"): commit refuses until fixed (set again, or rollback).\n")
        }
    }

    private func diff() -> [UInt8] {
        guard let editor = configurationEditor, editor.hasChanges else { return render("Nothing is staged.\n") }
        return render((["--- \(editor.file) (on disk)", "+++ staged"] + editor.diff()).joined(separator: "\n") + "\n")
    }

    private func commit() -> [UInt8] {
        guard var editor = configurationEditor, editor.hasChanges else { return refuse("nothing is staged; set KEY VALUE first") }
        let configuration: GatewayConfiguration
        switch editor.check() {
        case .success(let checked): configuration = checked
        case .failure(let error):
            return render(error.problems.map(\.description).joined(separator: "\n") + "\n")
                + refuse("not committed: fix the problems above (set again) or rollback")
        }
        guard let onDisk = try? ConfigurationLoader.readText(path: editor.file), onDisk == editor.baseText else {
            return refuse("\(editor.file) changed on disk since you began; rollback, then set again")
        }
        do {
            try writeFileAtomically(path: editor.file, contents: editor.stagedText)
        } catch {
            return refuse("not committed: \(error.description); the file on disk is unchanged")
        }
        let changes = editor.changes.map { "\($0.key): \($0.old ?? "(unset)") → \($0.new)" }
        editor.committed()
        configurationEditor = editor
        let waiting = backend.apply(configuration)
        audit("commit", change: changes.joined(separator: "; ") + (waiting.isEmpty ? "" : "; waiting for a restart: " + waiting.joined(separator: ", ")))
        var text = "Saved \(editor.file) (\(changes.count) change\(changes.count == 1 ? "" : "s")).\n"
        if waiting.isEmpty {
            text += "Applied: the box runs the new configuration now.\n"
        } else {
            text += "Not applied yet: \(waiting.joined(separator: ", ")) need a restart (reboot now); "
                + "until then the box runs the previous configuration.\n"
        }
        return render(text)
    }

    // MARK: Outputs, drills, the latch

    private func test(_ arguments: [String], line: String, now: Int64) -> [UInt8] {
        let force = arguments.contains("--force")
        let words = arguments.filter { $0 != "--force" }
        guard let what = words.first else { return refuse("write test siren, test lamp COLOUR, test voice TEXT or test sms CONTACT") }
        let status = backend.status()
        if let level = status.station?.level, level > .none, !force {
            return refuse("a real \(level.name) alarm is on and the outputs are warning the village; add --force to test anyway")
        }
        var seconds = Self.testSecondsDefault
        func secondsArgument(_ text: String?) -> String? {
            guard let text else { return nil }
            guard let value = Int(text), Self.testSecondsAllowed.contains(value) else {
                return "SECONDS must be a whole number from \(Self.testSecondsAllowed.lowerBound) to \(Self.testSecondsAllowed.upperBound)"
            }
            seconds = value
            return nil
        }
        let test: OutputTest
        let description: String
        switch what {
        case "siren":
            guard words.count <= 2 else { return refuse("write test siren [SECONDS] [--force]") }
            if let problem = secondsArgument(words.count == 2 ? words[1] : nil) { return refuse(problem) }
            test = .siren
            description = "siren on for \(seconds) s"
        case "lamp":
            guard words.count >= 2, words.count <= 3, let colour = LampColour(rawValue: words[1]) else {
                let colours = LampColour.allCases.map(\.rawValue)
                return refuse("COLOUR is \(colours.dropLast().joined(separator: ", ")) or \(colours.last ?? ""): test lamp COLOUR [SECONDS]")
            }
            if let problem = secondsArgument(words.count == 3 ? words[2] : nil) { return refuse(problem) }
            test = .lamp(colour)
            description = "\(colour.rawValue) lamp on for \(seconds) s"
        case "voice":
            let text = rest(of: line.replacingOccurrences(of: " --force", with: ""), after: 2)
            guard !text.isEmpty, text.count <= ConfigurationLimits.messageCharactersMax else {
                return refuse("write test voice TEXT (1 to \(ConfigurationLimits.messageCharactersMax) characters)")
            }
            test = .voice(text)
            description = "speaking: \(text)"
        case "sms":
            guard words.count == 2 else { return refuse("write test sms CONTACT (a contact's name or phone)") }
            let contacts = backend.runningConfiguration().engine.contacts
            guard let contact = contacts.first(where: { $0.name == words[1] || $0.phone == words[1] }) else {
                let names = contacts.map(\.name)
                return refuse("no contact \(words[1]); the contacts are " + (names.isEmpty ? "none" : names.joined(separator: ", ")))
            }
            let when = ISO8601.format(backend.now(), utcOffsetMinutes: status.utcOffsetMinutes)
            test = .sms(contact, text: "【测试】\(status.stationName)预警设备短信测试，无需回复 \(when.prefix(16))")
            description = "test SMS to \(contact.name) (\(contact.phone))"
        default:
            return refuse("cannot test \(what); test siren, lamp, voice or sms")
        }
        if let refusal = backend.beginTest(test) { return refuse(refusal) }
        audit("test", change: description + (force ? " (forced during an alarm)" : ""))
        switch test {
        case .siren, .lamp:
            mode = .testing(untilMilliseconds: now + Int64(seconds) * 1_000)
            return render("Testing: \(description) (any key stops).\n")
        case .voice, .sms:
            return render("Test started: \(description).\n")
        }
    }

    private func finishTest(_ reason: String) -> [UInt8] {
        backend.endTest()
        mode = .command
        return render("\(reason.prefix(1).uppercased() + reason.dropFirst()): the output is back to its safe state.\n") + editor.promptBytes
    }

    private func drill(_ arguments: [String]) -> [UInt8] {
        let status = backend.status()
        let by = "shell \(port)"
        switch arguments.first {
        case "start":
            let force = arguments.contains("--force")
            let words = arguments.dropFirst().filter { $0 != "--force" }
            let levels = WarningLevel.colours.map(\.name).joined(separator: ", ")
            // No implicit level: a drill that defaults to red is how a red drill ran by mistake.
            guard words.count == 1 else { return refuse("name the drill's level: drill start LEVEL, LEVEL one of \(levels)") }
            guard let level = WarningLevel(name: words[0]), level != .none else { return refuse("LEVEL must be one of \(levels)") }
            guard let station = status.station else { return refuse("the engine has not reported its level yet; try again in a moment") }
            if let running = station.drillLevel { return refuse("a \(running.name) drill is running; drill stop first") }
            if let refusal = Engine.drillStartRefusal(realLevel: station.level, countyWarningIds: station.countyWarningIds, force: force) {
                return refuse(refusal)
            }
            backend.submit(.drillStart(level: level, by: by, force: force ? true : nil))
            audit("drill start", change: "\(level.name) drill" + (force ? " (forced over a real blue)" : ""))
            return render("\(level.name) drill started (演练): outputs show it as a drill; drill stop ends it. "
                + "A real warning ends it at once.\n")
        case "stop":
            guard arguments.count == 1 else { return refuse("write drill stop") }
            guard status.station?.drillLevel != nil else { return refuse("no drill is running; drill start LEVEL starts one") }
            backend.submit(.drillStop(by: by))
            audit("drill stop", change: "drill stopped")
            return render("Drill stopped: the box says the drill is over (marked 演练), not the all-clear.\n")
        default:
            return refuse("write drill start LEVEL or drill stop")
        }
    }

    private func acknowledge(_ arguments: [String]) -> [UInt8] {
        guard arguments.isEmpty else { return refuse("write ack, nothing after it") }
        let station = backend.status().station
        guard station?.acknowledgementDeadline != nil || station?.drillLevel != nil else {
            return refuse("nothing waits for an answer (叫应): ack answers a warning the box is escalating")
        }
        backend.submit(.acknowledge(by: "shell \(port)"))
        audit("ack", change: "warning acknowledged")
        return render("Acknowledged: the box stops escalating (status shows it).\n")
    }

    private func clearAlarm() -> [UInt8] {
        let status = backend.status()
        guard let station = status.station, let outcome = station.latchClear else {
            return refuse("nothing is latched; alarm clear is for a level kept until a person clears it")
        }
        backend.submit(.clearLatch(by: "shell \(port)"))
        let said = Self.latchClearSentence(outcome, utcOffsetMinutes: status.utcOffsetMinutes)
        audit("alarm clear", change: said)
        return render(said.prefix(1).uppercased() + said.dropFirst() + ".\n")
    }

    /// Exactly what clearing the latch does, as the engine decides it: "latch cleared; the level
    /// stays red because rain-3h still meets red".
    static func latchClearSentence(_ outcome: LatchClearOutcome, utcOffsetMinutes: Int) -> String {
        let latched = outcome.latchedLevel.name
        let level = outcome.level.name
        let causes = outcome.causes.joined(separator: ", ")
        let meet = outcome.causes.count == 1 ? "meets" : "meet"
        if outcome.level == outcome.latchedLevel {
            if !outcome.causes.isEmpty {
                return "latch cleared; the level stays \(level) because \(causes) still \(meet) \(level)"
            }
            let until = outcome.lowerAt.map { " until \(ISO8601.format($0, utcOffsetMinutes: utcOffsetMinutes).prefix(16))" } ?? ""
            return "latch cleared; the level stays \(level)\(until): no rule meets \(level) now, and a level is lowered only after logic.clear_after"
        }
        if outcome.level == .none {
            return "latch cleared; the level falls from \(latched) to none: nothing meets a warning level now"
        }
        let because = outcome.causes.isEmpty ? "" : " because \(causes) \(meet) \(level)"
        return "latch cleared; the level falls from \(latched) to \(level)\(because)"
    }

    // MARK: Log, outbox, time, reboot

    private func log(_ arguments: [String]) -> [UInt8] {
        var count = Self.logLinesDefault
        if let first = arguments.first {
            guard arguments.count == 1, let value = Int(first), (1...LogRing.linesMax).contains(value) else {
                return refuse("write log [N], N from 1 to \(LogRing.linesMax)")
            }
            count = value
        }
        let lines = backend.logLines(count)
        return render(lines.isEmpty ? "No log lines yet.\n" : lines.joined(separator: "\n") + "\n")
    }

    private func outbox() -> [UInt8] {
        guard let backlog = backend.outboxBacklog() else { return render("Outbox: \(backend.outboxDescription)\n") }
        let offset = backend.status().utcOffsetMinutes
        var text = "Waiting for the county: \(backlog.undelivered) (\(backlog.undeliveredAlarms) alarms, "
            + "\(backlog.undeliveredEvents) events, \(backlog.undeliveredRoutine) routine)\n"
        if let oldest = backlog.oldestUndeliveredTime { text += "Oldest waiting since \(ISO8601.format(oldest, utcOffsetMinutes: offset))\n" }
        text += "Delivered and kept: \(backlog.delivered); stored \(backlog.storedBytes / 1024) KiB\n"
        return render(text)
    }

    private func time(_ arguments: [String]) -> [UInt8] {
        let offset = backend.status().utcOffsetMinutes
        guard let first = arguments.first else {
            return render("Box time \(ISO8601.format(backend.now(), utcOffsetMinutes: offset))\n")
        }
        guard first == "set", arguments.count == 2 else { return refuse("write time, or time set \(ISO8601.expectedForm.split(separator: " ").last ?? "")") }
        let parsed: ISO8601.Parsed
        do {
            parsed = try ISO8601.parseOrExplain(arguments[1])
        } catch {
            return refuse("\(arguments[1]): \(error.description); write \(ISO8601.expectedForm)")
        }
        let before = backend.now()
        if let refusal = backend.setTime(parsed.time) { return refuse(refusal) }
        audit("time set", change: "\(ISO8601.format(before, utcOffsetMinutes: offset)) → \(ISO8601.format(parsed.time, utcOffsetMinutes: offset))")
        return render("Box time set to \(ISO8601.format(parsed.time, utcOffsetMinutes: offset)).\n")
    }

    private func reboot(_ arguments: [String]) -> [UInt8] {
        guard arguments == ["now"] else {
            return refuse("write reboot now to restart the box; warnings stop until it is back (about a minute)")
        }
        if let refusal = backend.reboot() { return refuse(refusal) }
        audit("reboot", change: "restart requested")
        mode = .closed
        return render("Restarting the box.\n")
    }

    // MARK: Completion

    private func completions(words: [String], partial: String) -> [String] {
        guard mode == .command else { return [] }
        guard let first = words.first else { return Self.commands.map(\.name) }
        switch (first, words.count) {
        case ("help", 1): return Self.commands.map(\.name)
        case ("show", 1): return ["config"]
        case ("show", 2), ("set", 1): return Self.keys(of: backend.runningConfiguration())
        case ("test", 1): return ["siren", "lamp", "voice", "sms"]
        case ("test", 2) where words[1] == "lamp": return LampColour.allCases.map(\.rawValue)
        case ("test", 2) where words[1] == "sms": return backend.runningConfiguration().engine.contacts.map(\.name)
        case ("drill", 1): return ["start", "stop"]
        case ("drill", 2) where words[1] == "start": return WarningLevel.colours.map(\.name)
        case ("alarm", 1): return ["clear"]
        case ("time", 1): return ["set"]
        case ("term", 1): return ["ansi", "dumb"]
        case ("reboot", 1): return ["now"]
        default: return []
        }
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
                keys += entries.keys.map { "\(name).\($0)" }
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

    // MARK: Output

    private func refuse(_ reason: String) -> [UInt8] {
        render("Refused: \(reason)\n")
    }

    private func audit(_ command: String, change: String) {
        var payload = JSONObjectWriter()
        payload.add("port", string: port)
        payload.add("command", string: command)
        payload.add("change", string: change)
        backend.audit(OutboxReport(time: backend.now(), kind: "shellAudit", priority: .event, exercise: false, payload: payload.text))
    }

    /// Text for the terminal: lines wrapped to 80 columns at spaces (Chinese counts double),
    /// "\r\n" line ends, and no escape sequence unless the terminal asked for them.
    func render(_ text: String) -> [UInt8] {
        var lines: [String] = []
        for line in text.split(separator: "\n", omittingEmptySubsequences: false).dropLast(text.hasSuffix("\n") ? 1 : 0) {
            lines += Self.wrap(String(line), columns: Self.columns)
        }
        var joined = lines.joined(separator: "\r\n") + (text.hasSuffix("\n") ? "\r\n" : "")
        if !ansi { joined = String(joined.unicodeScalars.filter { $0 != "\u{1B}" }.map(Character.init)) }
        return Array(joined.utf8)
    }

    static func wrap(_ line: String, columns: Int) -> [String] {
        guard line.terminalColumns > columns else { return [line] }
        let indent = String(line.prefix { $0 == " " })
        var result: [String] = []
        var current = ""
        var currentColumns = 0
        for character in line {
            let width = String(character).terminalColumns
            if currentColumns + width > columns {
                // Break at the last space when there is one in the second half of the line.
                if let space = current.lastIndex(of: " "), current.distance(from: current.startIndex, to: space) > columns / 2 {
                    result.append(String(current[..<space]))
                    current = indent + "  " + String(current[current.index(after: space)...])
                } else {
                    result.append(current)
                    current = indent + "  "
                }
                currentColumns = current.terminalColumns
            }
            current.append(character)
            currentColumns += width
        }
        if !current.trimmingSpaces.isEmpty { result.append(current) }
        return result
    }

    private static func seconds(_ milliseconds: Int64) -> String {
        formatDuration(max((milliseconds + 999) / 1_000, 1) * 1_000)
    }
}

extension TOMLNode {
    /// The value in full, as TOML writes it (not shortened like `rendered`).
    var renderedWhole: String {
        switch self {
        case .table(let entries):
            let inner = entries.keys.sorted().map { "\(tomlKey($0)) = \(entries[$0]?.renderedWhole ?? "")" }
            return inner.isEmpty ? "{}" : "{ " + inner.joined(separator: ", ") + " }"
        case .array(let elements): return "[" + elements.map(\.renderedWhole).joined(separator: ", ") + "]"
        case .string(let text): return tomlQuoted(text)
        case .integer(let value): return String(value)
        case .float(let value): return tomlNumber(value)
        case .boolean(let value): return value ? "true" : "false"
        case .dateOrTime(let text): return text
        }
    }
}
