// The real binary with --board sim, watched from the outside: outputs.jsonl, the status socket,
// systemd's notify socket, signals, and SIGKILL at random moments.
import Foundation
import Testing
@testable import VillageGateway

/// A daemon started as a process; every wait on it is bounded.
final class DaemonProcess {
    static let exitWaitSecondsMax = 300.0
    let process = Process()
    let stateDirectory: String
    let standardError = Pipe()

    /// `descriptorLimit`: run under `ulimit -n` of this (through prlimit), as a small board would.
    init(_ arguments: [String], stateDirectory: String, environment: [String: String] = [:], descriptorLimit: Int? = nil) throws {
        self.stateDirectory = stateDirectory
        if let descriptorLimit {
            process.executableURL = URL(fileURLWithPath: "/usr/bin/prlimit")
            process.arguments = ["--nofile=\(descriptorLimit):\(descriptorLimit)", GatewayBinary.url.path] + arguments + ["--state-dir", stateDirectory]
        } else {
            process.executableURL = GatewayBinary.url
            process.arguments = arguments + ["--state-dir", stateDirectory]
        }
        process.currentDirectoryURL = GatewayBinary.repositoryRoot
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        process.standardOutput = FileHandle.nullDevice
        // The log goes to a file, not a pipe nobody reads: a long storm must not fill the pipe.
        let log = "\(stateDirectory).log"
        _ = FileManager.default.createFile(atPath: log, contents: nil)
        process.standardError = FileHandle(forWritingAtPath: log)
        try process.run()
    }

    /// The exit status, or nil when it did not end in time (it is then killed).
    func waitForExit(seconds: Double = exitWaitSecondsMax) -> Int32? {
        let deadline = Date().addingTimeInterval(seconds)
        while process.isRunning && Date() < deadline { usleep(20_000) }
        if process.isRunning {
            process.terminate()
            return nil
        }
        return process.terminationStatus
    }

    var log: String { (try? String(contentsOfFile: "\(stateDirectory).log", encoding: .utf8)) ?? "" }

    func records() -> [[String: Any]] {
        guard let text = try? String(contentsOfFile: "\(stateDirectory)/\(RecordingOutputs.fileName)", encoding: .utf8) else { return [] }
        return text.split(separator: "\n").compactMap { line in
            (try? JSONSerialization.jsonObject(with: Data(line.utf8))) as? [String: Any]
        }
    }

    static func temporaryStateDirectory() -> String {
        FileManager.default.temporaryDirectory.appendingPathComponent("vg-run-\(UUID().uuidString.prefix(8))").path
    }
}

@Suite(.serialized) struct RuntimeEndToEndTests {
    /// A record's time to the minute ("2020-08-04T02:50"), "start" for records without one.
    static func minute(_ record: [String: Any]) -> String {
        (record["time"] as? String).map { String($0.prefix(16)) } ?? "start"
    }

    static func records(_ records: [[String: Any]], type: String) -> [[String: Any]] {
        records.filter { $0["type"] as? String == type }
    }

    @Test func theTyphoonSoundsLightsSpeaksTextsAndClears() throws {
        let state = DaemonProcess.temporaryStateDirectory()
        defer { try? FileManager.default.removeItem(atPath: state); try? FileManager.default.removeItem(atPath: state + ".log") }
        let daemon = try DaemonProcess([
            "run", "--config", "config/example.toml", "--board", "sim", "--scenario", "scenarios/typhoon-hagupit.csv",
            "--speed", "17280", "--exit-after-scenario",
        ], stateDirectory: state)
        #expect(daemon.waitForExit() == 0, "\(daemon.log.suffix(2000))")
        let all = daemon.records()

        // The siren: intermittent at yellow (02:50), faster at orange, continuous at red, off when it
        // clears. The rain comes as reed-switch closures on the simulated GPIO line, one every
        // 60 ms of scenario time, so a level changes at the tip that crosses it, seconds into the
        // row's minute: compared to the minute.
        let sirens = Self.records(all, type: "siren").map { "\(Self.minute($0)) \($0["pattern"] as! String)" }
        #expect(sirens == [
            "2020-08-03T12:00 off",
            "2020-08-04T02:00 off",
            "2020-08-04T02:50 intermittent 2000ms on/3000ms off",
            "2020-08-04T03:10 intermittent 3000ms on/2000ms off",
            "2020-08-04T03:30 continuous",
            "2020-08-05T08:00 off",
        ])
        let lamps = Self.records(all, type: "lamp").map { $0["lamp"] as! String }
        #expect(lamps == ["off", "blue", "yellow", "orange", "red", "off"])
        let spoken = Self.records(all, type: "broadcast").map { $0["text"] as! String }
        #expect(spoken.contains { $0.contains("红色预警") })
        #expect(spoken.last?.contains("预警解除") == true)
        let sms = Self.records(all, type: "sms")
        #expect(sms.prefix(2).map { $0["to"] as! String } == ["王建国", "李秀英"])
        #expect(sms.contains { $0["to"] as? String == "陈志强" && Self.minute($0) == "2020-08-04T03:00" })
        let exit = try #require(Self.records(all, type: "exit").last)
        #expect(exit["reason"] as? String == "the scenario is over and the level is back to none")
        #expect(exit["tips_rain1"] as? Int == 1491)
        // The far side of the wiring: the twins were reached through the real drivers. The siren
        // relay switched on, the voice module spoke, the modem took every SMS, the Modbus slaves
        // answered the bus owner's polls, and the GPIO twin dropped no edge.
        #expect((exit["twin_siren_switched_on"] as? Int ?? 0) > 0, "\(exit)")
        #expect((exit["twin_voice_spoken"] as? Int ?? 0) > 0, "\(exit)")
        #expect(exit["twin_modem_sms"] as? Int == sms.count, "\(exit)")
        // The scenario's 4 sms_reply and 2 call_in rows came in through the modem twin (+CMTI,
        // RING/+CLIP) and its driver, not straight onto the engine's queue.
        #expect(exit["twin_modem_replies_read"] as? Int == 4, "\(exit)")
        #expect(exit["twin_modem_calls_hung_up"] as? Int == 2, "\(exit)")
        #expect((exit["twin_modbus_answers"] as? Int ?? 0) > 1_000, "\(exit)")
        #expect(exit["twin_gpio_edges_dropped"] as? Int == 0, "\(exit)")
        // The river's readings came from the slave's registers through the bus owner.
        #expect(daemon.log.contains("RS-485 bus open"), "\(daemon.log.suffix(2000))")
        #expect(Self.records(all, type: "safe_state").count == 1)
    }

    static let escalationScenario = """
        time,sensor,value
        2020-07-01T10:00:00+08:00,rain1,0
        2020-07-01T10:10:00+08:00,rain1,50
        2020-07-01T10:20:00+08:00,rain1,0
        """

    func runSmallScenario(_ text: String) throws -> [[String: Any]] {
        let state = DaemonProcess.temporaryStateDirectory()
        defer { try? FileManager.default.removeItem(atPath: state); try? FileManager.default.removeItem(atPath: state + ".log") }
        let scenario = state + ".csv"
        try text.write(toFile: scenario, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: scenario) }
        let daemon = try DaemonProcess([
            "run", "--config", "config/example.toml", "--board", "sim", "--scenario", scenario, "--speed", "8640", "--exit-after-scenario",
        ], stateDirectory: state)
        #expect(daemon.waitForExit() == 0, "\(daemon.log.suffix(2000))")
        return daemon.records()
    }

    @Test func anAcknowledgementStopsTheEscalation() throws {
        // 50 mm in ten minutes: yellow; the village head and monitor are asked (叫应).
        let unanswered = try runSmallScenario(Self.escalationScenario)
        let answered = try runSmallScenario(Self.escalationScenario.replacingOccurrences(
            of: "2020-07-01T10:20:00+08:00,rain1,0", with: "2020-07-01T10:15:00+08:00,ack,王建国\n2020-07-01T10:20:00+08:00,rain1,0"))
        let unansweredTo = Self.records(unanswered, type: "sms").map { $0["to"] as! String }
        let answeredTo = Self.records(answered, type: "sms").map { $0["to"] as! String }
        #expect(Array(unansweredTo.prefix(2)) == ["王建国", "李秀英"])
        // Nobody answers within 10 minutes: the township cadre is texted.
        #expect(unansweredTo.contains("陈志强"))
        // The village head answers at 10:15: nobody else is texted.
        #expect(answeredTo == ["王建国", "李秀英"])
        // The 50 mm arrive as 250 closures of the reed switch; the engine may see the first of
        // them on their own (blue, at 45 mm the hour is yellow) or all at once, as the tip
        // counter's thread and the engine meet: blue may flash before yellow.
        #expect(Self.records(answered, type: "lamp").map { $0["lamp"] as! String }.filter { $0 != "blue" } == ["off", "yellow", "off"])
    }

    /// A daemon on `--board sim` playing a manual red at speed 1, telling systemd (a datagram socket
    /// the test reads) what it does; everything it leaves is removed afterwards.
    static func withRedDaemon(environment: [String: String] = [:], _ body: (_ daemon: DaemonProcess, _ state: String, _ notify: Int32) throws -> Void) throws {
        let state = DaemonProcess.temporaryStateDirectory()
        defer { try? FileManager.default.removeItem(atPath: state); try? FileManager.default.removeItem(atPath: state + ".log") }
        let scenario = state + ".csv"
        try "time,sensor,value\n2020-07-01T10:00:00+08:00,manual,red\n2020-07-01T10:00:00+08:00,river1,1.5\n"
            .write(toFile: scenario, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: scenario) }
        let notifyPath = state + ".notify"
        let notify = RuntimeQueueAndNotifierTests.bindDatagram(notifyPath, abstract: false)
        defer { close(notify); unlink(notifyPath) }
        let daemon = try DaemonProcess(
            ["run", "--config", "config/example.toml", "--board", "sim", "--scenario", scenario],
            stateDirectory: state, environment: environment.merging(["NOTIFY_SOCKET": notifyPath]) { $1 })
        defer { if daemon.process.isRunning { daemon.process.terminate() } }
        try body(daemon, state, notify)
    }

    @Test func statusReadsTheRunningDaemonSystemdHearsItAndSIGTERMLeavesTheOutputsSafe() throws {
        try Self.withRedDaemon(environment: ["WATCHDOG_USEC": "200000"]) { daemon, state, notify in
            // READY=1 once armed, then WATCHDOG=1 from the engine's loop (every 100 ms here).
            let ready = RuntimeQueueAndNotifierTests.receive(notify)
            #expect(ready?.hasPrefix("READY=1") == true, "\(daemon.log)")
            #expect(RuntimeQueueAndNotifierTests.receive(notify) == "WATCHDOG=1")

            // The manual red reaches the engine within a second of scenario time at speed 1, and the
            // outputs through the twins' lines soon after.
            var status: [String: Any] = [:]
            for _ in 0..<100 {
                let outcome = try GatewayBinary.run(["status", "--state-dir", state, "--json"])
                if outcome.status == 0, let object = try JSONSerialization.jsonObject(with: Data(outcome.standardOutput.utf8)) as? [String: Any] {
                    status = object
                    // The broadcast goes over the voice twin's serial line at 9600 baud: it is spoken
                    // a moment after the decision, as on a board.
                    let spoken = (status["outputs"] as? [String: Any])?["lastSpoken"] as? String
                    if status["level"] as? String == "red", spoken != nil { break }
                }
                usleep(100_000)
            }
            #expect(status["level"] as? String == "red")
            #expect(status["causes"] as? [String] == ["manual"])
            let outputs = try #require(status["outputs"] as? [String: Any])
            #expect(outputs["siren_on"] as? Bool == true)
            #expect(status["schema"] as? String == "status/1")
            #expect(outputs["lamp"] as? String == "red")
            let human = try GatewayBinary.run(["status", "--state-dir", state])
            #expect(human.status == 0)
            #expect(human.standardOutput.contains("黄坑村 (0011223344)"))
            #expect(human.standardOutput.contains("Level     RED 红色预警 (causes: manual)"))
            #expect(human.standardOutput.contains("river1"))
            #expect(human.standardOutput.split(separator: "\n").allSatisfy { String($0).terminalColumns <= DaemonStatus.columnsMax })
            #expect(human.standardOutput.contains("last spoken: 黄坑村红色预警"))

            kill(daemon.process.processIdentifier, SIGTERM)
            #expect(daemon.waitForExit(seconds: 30) == 0)
            var messages: [String] = []
            while let message = RuntimeQueueAndNotifierTests.receive(notify), !message.hasPrefix("STOPPING") { messages.append(message) }
            let last = daemon.records().suffix(2).map { $0["type"] as? String }
            #expect(last == ["safe_state", "exit"])
            // The signal and the group's graceful shutdown both ask; the outputs go safe once.
            #expect(Self.records(daemon.records(), type: "safe_state").count == 1, "\(daemon.records())")
            // The red is latched in the example: after the stop the state on disk still holds it.
            let recovery = StateStore(directory: state).recover(configuration: try ConfigurationLoader.load(path: "\(GatewayBinary.repositoryRoot.path)/config/example.toml").engine)
            #expect(recovery.engine.status().level == .red)
            #expect(!FileManager.default.fileExists(atPath: "\(state)/\(StatusServer.socketFileName)"))
            let missing = try GatewayBinary.run(["status", "--state-dir", state])
            #expect(missing.status != 0 && missing.standardError.contains("no village-gateway is running"))
        }
    }

    /// (Issue 13 part 4) The runtime is a ServiceGroup, which traps signals only once it runs;
    /// the box catches them from before READY=1 and hands them to the group. A SIGTERM sent the
    /// moment systemd hears READY=1 must end in the safe state and a saved exit, not in death by
    /// the signal's default action with the siren on.
    @Test func aSIGTERMRightAfterREADYPutsTheOutputsInTheirSafeState() throws {
        try Self.withRedDaemon { daemon, _, notify in
            let ready = RuntimeQueueAndNotifierTests.receive(notify)
            kill(daemon.process.processIdentifier, SIGTERM)
            #expect(ready?.hasPrefix("READY=1") == true, "\(daemon.log)")
            #expect(daemon.waitForExit(seconds: 60) == 0, "\(daemon.log)")
            #expect(daemon.process.terminationReason == .exit, "the SIGTERM was not caught: \(daemon.log)")
            let records = daemon.records()
            #expect(records.suffix(2).map { $0["type"] as? String } == ["safe_state", "exit"], "\(records)")
            #expect(Self.records(records, type: "safe_state").count == 1, "\(records)")
        }
    }

    @Test func aDamagedStateFileIsReportedAndTheLatchedRedStillComesBackSounding() throws {
        let state = DaemonProcess.temporaryStateDirectory()
        defer { try? FileManager.default.removeItem(atPath: state); try? FileManager.default.removeItem(atPath: state + ".log") }
        let scenario = state + ".csv"
        // 90 mm in ten minutes: red, latched in the example; nobody clears it, so the run stops
        // at the end of the tail with red still latched.
        try "time,sensor,value\n2020-07-01T10:00:00+08:00,rain1,0\n2020-07-01T10:10:00+08:00,rain1,90\n"
            .write(toFile: scenario, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: scenario) }
        let arguments = ["run", "--config", "config/example.toml", "--board", "sim", "--scenario", scenario, "--speed", "86400", "--exit-after-scenario"]
        let first = try DaemonProcess(arguments, stateDirectory: state)
        #expect(first.waitForExit() == 0, "\(first.log.suffix(2000))")
        #expect(Self.records(first.records(), type: "exit").last?["level"] as? String == "red")

        // An SD card flips a byte in the saved state.
        let path = "\(state)/\(StateStore.snapshotFileName)"
        var bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: path)))
        bytes[bytes.count / 2] ^= 0x01
        try Data(bytes).write(to: URL(fileURLWithPath: path))

        let second = try DaemonProcess(arguments, stateDirectory: state)
        #expect(second.waitForExit() == 0, "\(second.log.suffix(2000))")
        #expect(second.log.contains("is damaged (checksum mismatch)"))
        let all = second.records()
        let start = try #require(Self.records(all, type: "start").last)
        #expect((start["problems"] as? [String])?.first?.contains("damaged") == true)
        #expect(start["level"] as? String == "red")
        #expect(start["latched"] as? String == "red")
        let startIndex = try #require(all.lastIndex { $0["type"] as? String == "start" })
        #expect(all[startIndex...].first { $0["type"] as? String == "siren" }?["pattern"] as? String == "continuous")
        #expect(Self.records(all, type: "exit").last?["tips_rain1"] as? Int == 450)
    }

    /// The script runs for a minute: it is waited for on a Dispatch thread, never on the
    /// cooperative pool, which the other suites' in-process servers need (two threads here).
    @Test func killedAtRandomMomentsTheBoxLosesNoTipAndKeepsItsLevel() async throws {
        let kills = ProcessInfo.processInfo.environment["RUNTIME_KILLS"] ?? "20"
        let (terminationStatus, text) = try await GatewayBinary.runScriptOffThePool(
            ["tools/kill-restart-test.sh", GatewayBinary.url.path, kills], environment: ["SPEED": "8640"])
        #expect(terminationStatus == 0, "\(text.suffix(3000))")
        #expect(text.contains("PASS: "), "\(text.suffix(3000))")
    }
}
