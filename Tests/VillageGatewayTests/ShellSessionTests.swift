// A shell session against a recording fake of the box: login, lock, idle logout, commands,
// refusals, audits; time is an input (no sleeps).
import Foundation
import Synchronization
import Testing
import WarningLogic
@testable import VillageGateway

/// The box as the shell sees it, recording what the shell asked of it.
final class FakeShellBackend: ShellBackend {
    struct Recorded {
        var configuration: GatewayConfiguration
        var status: DaemonStatus
        var applied: [GatewayConfiguration] = []
        var events: [Event.Kind] = []
        var tests: [OutputTest] = []
        var testsEnded = 0
        var audits: [OutboxReport] = []
        var clockSets: [Timestamp] = []
        var reboots = 0
        var backlog: OutboxBacklog?
    }

    let configurationPath: String
    let recorded: Mutex<Recorded>
    let outboxDescription = "not connected (fake)"

    init(configurationPath: String, configuration: GatewayConfiguration) {
        self.configurationPath = configurationPath
        let published = PublishedStatus(configuration: configuration.engine, board: "sim", stateDirectory: "/tmp/none", inputs: [])
        var engine = Engine(configuration: configuration.engine)
        _ = engine.handle(Event(time: Timestamp(millisecondsSinceUnixEpoch: 1_600_000_000_000), kind: .tick))
        published.update(station: engine.status(), outputs: .safe, counters: RuntimeCounters())
        recorded = Mutex(Recorded(configuration: configuration, status: published.report()))
    }

    func setLevel(_ level: WarningLevel, latched: WarningLevel? = nil) {
        recorded.withLock {
            $0.status.level = level.name
            $0.status.station?.level = level
            $0.status.station?.latchedLevel = latched
            $0.status.station?.latchClear = latched.map { LatchClearOutcome(latchedLevel: $0, level: .none, causes: [], lowerAt: nil) }
        }
    }

    func status() -> DaemonStatus { recorded.withLock { $0.status } }
    func runningConfiguration() -> GatewayConfiguration { recorded.withLock { $0.configuration } }
    func shellSettings() -> ShellConfiguration {
        (try? ConfigurationLoader.load(path: configurationPath))?.shell ?? runningConfiguration().shell
    }
    func apply(_ configuration: GatewayConfiguration) -> [String] {
        recorded.withLock { state in
            let waiting = ConfigurationChange.restartReasons(from: state.configuration, to: configuration)
            state.applied.append(configuration)
            if waiting.isEmpty { state.configuration = configuration }
            return waiting
        }
    }
    func submit(_ kind: Event.Kind) { recorded.withLock { $0.events.append(kind) } }
    func beginTest(_ test: OutputTest) -> String? {
        if case .voice = test { return "no voice module is wired on this board" }
        recorded.withLock {
            $0.tests.append(test)
            // The simulated modem sends at once; the shell learns it from the counts.
            if case .sms = test { $0.status.outputs.smsSent += 1 }
        }
        return nil
    }
    func endTest() { recorded.withLock { $0.testsEnded += 1 } }
    func audit(_ report: OutboxReport) { recorded.withLock { $0.audits.append(report) } }
    func outboxBacklog() -> OutboxBacklog? { recorded.withLock { $0.backlog } }
    func logLines(_ count: Int) -> [String] { (1...3).suffix(count).map { "line \($0)" } }
    func now() -> Timestamp { Timestamp(millisecondsSinceUnixEpoch: 1_600_000_000_000) }
    func setTime(_ time: Timestamp) -> String? {
        recorded.withLock { $0.clockSets.append(time) }
        return "the simulated board runs the scenario's clock"
    }
    func reboot() -> String? {
        recorded.withLock { $0.reboots += 1 }
        return "not started by systemd"
    }
}

/// An answer as one line per paragraph: the shell wraps long answers at 80 columns with a
/// two-space indent.
func unwrapped(_ text: String) -> String { text.replacingOccurrences(of: "\r\n  ", with: " ") }

/// A session with a configuration file on disk, driven keystroke by keystroke.
final class SessionHarness {
    static let pin = "2468"
    let directory: String
    let path: String
    let backend: FakeShellBackend
    let loginGuard = LoginGuard()
    var session: ShellSession
    var now: Int64 = 10_000_000
    var screen = ""

    init(pin: Bool = true, extra: String = "") throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("vg-shell-\(UUID().uuidString.prefix(8))").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        path = directory + "/gateway.toml"
        var text = try String(contentsOfFile: ConfigurationFixtures.examplePath, encoding: .utf8)
        if pin { text += "\n[shell]\npin_hash = \"\(PINHash.make(pin: Self.pin, rounds: ShellPINTests.testRounds))\"\n" + extra }
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        backend = FakeShellBackend(configurationPath: path, configuration: try ConfigurationLoader.load(path: path))
        session = ShellSession(port: "socket", backend: backend, loginGuard: loginGuard, nowMilliseconds: now)
        screen = String(decoding: session.start(nowMilliseconds: now), as: UTF8.self)
    }

    deinit { try? FileManager.default.removeItem(atPath: directory) }

    /// Types `text` one byte at a time; returns what appeared on the screen.
    @discardableResult
    func type(_ text: String) -> String {
        var shown: [UInt8] = []
        for byte in Array(text.utf8) {
            now += 150
            shown += session.receive([byte], nowMilliseconds: now)
        }
        let text = String(decoding: shown, as: UTF8.self)
        screen += text
        return text
    }

    @discardableResult
    func wait(milliseconds: Int64) -> String {
        now += milliseconds
        let text = String(decoding: session.tick(nowMilliseconds: now), as: UTF8.self)
        screen += text
        return text
    }

    func logIn() {
        type(Self.pin + "\r")
    }

    /// Types a line and returns the answer with the 80-column wrapping undone, to match sentences.
    func answer(_ line: String) -> String {
        type(line + "\r").replacingOccurrences(of: "\r\n    ", with: " ").replacingOccurrences(of: "\r\n  ", with: " ")
    }
}

@Suite struct ShellSessionTests {
    @Test func withoutAPINTheShellRefusesAndSaysHowToSetOne() throws {
        let harness = try SessionHarness(pin: false)
        #expect(harness.session.isClosed)
        #expect(harness.screen.contains("village-gateway set-pin --config \(harness.path)"))
    }

    @Test func theRightPINOpensTheShellWithTheVillageNameAsPrompt() throws {
        let harness = try SessionHarness()
        #expect(harness.screen.contains("黄坑村 (0011223344)"))
        let shown = harness.type(SessionHarness.pin + "\r")
        #expect(shown.hasPrefix("****\r\nLogged in. Level NONE"))
        #expect(shown.hasSuffix("黄坑村> "))
    }

    @Test func fiveWrongPINsLockTheShellAndTheLockEnds() throws {
        let harness = try SessionHarness()
        for attempt in 1...4 {
            #expect(harness.type("1111\r").contains("Wrong PIN."), "attempt \(attempt)")
        }
        #expect(harness.type("1111\r").contains("The shell is locked for 30s after wrong PINs"))
        #expect(harness.screen.contains("Ctrl-D or Ctrl-C leaves"), "the way out is said with the time")
        #expect(harness.type("2468\r").isEmpty, "keys are ignored while locked: the time was said once")
        #expect(harness.wait(milliseconds: LoginGuard.lockFirstMilliseconds).contains("The lock is over."))
        #expect(harness.type("2468\r").contains("Logged in."))
        #expect(harness.backend.recorded.withLock { $0.audits.map(\.kind) } == ["shellAudit"], "the lock is audited")
    }

    @Test func ctrlDOrCtrlCLeavesALockedShell() throws {
        for key: UInt8 in [0x04, 0x03] {
            let harness = try SessionHarness()
            for _ in 1...LoginGuard.wrongPINsBeforeLock { harness.type("1111\r") }
            #expect(harness.type("x\r").isEmpty)
            let shown = String(decoding: harness.session.receive([key], nowMilliseconds: harness.now + 1), as: UTF8.self)
            #expect(shown.contains("Logged out."))
            #expect(harness.session.isClosed, "leaving works while locked")
        }
    }

    @Test func helpStatesThePINPolicy() throws {
        let harness = try SessionHarness()
        harness.logIn()
        let shown = harness.type("help\r").replacingOccurrences(of: "\r\n", with: " ").replacingOccurrences(of: "   ", with: " ")
        #expect(shown.contains("5 wrong PINs in a row lock the shell for 30s"))
        #expect(shown.contains("to at most 1h"))
        #expect(shown.contains("A right PIN, or 1h without a wrong one, resets the count"))
        #expect(shown.contains("a restart of the box does not"))
    }

    @Test func anIdleSessionIsLoggedOut() throws {
        let harness = try SessionHarness(extra: "idle_logout = \"2m\"\n")
        harness.logIn()
        #expect(harness.wait(milliseconds: 119_000).isEmpty)
        #expect(harness.wait(milliseconds: 1_000).contains("No key for 2m: logged out."))
        #expect(harness.session.isClosed)
    }

    @Test func everyAnswerFits80ColumnsAndHasNoEscapeSequence() throws {
        let harness = try SessionHarness()
        harness.logIn()
        for command in ["help", "help test", "status", "show config", "show config rule.rain-1h.red", "log", "time", "nosuch", "test"] {
            harness.type(command + "\r")
        }
        #expect(!harness.screen.unicodeScalars.contains("\u{1B}"))
        for line in harness.screen.components(separatedBy: "\r\n") {
            #expect(line.terminalColumns <= ShellSession.columns, "\(line)")
        }
        #expect(harness.screen.contains("rule.rain-1h.red = 80"))
        #expect(harness.screen.contains("Refused: unknown command nosuch"))
        #expect(harness.screen.contains("Level     NONE"))
    }

    @Test func setDiffCommitWritesTheFileAppliesItAndAuditsIt() throws {
        let harness = try SessionHarness()
        harness.logIn()
        let before = try String(contentsOfFile: harness.path, encoding: .utf8)
        #expect(harness.type("set rule.river-level.blue 1.5\r").contains("Staged rule.river-level.blue = 1.5"))
        #expect(try String(contentsOfFile: harness.path, encoding: .utf8) == before, "set only stages")
        #expect(harness.type("diff\r").contains("+ \(ConfigurationFixtures.riverLevelBlueLine) blue = 1.5"))
        let committed = harness.type("commit\r")
        #expect(committed.contains("Applied: the box runs the new configuration now."))
        let after = try ConfigurationLoader.load(path: harness.path)
        #expect(after.engine.rules.first { $0.id == "river-level" }?.thresholds.defined.first?.1 == 1.5)
        #expect(harness.backend.recorded.withLock { $0.configuration } == after)
        let audit = try #require(harness.backend.recorded.withLock { $0.audits.last })
        #expect(audit.kind == "shellAudit" && audit.priority == .event)
        #expect(audit.payload.contains("\"port\":\"socket\"") && audit.payload.contains("rule.river-level.blue: 2.5 → 1.5"))
        #expect(harness.type("show config rule.river-level.blue\r").contains("rule.river-level.blue = 1.5"))
    }

    @Test func aWrongValueShowsCheckConfigsMessageAndCommitRefuses() throws {
        let harness = try SessionHarness()
        harness.logIn()
        let shown = harness.type("set rule.rain-1h.yellow 20\r")
        #expect(shown.contains("[[rule]] \"rain-1h\" yellow = 20"))
        #expect(shown.contains("commit refuses until fixed"))
        #expect(harness.type("commit\r").contains("Refused: not committed"))
        #expect(harness.type("rollback\r").contains("Dropped 1 staged change"))
        #expect(harness.backend.recorded.withLock { $0.applied.isEmpty })
    }

    @Test func wiringChangesAreSavedButWaitForARestart() throws {
        let harness = try SessionHarness()
        harness.logIn()
        harness.type("set buses.rs485.baud 19200\r")
        let shown = harness.type("commit\r")
        #expect(shown.contains("Not applied yet: [buses] (bus wiring) need a restart"))
    }

    @Test func aTestIsRefusedDuringARealAlarmUnlessForcedAndEndsSafe() throws {
        let harness = try SessionHarness()
        harness.logIn()
        harness.backend.setLevel(.yellow)
        #expect(harness.type("test siren\r").contains("Refused: a real yellow alarm is on"))
        #expect(harness.type("test siren 3 --force\r").contains("Testing: siren on for 3 s"))
        #expect(harness.wait(milliseconds: 1_000).isEmpty)
        #expect(harness.wait(milliseconds: 2_000).contains("back to its safe state"))
        #expect(harness.backend.recorded.withLock { ($0.tests, $0.testsEnded) } == ([.siren], 1))
        harness.backend.setLevel(.none)
        harness.type("test lamp red 10\r")
        #expect(harness.type("x").contains("Stopped by a key"), "a key ends the test early")
        #expect(harness.backend.recorded.withLock { $0.testsEnded } == 2)
        #expect(harness.type("test voice 测试广播\r").contains("Refused: no voice module"))
        #expect(harness.type("test lamp purple\r").contains("COLOUR is blue, yellow, orange or red"))
        #expect(harness.type("test sms 王建国\r").contains("test SMS to 王建国"))
    }

    @Test func drillAckAndClearGoToTheEngineAsEvents() throws {
        let harness = try SessionHarness()
        harness.logIn()
        #expect(harness.type("alarm clear\r").contains("Refused: nothing is latched"))
        harness.type("drill start orange\r")
        harness.backend.setLevel(.red, latched: .red)
        harness.type("alarm clear\r")
        let events = harness.backend.recorded.withLock { $0.events }
        #expect(events == [.drillStart(level: .orange, by: "shell socket"), .clearLatch(by: "shell socket")])
        #expect(harness.backend.recorded.withLock { $0.audits.count } == 2)
    }

    /// Real warnings pre-empt drills, and a drill names its level: `drill start` alone once
    /// started a red drill.
    @Test func drillStartNamesItsLevelAndIsRefusedOverARealWarning() throws {
        let harness = try SessionHarness()
        harness.logIn()
        #expect(unwrapped(harness.type("drill start\r")).contains("Refused: name the drill's level: drill start LEVEL, LEVEL one of blue, yellow, orange, red"))
        #expect(unwrapped(harness.type("drill start purple\r")).contains("Refused: LEVEL must be one of blue, yellow, orange, red"))
        for level in [WarningLevel.yellow, .orange, .red] {
            harness.backend.setLevel(level)
            #expect(unwrapped(harness.type("drill start red --force\r")).contains("Refused: a real \(level.name) warning is in force, and real warnings pre-empt drills"))
        }
        harness.backend.setLevel(.blue)
        #expect(unwrapped(harness.type("drill start red\r")).contains("Refused: a real blue warning is in force; a drill would sound over it, so it needs force"))
        harness.backend.recorded.withLock { $0.status.station?.causes = ["county:cw-9"] }
        #expect(unwrapped(harness.type("drill start red --force\r")).contains("Refused: county warning cw-9 is in force"))
        #expect(harness.backend.recorded.withLock { $0.events }.isEmpty, "nothing refused reached the engine")
        harness.backend.recorded.withLock { $0.status.station?.causes = ["rain-3h"] }
        #expect(unwrapped(harness.type("drill start red --force\r")).contains("red drill started (演练)"))
        #expect(harness.backend.recorded.withLock { $0.events } == [.drillStart(level: .red, by: "shell socket", force: true)])
        #expect(harness.backend.recorded.withLock { $0.audits.last?.payload.contains("red drill (forced over a real blue)") } == true)
        #expect(unwrapped(harness.type("help drill\r")).contains("Real warnings pre-empt drills"))
    }

    @Test func drillStopSaysTheBoxSpeaksTheDrillEndNotTheAllClear() throws {
        let harness = try SessionHarness()
        harness.logIn()
        #expect(unwrapped(harness.type("drill stop\r")).contains("Refused: no drill is running; drill start LEVEL starts one"))
        harness.backend.recorded.withLock { $0.status.station?.drillLevel = .orange }
        #expect(unwrapped(harness.type("drill stop\r")).contains("Drill stopped: the box says the drill is over (marked 演练), not the all-clear."))
        #expect(harness.backend.recorded.withLock { $0.events } == [.drillStop(by: "shell socket")])
    }

    /// The field finding: "Latched red cleared: the level follows the sensors again" while the
    /// rules still held red. The answer now says what the engine will do, from the engine's own
    /// account of it in the status.
    @Test func alarmClearSaysExactlyWhatHappensToTheLevel() throws {
        let harness = try SessionHarness()
        harness.logIn()
        func clear(_ outcome: LatchClearOutcome) -> String {
            harness.backend.setLevel(.red, latched: .red)
            harness.backend.recorded.withLock { $0.status.station?.latchClear = outcome }
            return unwrapped(harness.type("alarm clear\r"))
        }
        #expect(clear(LatchClearOutcome(latchedLevel: .red, level: .red, causes: ["rain-3h"], lowerAt: nil))
            .contains("Latch cleared; the level stays red because rain-3h still meets red.\r\n"))
        #expect(harness.backend.recorded.withLock { $0.audits.last?.payload.contains("latch cleared; the level stays red because rain-3h still meets red") } == true)
        #expect(clear(LatchClearOutcome(latchedLevel: .red, level: .red, causes: ["rain-3h", "manual"], lowerAt: nil))
            .contains("Latch cleared; the level stays red because rain-3h, manual still meet red."))
        #expect(clear(LatchClearOutcome(latchedLevel: .red, level: .red, causes: [], lowerAt: Timestamp(millisecondsSinceUnixEpoch: 1_600_003_600_000)))
            .contains("Latch cleared; the level stays red until 2020-09-13T21:26: no rule meets red now, and a level is lowered only after logic.clear_after."))
        #expect(clear(LatchClearOutcome(latchedLevel: .red, level: .yellow, causes: ["rain-6h"], lowerAt: nil))
            .contains("Latch cleared; the level falls from red to yellow because rain-6h meets yellow."))
        #expect(clear(LatchClearOutcome(latchedLevel: .red, level: .none, causes: [], lowerAt: nil))
            .contains("Latch cleared; the level falls from red to none: nothing meets a warning level now."))
        #expect(harness.backend.recorded.withLock { $0.events }.count == 5)
    }

    @Test func timeSetAndRebootAreRefusedWithTheSeamsReason() throws {
        let harness = try SessionHarness()
        harness.logIn()
        #expect(harness.type("time set 2026-11-22T17:40:00+08:00\r").contains("Refused: the simulated board runs the scenario's clock"))
        #expect(harness.type("time set tomorrow\r").contains("Refused: tomorrow:"))
        #expect(harness.type("reboot\r").contains("Refused: write reboot now"))
        #expect(harness.backend.recorded.withLock { $0.reboots } == 0)
        #expect(harness.type("reboot now\r").contains("Refused: not started by systemd"))
    }

    @Test func tabCompletesCommandsAndConfigurationKeys() throws {
        let harness = try SessionHarness()
        harness.logIn()
        harness.type("sho\t")
        harness.type("config rule.river-l\t")
        let shown = harness.type("bl\t\r")
        #expect(shown.contains("rule.river-level.blue = 2.5"))
    }

    @Test func theClientsTERMDecidesOnANSI() throws {
        let harness = try SessionHarness()
        _ = harness.session.receive([0] + Array("TERM=xterm\n".utf8), nowMilliseconds: harness.now)
        #expect(harness.session.ansi)
        let dumb = try SessionHarness()
        _ = dumb.session.receive([0] + Array("TERM=dumb\n".utf8), nowMilliseconds: dumb.now)
        #expect(!dumb.session.ansi)
    }

    @Test func sensorsRefreshUntilAKeyIsPressed() throws {
        let harness = try SessionHarness()
        harness.logIn()
        harness.type("sensors\r")
        #expect(harness.wait(milliseconds: ShellSession.sensorsRefreshMilliseconds).contains("rain1"))
        #expect(harness.wait(milliseconds: ShellSession.sensorsRefreshMilliseconds).contains("river1"))
        #expect(harness.type(" ").hasSuffix("黄坑村> "))
        #expect(harness.wait(milliseconds: ShellSession.sensorsRefreshMilliseconds).isEmpty)
    }

    @Test func longLinesWrapAtSpacesWithinTheColumns() {
        let line = String(repeating: "黄坑村 ", count: 30)
        let wrapped = ShellSession.wrap(line, columns: 80)
        #expect(wrapped.count > 1)
        #expect(wrapped.allSatisfy { $0.terminalColumns <= 80 })
    }

    @Test func commitKeepsTheFileAsItWasAndRollbackPreviousGoesBackAppliedAndAudited() throws {
        let harness = try SessionHarness()
        harness.logIn()
        let original = try String(contentsOfFile: harness.path, encoding: .utf8)
        #expect(harness.type("rollback\r").contains("Refused: nothing is staged; rollback previous goes back"))
        #expect(harness.type("rollback previous\r").contains("Refused: no earlier configuration is kept"))
        harness.type("set rule.river-level.blue 1.5\r")
        #expect(harness.type("commit\r").contains("rollback previous goes back to the file as it was"))
        let committed = try String(contentsOfFile: harness.path, encoding: .utf8)
        let history = harness.type("history\r")
        #expect(history.contains("#2") && history.contains("(in use)") && history.contains("#1"))
        let back = harness.type("rollback previous\r")
        #expect(back.contains("Back to the configuration of"))
        let blueLine = ConfigurationFixtures.riverLevelBlueLine
        #expect(back.contains("- \(blueLine) blue = 1.5") && back.contains("+ \(blueLine) blue = 2.5"))
        #expect(back.contains("Applied: the box runs the new configuration now."))
        #expect(try String(contentsOfFile: harness.path, encoding: .utf8) == original, "byte for byte the file before the commit")
        #expect(harness.backend.recorded.withLock { $0.configuration } == (try ConfigurationLoader.load(path: harness.path)))
        #expect(harness.backend.recorded.withLock { $0.audits.last?.payload.contains("\"command\":\"rollback previous\"") } == true)
        #expect(harness.type("rollback previous\r").contains("Refused: no earlier configuration is kept"), "the oldest kept is the end")
        #expect(ConfigurationHistory(configurationPath: harness.path).entries().map(\.text) == [original, committed], "nothing was lost")
    }

    @Test func theHistoryKeepsABoundedNumberOfConfigurations() throws {
        let harness = try SessionHarness()
        harness.logIn()
        for index in 0..<(ConfigurationHistory.keptMax + 3) {
            harness.type("set logic.clear_after \(31 + index)m\r")
            #expect(harness.type("commit\r").contains("Applied"))
        }
        let kept = ConfigurationHistory(configurationPath: harness.path).entries()
        #expect(kept.count == ConfigurationHistory.keptMax)
        #expect(kept.last?.text == (try String(contentsOfFile: harness.path, encoding: .utf8)))
        #expect(kept.last?.time == "2020-09-13T20:26:40+08:00", "dated by the box's clock")
    }

    @Test func unsetDropsOneStagedChangeAndKeepsTheOthers() throws {
        let harness = try SessionHarness()
        harness.logIn()
        harness.type("set rule.river-level.blue 1.5\r")
        #expect(harness.answer("set rule.rain-1h.yellow 20").contains("commit refuses until fixed (set again, unset rule.rain-1h.yellow, or rollback)"))
        #expect(harness.type("unset rule.rain-1h.yelow\r").contains("did you mean rule.rain-1h.yellow?"))
        let shown = harness.answer("unset rule.rain-1h.yellow")
        #expect(shown.contains("Dropped the staged change of rule.rain-1h.yellow") && shown.contains("Staged: rule.river-level.blue."))
        let diff = harness.type("diff\r")
        #expect(diff.contains("+ \(ConfigurationFixtures.riverLevelBlueLine) blue = 1.5") && !diff.contains("yellow = 20"))
        #expect(harness.type("commit\r").contains("Applied"))
    }

    @Test func fullWidthDigitsAreReadAsDigits() throws {
        let harness = try SessionHarness()
        harness.logIn()
        let shown = harness.type("set rule.rain-1h.blue ３０\r")
        #expect(shown.contains("Staged rule.rain-1h.blue = 30 (full-width digits ３０ read as 30)"), "\(shown)")
        #expect(harness.type("set rule.river-level.blue １．５\r").contains("= 1.5"))
    }

    @Test func theProblemsOfTheChangeComeFirst() throws {
        let harness = try SessionHarness()
        harness.logIn()
        let shown = harness.answer("set outputs.red.siren off")
        let first = shown.components(separatedBy: "\r\n").dropFirst().first ?? ""
        #expect(first.hasPrefix("With outputs.red.siren = \"off\", other keys of [outputs.red] no longer fit"), "\(shown)")
        #expect(first.contains("unset outputs.red.siren_max_on, outputs.red.siren_rest to remove them"), "\(shown)")
        // The way out the message names works: the two keys go, the default applies, commit takes it.
        harness.type("unset outputs.red.siren_max_on\r")
        #expect(harness.answer("unset outputs.red.siren_rest").contains("Staged: outputs.red.siren, outputs.red.siren_max_on, outputs.red.siren_rest."))
        #expect(harness.type("commit\r").contains("Saved"))
        let text = try String(contentsOfFile: harness.path, encoding: .utf8)
        #expect(!text.contains("siren_max_on = \"5m\"") && !text.contains("siren_rest = \"1m\""))
        #expect(text.contains("lamp = \"red\""), "the keys around them stay")
        #expect(harness.type("unset outputs.red.siren_rest\r").contains("Refused: outputs.red.siren_rest is not written in the file"))
    }

    @Test func everyCommandRefusesWordsItDoesNotTake() throws {
        let harness = try SessionHarness()
        harness.logIn()
        for command in ["status", "diff", "commit", "ack", "outbox", "history", "sensors", "logout"] {
            #expect(harness.type("\(command) now\r").contains("Refused: \(command) takes nothing after it: write \(command)"), "\(command)")
        }
        #expect(harness.type("log 5 6\r").contains("Refused: write log [N] (help log explains)"))
        #expect(harness.type("alarm\r").contains("Refused: write alarm clear"))
        #expect(!harness.session.isClosed)
    }

    @Test func timeSetTakesALocalTimeWithoutAnOffset() throws {
        let harness = try SessionHarness()
        harness.logIn()
        #expect(harness.type("time set 2026-11-22 17:40\r").contains("Refused: the simulated board runs the scenario's clock"))
        #expect(harness.type("time set 2026-11-22T17:40:30Z\r").contains("Refused: the simulated board"))
        let sets = harness.backend.recorded.withLock { $0.clockSets }
        #expect(sets == [ISO8601.parse("2026-11-22T17:40:00+08:00"), ISO8601.parse("2026-11-22T17:40:30Z")])
        #expect(harness.answer("time set 2026-11-22 25:00").contains("write a date and time like 2026-11-22 17:40"))
    }

    @Test func aTestSMSSaysWhetherItWasSent() throws {
        let harness = try SessionHarness()
        harness.logIn()
        #expect(harness.type("test sms 王建国\r").contains("waiting for the modem"))
        #expect(harness.wait(milliseconds: ShellSession.smsCheckMilliseconds).contains("Test SMS to 王建国: sent."))
    }

    @Test func aLineCutAtItsLimitIsNotRun() throws {
        let harness = try SessionHarness()
        harness.logIn()
        let shown = harness.type("reboot " + String(repeating: "x", count: LineEditor.lineScalarsMax) + "\r")
        #expect(shown.contains("(the line is full: 240 characters at most"))
        #expect(shown.contains("Refused: the line was longer than 240 characters and was cut; nothing was run."))
        #expect(harness.backend.recorded.withLock { $0.reboots } == 0)
    }
}
