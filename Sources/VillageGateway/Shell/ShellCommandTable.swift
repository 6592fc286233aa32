// The shell's commands as one table: each declares the words that call it, how many words it
// takes, its help and its handler, so `help`, Tab completion and the argument check all come
// from the same entry and cannot disagree.
import WarningLogic

/// One command: what calls it, what it takes, what `help` says, and what it does.
struct ShellCommandEntry: Sendable {
    /// The first is the name; the rest are aliases (`exit` and `quit` for `logout`).
    var words: [String]
    var usage: String
    var summary: String
    /// `help NAME` prints it after the usage and summary.
    var detail: String?
    /// How many words may follow the command (flags included). Free text is `n...Int.max`.
    var arguments: ClosedRange<Int>
    /// Candidates for the next word, given the words typed after the command.
    var complete: @Sendable (ShellSession, [String]) -> [String]
    var run: @Sendable (ShellSession, ShellInvocation) -> [UInt8]

    var name: String { words[0] }

    init(
        _ words: [String], usage: String, summary: String, detail: String? = nil, arguments: ClosedRange<Int>,
        complete: @escaping @Sendable (ShellSession, [String]) -> [String] = { _, _ in [] },
        run: @escaping @Sendable (ShellSession, ShellInvocation) -> [UInt8]
    ) {
        self.words = words
        self.usage = usage
        self.summary = summary
        self.detail = detail
        self.arguments = arguments
        self.complete = complete
        self.run = run
    }
}

/// A typed command line: its words after the command, the line as typed, and the time.
struct ShellInvocation {
    var arguments: [String]
    var line: String
    var now: Int64

    /// The text of the line after its first `words` words, as typed (spaces inside kept).
    func rest(after words: Int) -> String {
        var remaining = Substring(line)
        for _ in 0..<words {
            remaining = remaining.drop { $0 == " " }
            remaining = remaining.drop { $0 != " " }
        }
        return String(String(remaining).trimmingSpaces)
    }
}

extension ShellSession {
    static let table: [ShellCommandEntry] = [
        ShellCommandEntry(
            ["status"], usage: "status", summary: "level and causes, each rule against its thresholds, sensors, outputs, outbox",
            arguments: 0...0
        ) { session, _ in session.statusText() },
        ShellCommandEntry(["sensors"], usage: "sensors", summary: "live readings every second; any key stops", arguments: 0...0) { session, invocation in
            session.startSensors(now: invocation.now)
        },
        ShellCommandEntry(
            ["show"], usage: "show config [KEY]", summary: "the configuration in use, a section (rule.rain-1h) or one key",
            arguments: 1...2,
            complete: { session, words in
                switch words.count {
                case 0: ["config"]
                case 1: session.configurationKeys(withSections: true)
                default: []
                }
            }
        ) { session, invocation in
            guard invocation.arguments[0] == "config" else { return session.refuse("write show config, or show config KEY") }
            return session.showConfiguration(invocation.arguments.count == 2 ? invocation.arguments[1] : nil)
        },
        ShellCommandEntry(
            ["set"], usage: "set KEY VALUE", summary: "stage a change, checked at once (commit saves it)",
            detail: """
                Stages KEY = VALUE in the configuration and checks it at once, with
                check-config's messages. Nothing changes until commit; unset KEY drops the
                change of one key, rollback drops them all. Keys: station.name,
                logic.clear_after, rule.<id>.red, sensor.<id>.range, contact.<name>.phone,
                outputs.<level>.siren, buses.<bus>.baud, shell.idle_logout ... (Tab completes;
                help KEY explains one). Text needs no quotes: set logic.clear_after 30m
                """,
            arguments: 2...Int.max,
            complete: { session, words in words.isEmpty ? session.configurationKeys(withSections: false) : [] }
        ) { session, invocation in
            session.set(invocation.arguments[0], value: invocation.rest(after: 2))
        },
        ShellCommandEntry(
            ["unset"], usage: "unset KEY", summary: "drop the staged change of one key (the others stay staged)", arguments: 1...1,
            complete: { session, words in words.isEmpty ? session.stagedKeys() : [] }
        ) { session, invocation in session.unset(invocation.arguments[0]) },
        ShellCommandEntry(["diff"], usage: "diff", summary: "the staged changes against the file", arguments: 0...0) { session, _ in
            session.diff()
        },
        ShellCommandEntry(
            ["commit"], usage: "commit", summary: "save the staged changes and apply them",
            detail: """
                Writes the staged configuration (temporary file, fsync, rename: a power cut
                leaves the old or the new file, never half) and applies it without a restart.
                Changes to wiring, sensors or the station wait for a restart; commit says which.
                The file as it was is kept (history lists them): rollback previous returns to it.
                """,
            arguments: 0...0
        ) { session, _ in session.commit() },
        ShellCommandEntry(
            ["rollback"], usage: "rollback | rollback previous",
            summary: "drop the staged changes; previous: back to the file before the last commit",
            detail: """
                rollback           drops every staged change; the file stays as it is.
                rollback previous  puts back the configuration in use before the last commit
                                   (history lists the kept ones), checked and applied like a
                                   commit and audited. Again goes one further back.
                """,
            arguments: 0...1,
            complete: { _, words in words.isEmpty ? ["previous"] : [] }
        ) { session, invocation in
            guard let first = invocation.arguments.first else { return session.rollback() }
            guard first == "previous" else { return session.refuse("write rollback, or rollback previous") }
            return session.rollbackToPrevious()
        },
        ShellCommandEntry(
            ["history"], usage: "history", summary: "the configurations kept from earlier commits, newest first", arguments: 0...0
        ) { session, _ in session.history() },
        ShellCommandEntry(
            ["test"], usage: "test siren|lamp COLOUR|voice TEXT|sms CONTACT [SECONDS] [--force]",
            summary: "sound, light, speak or text as a drill; back to safe after",
            detail: """
                test siren [SECONDS]        the siren for SECONDS (default 5, at most 60)
                test lamp COLOUR [SECONDS]  blue, yellow, orange or red
                test voice TEXT             speak TEXT on the broadcast
                test sms CONTACT            a test SMS to a contact (name or phone); waits
                                            for the modem to say sent or failed
                Refused while a real alarm is on, unless --force. Any key ends a test early.
                """,
            arguments: 1...Int.max,
            complete: { session, words in
                switch (words.count, words.first) {
                case (0, _): ["siren", "lamp", "voice", "sms"]
                case (1, "lamp"): LampColour.allCases.map(\.rawValue)
                case (1, "sms"): session.backend.runningConfiguration().engine.contacts.map(\.name)
                default: []
                }
            }
        ) { session, invocation in session.test(invocation) },
        ShellCommandEntry(
            ["drill"], usage: "drill start LEVEL [--force] | drill stop", summary: "a drill (演练) through the engine",
            detail: """
                drill start LEVEL     a drill at blue, yellow, orange or red: the outputs act
                                      as at LEVEL, every word and report marked 演练 (exercise)
                drill stop            ends it with 【演练】演练结束, never the all-clear
                Real warnings pre-empt drills: refused while a real yellow or above or a
                county warning is in force; at a real blue add --force. A real level change
                or county warning ends a running drill at once, and the real warning sounds.
                """,
            arguments: 1...3,
            complete: { _, words in
                switch (words.count, words.first) {
                case (0, _): ["start", "stop"]
                case (1, "start"): WarningLevel.colours.map(\.name)
                default: []
                }
            }
        ) { session, invocation in session.drill(invocation.arguments) },
        ShellCommandEntry(["ack"], usage: "ack", summary: "answer the warning (叫应)", arguments: 0...0) { session, invocation in
            session.acknowledge(invocation.arguments)
        },
        ShellCommandEntry(
            ["alarm"], usage: "alarm clear", summary: "clear a latched level",
            detail: """
                alarm clear           clears a latched level and says what the level is then:
                                      it stays while a rule, a manual or a county level still
                                      holds it; it latches again only on a new rise.
                """,
            arguments: 1...1,
            complete: { _, words in words.isEmpty ? ["clear"] : [] }
        ) { session, invocation in
            guard invocation.arguments == ["clear"] else { return session.refuse("write alarm clear (it clears a latched level)") }
            return session.clearAlarm()
        },
        ShellCommandEntry(
            ["log"], usage: "log [N]", summary: "the last N log lines (\(logLinesDefault) if not given)", arguments: 0...1
        ) { session, invocation in session.log(invocation.arguments) },
        ShellCommandEntry(["outbox"], usage: "outbox", summary: "reports waiting for the county", arguments: 0...0) { session, _ in
            session.outbox()
        },
        ShellCommandEntry(
            ["time"], usage: "time | time set 2026-11-22 17:40", summary: "the box's clock; set it (no RTC)",
            detail: """
                time                  the box's clock
                time set DATE TIME    set it, e.g. time set 2026-11-22 17:40 (the station's
                                      UTC offset unless one is given: 2026-11-22T17:40+08:00);
                                      only on boxes without a real-time clock
                """,
            arguments: 0...3,
            complete: { _, words in words.isEmpty ? ["set"] : [] }
        ) { session, invocation in session.time(invocation.arguments) },
        ShellCommandEntry(
            ["term"], usage: "term ansi|dumb", summary: "allow ANSI sequences, or not (the default)", arguments: 1...1,
            complete: { _, words in words.isEmpty ? ["ansi", "dumb"] : [] }
        ) { session, invocation in
            guard ["ansi", "dumb"].contains(invocation.arguments[0]) else { return session.refuse("write term ansi or term dumb") }
            session.ansi = invocation.arguments[0] == "ansi"
            return session.render(session.ansi ? "ANSI sequences allowed.\n" : "No ANSI sequences.\n")
        },
        ShellCommandEntry(
            ["reboot"], usage: "reboot now", summary: "restart the box", arguments: 0...1,
            complete: { _, words in words.isEmpty ? ["now"] : [] }
        ) { session, invocation in session.reboot(invocation.arguments) },
        ShellCommandEntry(
            ["help", "?"], usage: "help [COMMAND|KEY]", summary: "this list, one command, or one configuration key", arguments: 0...1,
            complete: { session, words in words.isEmpty ? table.map(\.name) + session.configurationKeys(withSections: false) : [] }
        ) { session, invocation in session.help(invocation.arguments.first) },
        ShellCommandEntry(
            ["logout", "exit", "quit"], usage: "logout", summary: "end the session (also exit, quit, Ctrl-D)", arguments: 0...0
        ) { session, _ in
            session.mode = .closed
            return session.render("Logged out.\n")
        },
    ]

    /// The table as `help` lists it, then the PIN policy (a technician locked out once wants to
    /// know the rule before the next time).
    func help(_ topic: String?) -> [UInt8] {
        if let topic {
            if let entry = Self.table.first(where: { $0.words.contains(topic) }) {
                var text = "\(entry.usage)\n  \(entry.summary)\n"
                if let detail = entry.detail { text += detail + "\n" }
                return render(text)
            }
            if let key = keyHelp(topic) { return render(key) }
            return refuse("no command or configuration key \(topic); help lists the commands")
        }
        var text = ""
        for entry in Self.table {
            text += entry.usage.count <= 20
                ? entry.usage.paddedRight(to: 21) + entry.summary + "\n"
                : entry.usage + "\n" + String(repeating: " ", count: 21) + entry.summary + "\n"
        }
        text += "PIN: " + LoginGuard.policy + "\n"
        return render(text)
    }

    func completions(words: [String], partial: String) -> [String] {
        guard mode == .command else { return [] }
        guard let first = words.first else { return Self.table.map(\.name) }
        guard let entry = Self.table.first(where: { $0.words.contains(first) }) else { return [] }
        let after = Array(words.dropFirst())
        guard entry.arguments.upperBound > after.count else { return [] }
        return entry.complete(self, after)
    }
}
