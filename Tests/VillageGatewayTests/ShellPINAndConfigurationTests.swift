// The shell's PIN (hash, lock), the [shell] table, and the staged configuration edits.
import Foundation
import Synchronization
import Testing
@testable import VillageGateway

@Suite struct ShellPINTests {
    /// Tests hash with few rounds so they stay fast; the stored form carries the rounds.
    static let testRounds = 1_000

    @Test func aPINMatchesItsHashAndNothingElse() throws {
        let hash = PINHash.make(pin: "2468", rounds: Self.testRounds)
        #expect(hash.matches(pin: "2468"))
        #expect(!hash.matches(pin: "2469"))
        #expect(!hash.matches(pin: ""))
        let parsed = try #require(PINHash.parse(hash.description))
        #expect(parsed == hash && parsed.matches(pin: "2468"))
        #expect(!hash.description.contains("2468"))
        #expect(PINHash.make(pin: "2468", rounds: Self.testRounds).salt != hash.salt, "each hash has its own salt")
    }

    @Test func theHashIsPBKDF2SHA256AsPublished() {
        // The widely published PBKDF2-HMAC-SHA256 vector: P "password", S "salt", c 4096, 32 bytes.
        let expected = "c5e478d59288c841aa530db6845c4c8d962893a001ce4e11a4963873aa98134a"
        var bytes: [UInt8] = []
        var index = expected.startIndex
        while index < expected.endIndex {
            let next = expected.index(index, offsetBy: 2)
            bytes.append(UInt8(expected[index..<next], radix: 16)!)
            index = next
        }
        let hash = PINHash(rounds: 4_096, salt: Array("salt".utf8), hash: bytes)
        #expect(hash.matches(pin: "password"))
        #expect(!hash.matches(pin: "passwore"))
    }

    @Test func malformedStoredHashesAreRefused() {
        for text in ["2468", "pbkdf2-sha256$10$00112233445566$" + String(repeating: "00", count: 32), "pbkdf2-sha256$1000$zz$00",
                     "sha1$1000$0011223344556677$" + String(repeating: "00", count: 32)] {
            #expect(PINHash.parse(text) == nil, "\(text)")
        }
    }

    @Test func aPINIsFourToTwelveDigits() {
        #expect(PINHash.problem(withPIN: "2468") == nil)
        #expect(PINHash.problem(withPIN: "123") != nil)
        #expect(PINHash.problem(withPIN: "12a4") != nil)
        #expect(PINHash.problem(withPIN: String(repeating: "1", count: 13)) != nil)
    }

    @Test func fiveWrongPINsLockForAGrowingDelayAndARightOneResets() {
        let guardian = LoginGuard()
        var now: Int64 = 1_000_000
        for _ in 1..<LoginGuard.wrongPINsBeforeLock { #expect(guardian.recordWrongPIN(now: now) == 0) }
        #expect(guardian.recordWrongPIN(now: now) == LoginGuard.lockFirstMilliseconds)
        #expect(guardian.lockRemainingMilliseconds(now: now + 1_000) == LoginGuard.lockFirstMilliseconds - 1_000)
        now += LoginGuard.lockFirstMilliseconds
        #expect(guardian.lockRemainingMilliseconds(now: now) == 0)
        // After a lock the technician has every try again: one typo does not lock at once.
        for _ in 1..<LoginGuard.wrongPINsBeforeLock { #expect(guardian.recordWrongPIN(now: now) == 0, "a full set of tries after a lock") }
        #expect(guardian.recordWrongPIN(now: now) == 2 * LoginGuard.lockFirstMilliseconds, "the next lock is twice as long")
        for _ in 0..<100 {
            now += guardian.lockRemainingMilliseconds(now: now)
            _ = guardian.recordWrongPIN(now: now)
        }
        #expect(guardian.lockRemainingMilliseconds(now: now) == LoginGuard.lockMillisecondsMax, "never longer than the maximum")
        guardian.recordRightPIN(now: now)
        #expect(guardian.lockRemainingMilliseconds(now: now) == 0)
        #expect(guardian.recordWrongPIN(now: now) == 0)
    }

    @Test func anHourWithoutAWrongPINForgetsTheEarlierOnes() {
        let guardian = LoginGuard()
        var now: Int64 = 5_000_000
        for _ in 1...LoginGuard.wrongPINsBeforeLock { _ = guardian.recordWrongPIN(now: now) }
        for _ in 1..<LoginGuard.wrongPINsBeforeLock { #expect(guardian.recordWrongPIN(now: now + LoginGuard.lockFirstMilliseconds) == 0) }
        now += LoginGuard.lockFirstMilliseconds + LoginGuard.quietResetMilliseconds
        for _ in 1..<LoginGuard.wrongPINsBeforeLock { #expect(guardian.recordWrongPIN(now: now) == 0) }
        #expect(guardian.recordWrongPIN(now: now) == LoginGuard.lockFirstMilliseconds, "a fresh start: the first lock again")
    }

    @Test func theCountAndTheLockSurviveARestartOfTheBox() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("vg-login-\(UUID().uuidString.prefix(8))").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let wall = Mutex<Int64>(1_800_000_000_000)
        let first = LoginGuard(stateDirectory: directory, nowMilliseconds: 1_000, wallMilliseconds: { wall.withLock { $0 } })
        for _ in 1...LoginGuard.wrongPINsBeforeLock { _ = first.recordWrongPIN(now: 1_000) }
        #expect(first.lockRemainingMilliseconds(now: 1_000) == LoginGuard.lockFirstMilliseconds)
        // The box restarts 10 s later: its monotonic clock starts again near zero.
        wall.withLock { $0 += 10_000 }
        let second = LoginGuard(stateDirectory: directory, nowMilliseconds: 50, wallMilliseconds: { wall.withLock { $0 } })
        #expect(second.lockRemainingMilliseconds(now: 50) == LoginGuard.lockFirstMilliseconds - 10_000)
        for _ in 1..<LoginGuard.wrongPINsBeforeLock { #expect(second.recordWrongPIN(now: 30_000) == 0) }
        #expect(second.recordWrongPIN(now: 30_000) == 2 * LoginGuard.lockFirstMilliseconds, "the lock count came across too")
        // A clock set far back never locks for longer than the policy's maximum.
        wall.withLock { $0 -= 10 * LoginGuard.lockMillisecondsMax }
        let third = LoginGuard(stateDirectory: directory, nowMilliseconds: 0, wallMilliseconds: { wall.withLock { $0 } })
        #expect(third.lockRemainingMilliseconds(now: 0) <= LoginGuard.lockMillisecondsMax)
        // A damaged file is an empty count, never a refusal to start.
        try "{not json".write(toFile: directory + "/" + LoginGuard.stateFileName, atomically: true, encoding: .utf8)
        #expect(LoginGuard(stateDirectory: directory, nowMilliseconds: 0).lockRemainingMilliseconds(now: 0) == 0)
    }
}

@Suite struct ShellConfigurationTests {
    static let path = "/etc/village-gateway/gateway.toml"

    static func withShell(_ extra: String) -> String { ConfigurationFixtures.minimal + "\n[shell]\n" + extra }

    @Test func theShellTableIsReadWithDefaultsAndRoundTrips() throws {
        let hash = PINHash.make(pin: "2468", rounds: ShellPINTests.testRounds)
        let configuration = try ConfigurationLoader.parse(
            text: Self.withShell("pin_hash = \"\(hash)\"\nidle_logout = \"5m\"\nconsole = false\n"), file: Self.path)
        #expect(configuration.shell.pinHash == hash)
        #expect(configuration.shell.idleLogoutMilliseconds == 300_000)
        #expect(!configuration.shell.console)
        let rendered = EffectiveConfiguration.render(configuration)
        let reparsed = try ConfigurationLoader.parse(text: rendered, file: "effective")
        #expect(reparsed == configuration, "check-config's output reads back as the same configuration, PIN hash included")
        let defaults = try ConfigurationLoader.parse(text: ConfigurationFixtures.minimal, file: Self.path)
        #expect(defaults.shell == ShellConfiguration())
        #expect(EffectiveConfiguration.render(defaults).contains("# pin_hash not set"))
        #expect(!ShellSession.shownConfiguration(configuration).contains(hash.description), "the shell does not print the hash")
    }

    @Test func aPINInClearIsRefusedWithoutBeingEchoed() {
        do {
            _ = try ConfigurationLoader.parse(text: Self.withShell("pin_hash = \"246813\"\nidle_logout = \"5s\"\n"), file: Self.path)
            Issue.record("accepted a PIN in clear")
        } catch {
            let text = error.description
            #expect(text.contains("[shell] pin_hash: must be the hash `village-gateway set-pin` writes"))
            #expect(!text.contains("246813"))
            #expect(text.contains("[shell] idle_logout = \"5s\": must be from 1m to 24h"))
        }
    }

    @Test func restartIsNeededForWiringAndIdentityNotForThresholds() throws {
        let old = try ConfigurationLoader.load(path: ConfigurationFixtures.examplePath)
        var new = old
        new.engine.rules[0].thresholds = old.engine.rules[1].thresholds
        #expect(ConfigurationChange.restartReasons(from: old, to: new).isEmpty)
        new.hardware.buses["rs485"]?.baudRate = 19_200
        new.engine.station.name = "新村"
        #expect(ConfigurationChange.restartReasons(from: old, to: new) == ["[station] (identity and time zone)", "[buses] (bus wiring)"])
        // The county link's tasks are started with the box: a new push URL waits for a restart.
        var county = old
        county.county.summaryEveryMilliseconds = 2 * 3_600_000
        #expect(ConfigurationChange.restartReasons(from: old, to: county) == ["[county] (the outbox, summaries, pull API and push start with the box)"])
    }
}

@Suite struct ConfigurationEditorTests {
    static let file = "/etc/village-gateway/gateway.toml"

    static func example() throws -> String { try String(contentsOfFile: ConfigurationFixtures.examplePath, encoding: .utf8) }

    @Test func aThresholdIsChangedInPlaceKeepingItsComment() throws {
        var editor = ConfigurationEditor(file: Self.file, text: try Self.example())
        try editor.set("rule.river-level.blue", to: "2.0")
        try editor.set("rule.slope-rate.red", to: "25")
        let configuration = try editor.check().get()
        #expect(configuration.engine.rules.first { $0.id == "river-level" }?.thresholds.defined.first?.1 == 2.0)
        #expect(editor.stagedText.contains("red = 25                     # above 28.6 mm/day"))
        let diff = editor.diff()
        let blue = ConfigurationFixtures.riverLevelBlueLine
        let red = ConfigurationFixtures.exampleLineNumber(of: "red = 30", after: "id = \"slope-rate\"")
        #expect(diff == ["- \(blue) blue = 2.5", "+ \(blue) blue = 2.0", "- \(red) red = 30                     # above 28.6 mm/day, where the tangent angle reaches 89° at this",
                         "+ \(red) red = 25                     # above 28.6 mm/day, where the tangent angle reaches 89° at this"])
        editor.rollback()
        #expect(!editor.hasChanges && editor.diff().isEmpty)
    }

    @Test func textNeedsNoQuotesAndAPhoneStaysText() throws {
        var editor = ConfigurationEditor(file: Self.file, text: try Self.example())
        try editor.set("logic.clear_after", to: "45m")
        try editor.set("contact.王建国.phone", to: "+8613900000009")
        try editor.set("station.name", to: "黄坑 新村")
        let configuration = try editor.check().get()
        #expect(configuration.engine.logic.clearAfterMilliseconds == 45 * 60_000)
        #expect(configuration.engine.contacts.first?.phone == "+8613900000009")
        #expect(configuration.engine.station.name == "黄坑 新村")
    }

    @Test func aMissingKeyAndAMissingTableAreAdded() throws {
        var editor = ConfigurationEditor(file: Self.file, text: ConfigurationFixtures.minimal)
        try editor.set("rule.rain-1h.orange", to: "60")
        try editor.set("shell.idle_logout", to: "5m")
        let configuration = try editor.check().get()
        #expect(configuration.shell.idleLogoutMilliseconds == 300_000)
        #expect(editor.stagedText.hasSuffix("[shell]\nidle_logout = \"5m\"\n"))
        #expect(configuration.engine.rules[0].thresholds.defined.count == 3)
    }

    @Test func aWrongValueIsStagedWithCheckConfigsOwnMessage() throws {
        var editor = ConfigurationEditor(file: Self.file, text: ConfigurationFixtures.minimal)
        try editor.set("rule.rain-1h.yellow", to: "30")
        let problems = try #require(editor.check().failureValue)
        let expected = try #require(ConfigurationLoader.parseFailure(editor.stagedText, file: Self.file))
        #expect(problems.description == expected.description)
        #expect(problems.description.contains("[[rule]] \"rain-1h\" yellow = 30"))
    }

    @Test func refusalsSayWhyAndWhatIsAccepted() throws {
        var editor = ConfigurationEditor(file: Self.file, text: try Self.example())
        #expect(throws: ConfigurationEditRefusal.self) { try editor.set("rule.no-such.red", to: "1") }
        do {
            try editor.set("rule.no-such.red", to: "1")
        } catch {
            #expect(error.description.hasPrefix("no [[rule]] with id no-such; there are rain-1h, rain-3h"))
        }
        do {
            try editor.set("stations.name", to: "x")
        } catch {
            #expect(error.description.contains("did you mean station?"))
        }
        do {
            try editor.set("shell.pin_hash", to: "1234")
        } catch {
            #expect(error.description.contains("village-gateway set-pin"))
        }
        #expect(!editor.hasChanges)
    }

    @Test func aListValueIsReplacedWhole() throws {
        var editor = ConfigurationEditor(file: Self.file, text: try Self.example())
        try editor.set("logic.latch", to: "[\"orange\", \"red\"]")
        #expect(try editor.check().get().engine.logic.latchedLevels == [.orange, .red])
    }
}

extension Result {
    var failureValue: Failure? {
        if case .failure(let error) = self { return error }
        return nil
    }
}

extension ConfigurationLoader {
    /// What check-config says about `text`, for comparing messages.
    static func parseFailure(_ text: String, file: String) -> ConfigurationError? {
        do {
            _ = try parse(text: text, file: file)
            return nil
        } catch {
            return error
        }
    }
}
