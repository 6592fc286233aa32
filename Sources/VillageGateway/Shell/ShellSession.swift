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
        /// `test sms`: waiting for the modem to say sent or failed, until then or a key.
        case awaitingSMS(SMSWait)
        case closed
    }

    /// A test SMS handed to the modem, and the counts before it, to tell when it went.
    struct SMSWait: Equatable {
        var contact: String
        var sentBefore: Int
        var failedBefore: Int
        var untilMilliseconds: Int64
        var nextCheckMilliseconds: Int64
    }

    /// The modem retries for a while; after this the shell stops waiting and says so.
    static let smsWaitMillisecondsMax: Int64 = 120_000
    static let smsCheckMilliseconds: Int64 = 250

    let port: String
    let backend: any ShellBackend
    private let loginGuard: LoginGuard
    var mode = Mode.login
    var editor = LineEditor(prompt: "PIN: ")
    var configurationEditor: ConfigurationEditor?
    var ansi = false
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
        case .awaitingSMS(let wait): return wait.nextCheckMilliseconds
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
            return render(text + Self.lockedText(lock))
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
        case .awaitingSMS(let wait):
            if now >= wait.nextCheckMilliseconds { out += checkSMS(wait, now: now) }
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
        case .locked:
            // Leaving always works; every other key is ignored (the time was said once).
            guard bytes.contains(0x03) || bytes.contains(0x04) else { return [] }
            mode = .closed
            return render("\nLogged out.\n")
        case .sensors:
            mode = .command
            return render("\n") + editor.promptBytes
        case .testing:
            return finishTest("stopped by a key")
        case .awaitingSMS(let wait):
            mode = .command
            return render("Stopped waiting for the test SMS to \(wait.contact); status shows the SMS counts.\n") + editor.promptBytes
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
            case .tooLong:
                out += render("Refused: the line was longer than \(LineEditor.lineScalarsMax) characters and was cut; nothing was run.\n")
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
            return render(Self.lockedText(lock))
        }
        if !pin.isEmpty, hash.matches(pin: pin) {
            loginGuard.recordRightPIN(now: now)
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
            return render("Wrong PIN. " + Self.lockedText(locked))
        }
        return render("Wrong PIN.\n")
    }

    /// Said once when a lock starts or a session meets one: how long, and the way out.
    static func lockedText(_ milliseconds: Int64) -> String {
        "The shell is locked for \(seconds(milliseconds)) after wrong PINs; keys are ignored until then. "
            + "Ctrl-D or Ctrl-C leaves. (help shows the PIN policy once logged in.)\n"
    }

    // MARK: Commands (the table is in ShellCommandTable.swift)

    private func command(_ line: String, now: Int64) -> [UInt8] {
        let words = line.split(separator: " ", omittingEmptySubsequences: true).map(String.init)
        guard let name = words.first else { return [] }
        guard let entry = Self.table.first(where: { $0.words.contains(name) }) else {
            var message = "unknown command \(name)"
            if let suggestion = closestName(to: name, among: Self.table.flatMap(\.words)) { message += "; did you mean \(suggestion)?" }
            return refuse(message + " (help lists the commands)")
        }
        let invocation = ShellInvocation(arguments: Array(words.dropFirst()), line: line, now: now)
        // One rule for every command: what it takes is declared in the table, and more or less
        // is refused the same way, naming the form to write.
        guard entry.arguments.contains(invocation.arguments.count) else {
            if entry.arguments == 0...0 { return refuse("\(entry.name) takes nothing after it: write \(entry.name)") }
            return refuse("write \(entry.usage) (help \(entry.name) explains)")
        }
        return entry.run(self, invocation)
    }

    func drill(_ arguments: [String]) -> [UInt8] {
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

    func acknowledge(_ arguments: [String]) -> [UInt8] {
        guard arguments.isEmpty else { return refuse("write ack, nothing after it") }
        let station = backend.status().station
        guard station?.acknowledgementDeadline != nil || station?.drillLevel != nil else {
            return refuse("nothing waits for an answer (叫应): ack answers a warning the box is escalating")
        }
        backend.submit(.acknowledge(by: "shell \(port)", channel: .shell))
        audit("ack", change: "warning acknowledged")
        return render("Acknowledged: the box stops escalating (status shows it).\n")
    }

    func clearAlarm() -> [UInt8] {
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

    // MARK: Output

    func refuse(_ reason: String) -> [UInt8] {
        render("Refused: \(reason)\n")
    }

    func audit(_ command: String, change: String) {
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

    static func seconds(_ milliseconds: Int64) -> String {
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
