// The technician shell end to end: the daemon on the simulated board, `village-gateway shell`
// in a real pseudo-terminal, typed into key by key as a person would (typos, backspaces, a
// Ctrl-C mid-line, wrong PINs), a committed change applied by the running box, and a kill -9
// between `set` and `commit` that leaves the file as it was.
import Foundation
import Testing
import WarningLogic
@testable import VillageGateway

/// A pseudo-terminal whose other side is given to a process as its terminal.
final class PseudoTerminal {
    /// Every wait for the box's answer is bounded: a hung daemon fails the test, never hangs it.
    static let answerWaitMillisecondsMax: Int32 = 20_000
    let master: Int32
    let slavePath: String
    private(set) var transcript: [UInt8] = []
    private var consumed = 0

    /// Linux's asm-generic ioctls (the same on x86-64 and ARM): unlock the slave, and its number
    /// (what posix_openpt's unlockpt and ptsname do; Swift's Glibc module does not export those).
    static let unlockRequest: UInt = 0x4004_5431  // TIOCSPTLCK
    static let numberRequest: UInt = 0x8004_5430  // TIOCGPTN

    init() throws {
        master = open("/dev/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC)
        var unlock: Int32 = 0
        var number: Int32 = 0
        guard master >= 0, ioctl(master, Self.unlockRequest, &unlock) == 0, ioctl(master, Self.numberRequest, &number) == 0 else {
            throw RuntimeError(description: "cannot open a pseudo-terminal: \(String(cString: strerror(errno)))")
        }
        slavePath = "/dev/pts/\(number)"
    }

    deinit { close(master) }

    var text: String { String(decoding: transcript, as: UTF8.self) }

    static func deadline() -> Date { Date().addingTimeInterval(Double(answerWaitMillisecondsMax) / 1_000) }

    /// Reads what arrived, waiting up to `milliseconds` for something; false when nothing came.
    /// Once the other side is closed (the shell exited) poll returns at once: then it pauses the
    /// same time, so callers' loops keep their time bounds instead of spinning.
    @discardableResult
    func pump(milliseconds: Int32) -> Bool {
        var descriptor = pollfd(fd: master, events: Int16(POLLIN), revents: 0)
        guard poll(&descriptor, 1, milliseconds) > 0 else { return false }
        var buffer = [UInt8](repeating: 0, count: 4_096)
        let count = buffer.withUnsafeMutableBytes { read(master, $0.baseAddress!, $0.count) }
        guard count > 0 else {
            usleep(UInt32(milliseconds) * 1_000)
            return false
        }
        transcript += buffer[..<count]
        return true
    }

    /// Waits until `text` has appeared since the last `expect`; returns what came meanwhile.
    @discardableResult
    func expect(_ text: String, sourceLocation: SourceLocation = #_sourceLocation) -> String {
        let needle = Array(text.utf8)
        let deadline = Self.deadline()
        while Date() < deadline {
            let fresh = Array(transcript[consumed...])
            if let range = fresh.firstRange(of: needle) {
                consumed += range.upperBound
                return String(decoding: fresh[..<range.upperBound], as: UTF8.self)
            }
            pump(milliseconds: 100)
        }
        Issue.record("never saw \(text.debugDescription); the screen ends with: \(String(decoding: transcript.suffix(600), as: UTF8.self))",
                     sourceLocation: sourceLocation)
        return ""
    }

    /// Types one key: its bytes, then waits for the box to echo something back.
    func key(_ bytes: [UInt8]) {
        let before = transcript.count
        _ = bytes.withUnsafeBytes { write(master, $0.baseAddress!, bytes.count) }
        let deadline = Self.deadline()
        while transcript.count == before, Date() < deadline { pump(milliseconds: 50) }
    }

    /// Types `text` character by character (a Chinese character is its UTF-8 bytes at once).
    func type(_ text: String) {
        for character in text { key(Array(String(character).utf8)) }
    }

    static let backspace: [UInt8] = [0x7F]
    static let controlH: [UInt8] = [0x08]
    static let controlC: [UInt8] = [0x03]
    static let enter: [UInt8] = [0x0D]
}

@Suite(.serialized) struct ShellPseudoTerminalTests {
    static let pin = "2468"

    struct Box {
        let directory: String
        var config: String { directory + "/gateway.toml" }
        var state: String { directory + "/state" }
        var scenario: String { directory + "/scenario.csv" }
    }

    /// The example configuration with a PIN (hashed with few rounds, for speed), a river at 2.0 m:
    /// below the example's blue (2.5 m).
    static func makeBox() throws -> Box {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("vg-pty-\(UUID().uuidString.prefix(8))").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let box = Box(directory: directory)
        var text = try String(contentsOfFile: ConfigurationFixtures.examplePath, encoding: .utf8)
        text += "\n[shell]\npin_hash = \"\(PINHash.make(pin: pin, rounds: ShellPINTests.testRounds))\"\n"
        try text.write(toFile: box.config, atomically: true, encoding: .utf8)
        // An hour of scenario at speed 1: the daemon runs for the whole test.
        try "time,sensor,value\n2020-07-01T10:00:00+08:00,river1,2.0\n2020-07-01T11:00:00+08:00,river1,2.0\n"
            .write(toFile: box.scenario, atomically: true, encoding: .utf8)
        return box
    }

    /// The daemon, without systemd's variables: its `reboot` must refuse here.
    static func startDaemon(_ box: Box) throws -> Process {
        let process = Process()
        process.executableURL = GatewayBinary.url
        process.arguments = ["run", "--config", box.config, "--board", "sim", "--scenario", box.scenario, "--speed", "1", "--state-dir", box.state]
        var environment = ProcessInfo.processInfo.environment
        for name in ["INVOCATION_ID", "NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID"] { environment[name] = nil }
        process.environment = environment
        process.standardOutput = FileHandle.nullDevice
        _ = FileManager.default.createFile(atPath: box.directory + "/daemon.log", contents: nil)
        process.standardError = FileHandle(forWritingAtPath: box.directory + "/daemon.log")
        try process.run()
        // Ready once the shell socket is there (bounded: a daemon that never starts fails the test).
        for _ in 0..<300 where access(box.state + "/" + ShellServer.socketFileName, F_OK) != 0 && process.isRunning { usleep(50_000) }
        return process
    }

    /// `village-gateway shell` with the pseudo-terminal as its terminal, TERM=dumb.
    static func startShell(_ box: Box, terminal: PseudoTerminal) throws -> Process {
        let process = Process()
        process.executableURL = GatewayBinary.url
        process.arguments = ["shell", "--state-dir", box.state]
        process.environment = ProcessInfo.processInfo.environment.merging(["TERM": "dumb"]) { $1 }
        // O_NOCTTY: the terminal is the shell's, never the test runner's controlling terminal.
        let descriptor = open(terminal.slavePath, O_RDWR | O_NOCTTY | O_CLOEXEC)
        guard descriptor >= 0 else { throw RuntimeError(description: "cannot open \(terminal.slavePath)") }
        let slave = FileHandle(fileDescriptor: descriptor, closeOnDealloc: true)
        process.standardInput = slave
        process.standardOutput = slave
        process.standardError = slave
        try process.run()
        try slave.close()
        return process
    }

    static func waitForExit(_ process: Process, terminal: PseudoTerminal) -> Bool {
        let deadline = PseudoTerminal.deadline()
        while process.isRunning, Date() < deadline { terminal.pump(milliseconds: 50) }
        return !process.isRunning
    }

    @Test func aTechnicianTypesCommitsAChangeTheBoxAppliesAndAPowerCutLosesNothing() throws {
        let box = try Self.makeBox()
        defer { try? FileManager.default.removeItem(atPath: box.directory) }
        let daemon = try Self.startDaemon(box)
        defer { if daemon.isRunning { kill(daemon.processIdentifier, SIGKILL) } }
        #expect(daemon.isRunning, "\((try? String(contentsOfFile: box.directory + "/daemon.log", encoding: .utf8)) ?? "")")

        let terminal = try PseudoTerminal()
        let shell = try Self.startShell(box, terminal: terminal)
        defer { if shell.isRunning { shell.terminate() } }
        terminal.expect("黄坑村 (0011223344): technician shell on socket")
        var raw = termios()
        #expect(tcgetattr(terminal.master, &raw) == 0)
        #expect(raw.c_lflag & tcflag_t(ICANON | ECHO) == 0, "raw mode: every key goes to the box as typed")
        terminal.expect("PIN: ")
        // A typo in the PIN, corrected with backspace.
        terminal.type("249")
        terminal.key(PseudoTerminal.backspace)
        terminal.type("68")
        terminal.key(PseudoTerminal.enter)
        terminal.expect("Logged in. Level NONE")
        terminal.expect("黄坑村> ")

        // "stats", two backspaces (both kinds), "tus": the box reads "status".
        terminal.type("stats")
        terminal.key(PseudoTerminal.backspace)
        terminal.key(PseudoTerminal.controlH)
        terminal.type("tus")
        terminal.key(PseudoTerminal.enter)
        terminal.expect("Level     NONE 无预警")
        terminal.expect("黄坑村> ")

        // Ctrl-C in the middle of a line abandons it: nothing is rebooted, a new prompt comes.
        terminal.type("reboot n")
        terminal.key(PseudoTerminal.controlC)
        terminal.expect("^C\r\n黄坑村> ")
        terminal.type("reboot now")
        terminal.key(PseudoTerminal.enter)
        terminal.expect("Refused: this village-gateway was not started by systemd")

        // The river stands at 2.0 m; blue is 2.5 m. Lower blue to 1.5 m and commit.
        terminal.type("set rule.river-level.blue 1.5")
        terminal.key(PseudoTerminal.enter)
        terminal.expect("Staged rule.river-level.blue = 1.5")
        terminal.type("diff")
        terminal.key(PseudoTerminal.enter)
        terminal.expect("+ \(ConfigurationFixtures.riverLevelBlueLine) blue = 1.5")
        terminal.type("commit")
        terminal.key(PseudoTerminal.enter)
        terminal.expect("Applied: the box runs the new configuration now.")
        terminal.expect("黄坑村> ")
        terminal.type("status")
        terminal.key(PseudoTerminal.enter)
        terminal.expect("Level     BLUE 蓝色预警 (causes: river-level)")
        terminal.expect("黄坑村> ")
        var outputs = try String(contentsOfFile: box.state + "/" + RecordingOutputs.fileName, encoding: .utf8)
        #expect(outputs.contains("\"type\":\"level\",\"from\":\"none\",\"to\":\"blue\""), "the engine decided with the new threshold")
        terminal.type("log 20")
        terminal.key(PseudoTerminal.enter)
        terminal.expect("notice configuration applied")

        // A real (blue) alarm is on: a test needs --force, and the lamp goes back after it.
        terminal.type("test siren 1")
        terminal.key(PseudoTerminal.enter)
        terminal.expect("Refused: a real blue alarm is on")
        terminal.type("test lamp red 1 --force")
        terminal.key(PseudoTerminal.enter)
        terminal.expect("Testing: red lamp on for 1 s")
        terminal.expect("Test over: the output is back to its safe state.")
        outputs = try String(contentsOfFile: box.state + "/" + RecordingOutputs.fileName, encoding: .utf8)
        #expect(outputs.contains("\"type\":\"test\",\"output\":\"lamp\",\"lamp\":\"red\""))
        #expect(outputs.contains("\"type\":\"test_end\""))
        #expect(try ConfigurationLoader.load(path: box.config).engine.rules.first { $0.id == "river-level" }?.thresholds.defined.first?.1 == 1.5)

        // Staged but not committed, then the power goes: the file is byte for byte as committed.
        let committed = try Data(contentsOf: URL(fileURLWithPath: box.config))
        terminal.type("set rule.river-level.yellow 1.8")
        terminal.key(PseudoTerminal.enter)
        terminal.expect("Staged rule.river-level.yellow = 1.8")
        kill(daemon.processIdentifier, SIGKILL)
        daemon.waitUntilExit()
        #expect(Self.waitForExit(shell, terminal: terminal), "the shell ends when the box goes away")
        var settings = termios()
        #expect(tcgetattr(terminal.master, &settings) == 0)
        #expect(settings.c_lflag & tcflag_t(ICANON) != 0 && settings.c_lflag & tcflag_t(ECHO) != 0, "the terminal is back in its normal mode")
        #expect(try Data(contentsOf: URL(fileURLWithPath: box.config)) == committed)
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: box.directory).filter { $0.contains(".tmp-") }
        #expect(leftovers.isEmpty)

        // Power back: the box runs the committed configuration and is blue again.
        let restarted = try Self.startDaemon(box)
        defer { if restarted.isRunning { kill(restarted.processIdentifier, SIGKILL) } }
        var level = ""
        for _ in 0..<100 where level != "blue" {
            let outcome = try GatewayBinary.run(["status", "--state-dir", box.state, "--json"])
            let object = try? JSONSerialization.jsonObject(with: Data(outcome.standardOutput.utf8)) as? [String: Any]
            level = object?["level"] as? String ?? ""
            if level != "blue" { usleep(100_000) }
        }
        #expect(level == "blue")
        kill(restarted.processIdentifier, SIGTERM)
        restarted.waitUntilExit()

        // What the technician saw: no escape sequence on a dumb terminal, nothing past 80 columns.
        #expect(!terminal.transcript.contains(0x1B))
        for line in terminal.text.components(separatedBy: "\r\n") {
            #expect(line.terminalColumns <= ShellSession.columns, "\(line)")
        }
    }

    @Test func fiveWrongPINsLockTheShellButLeavingWorksAndTheLockSurvivesARestart() throws {
        let box = try Self.makeBox()
        defer { try? FileManager.default.removeItem(atPath: box.directory) }
        let daemon = try Self.startDaemon(box)
        defer { if daemon.isRunning { kill(daemon.processIdentifier, SIGKILL) } }
        let terminal = try PseudoTerminal()
        let shell = try Self.startShell(box, terminal: terminal)
        defer { if shell.isRunning { shell.terminate() } }
        terminal.expect("PIN: ")
        for _ in 1..<LoginGuard.wrongPINsBeforeLock {
            terminal.type("1357")
            terminal.key(PseudoTerminal.enter)
            terminal.expect("Wrong PIN.")
        }
        terminal.type("1357")
        terminal.key(PseudoTerminal.enter)
        terminal.expect("Wrong PIN. The shell is locked for 30s after wrong PINs")
        terminal.expect("Ctrl-D or Ctrl-C leaves")
        // Keys while locked are ignored: the remaining time is not printed again and again.
        let before = terminal.transcript.count
        _ = Array((Self.pin + "\r").utf8).withUnsafeBytes { write(terminal.master, $0.baseAddress!, $0.count) }
        #expect(!terminal.pump(milliseconds: 300), "nothing more is printed")
        #expect(terminal.transcript.count == before)
        // Ctrl-D leaves, even while locked.
        terminal.key([0x04])
        terminal.expect("Logged out.")
        #expect(Self.waitForExit(shell, terminal: terminal), "the client ends")
        terminal.expect("Connection to the box closed.")

        // The box restarts: the lock is still there.
        kill(daemon.processIdentifier, SIGTERM)
        daemon.waitUntilExit()
        let restarted = try Self.startDaemon(box)
        defer { if restarted.isRunning { kill(restarted.processIdentifier, SIGKILL) } }
        let again = try PseudoTerminal()
        let second = try Self.startShell(box, terminal: again)
        defer { if second.isRunning { second.terminate() } }
        again.expect("The shell is locked for")
        // Ctrl-C leaves too, and Ctrl-] leaves from the client whatever the box does.
        again.key(PseudoTerminal.controlC)
        again.expect("Logged out.")
        #expect(Self.waitForExit(second, terminal: again))
        let third = try PseudoTerminal()
        let client = try Self.startShell(box, terminal: third)
        defer { if client.isRunning { client.terminate() } }
        third.expect("The shell is locked for")
        third.key([0x1D])
        third.expect("Left the shell (Ctrl-]).")
        #expect(Self.waitForExit(client, terminal: third))

        // When the box stops, an open shell says so before it closes.
        let fourth = try PseudoTerminal()
        let last = try Self.startShell(box, terminal: fourth)
        defer { if last.isRunning { last.terminate() } }
        fourth.expect("The shell is locked for")
        kill(restarted.processIdentifier, SIGTERM)
        restarted.waitUntilExit()
        #expect(restarted.terminationStatus == 0)
        fourth.expect("The box is stopping")
        #expect(Self.waitForExit(last, terminal: fourth))
        fourth.expect("Connection to the box closed.")
    }
}


@Suite struct ShellCommandLineTests {
    /// Runs the binary with `input` on its standard input (not a terminal: set-pin reads one line).
    static func run(_ arguments: [String], input: String) throws -> GatewayBinary.Outcome {
        let process = Process()
        process.executableURL = GatewayBinary.url
        process.arguments = arguments
        let stdin = Pipe()
        let stdout = Pipe()
        let stderr = Pipe()
        process.standardInput = stdin
        process.standardOutput = stdout
        process.standardError = stderr
        try process.run()
        stdin.fileHandleForWriting.write(Data(input.utf8))
        try stdin.fileHandleForWriting.close()
        let output = stdout.fileHandleForReading.readDataToEndOfFile()
        let error = stderr.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return GatewayBinary.Outcome(
            status: process.terminationStatus, standardOutput: String(decoding: output, as: UTF8.self),
            standardError: String(decoding: error, as: UTF8.self))
    }

    @Test func setPinStoresOnlyTheHashAndKeepsTheRestOfTheFile() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("vg-pin-\(UUID().uuidString.prefix(8)).toml").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        let original = try String(contentsOfFile: ConfigurationFixtures.examplePath, encoding: .utf8)
        try original.write(toFile: path, atomically: true, encoding: .utf8)
        let refused = try Self.run(["set-pin", "--config", path], input: "12\n")
        #expect(refused.status == 1 && refused.standardError.contains("not set: a PIN is 4 to 12 digits"))
        #expect(try String(contentsOfFile: path, encoding: .utf8) == original)
        let outcome = try Self.run(["set-pin", "--config", path], input: "913572\n")
        #expect(outcome.status == 0, "\(outcome.standardError)")
        let text = try String(contentsOfFile: path, encoding: .utf8)
        #expect(text.hasPrefix(original), "the file is kept as written, comments and all")
        #expect(!text.contains("913572"))
        let hash = try #require(try ConfigurationLoader.load(path: path).shell.pinHash)
        #expect(hash.rounds == PINHash.roundsDefault && hash.matches(pin: "913572"))
        let check = try GatewayBinary.run(["check-config", "-q", path])
        #expect(check.status == 0)
    }

    @Test func shellWithoutADaemonSaysHowToStartOne() throws {
        let outcome = try GatewayBinary.run(["shell", "--state-dir", "/tmp/vg-no-such-state-\(getpid())"])
        #expect(outcome.status == 1)
        #expect(outcome.standardError.contains("no village-gateway is running with state directory"))
    }
}
