// The daemon's side of the shell, without the binary: the backend bridges sessions (on their own
// threads) to the engine owner, the outputs and the outbox; the console loop on a serial port.
import Drivers
import Foundation
import Logging
import Synchronization
import Testing
import TimeSeam
import WarningLogic
@testable import VillageGateway

/// Keeps what the shell hands to the outbox.
final class RecordingReportSink: ReportSink {
    let stored = Mutex<[OutboxReport]>([])
    func store(_ reports: [OutboxReport]) async { stored.withLock { $0 += reports } }
    func backlog() async -> OutboxBacklog? {
        let count = stored.withLock { Int64($0.count) }
        return OutboxBacklog(undeliveredAlarms: 0, undeliveredEvents: count, undeliveredRoutine: 0, delivered: 0, storedBytes: 0, oldestUndeliveredTime: nil)
    }
}

/// Runs `work` on a thread of its own, as the shell server does (never on the cooperative pool).
func onSessionThread<T: Sendable>(_ work: @escaping @Sendable () -> T) async -> T {
    await withCheckedContinuation { continuation in
        Thread { continuation.resume(returning: work()) }.start()
    }
}

@Suite(.serialized) struct ShellDaemonBackendTests {
    static let time = Timestamp(millisecondsSinceUnixEpoch: 1_593_568_800_000)  // 2020-07-01T10:00+08:00

    @Test func aCommittedThresholdIsAppliedLiveSnapshottedAndAuditsReachTheOutbox() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("vg-backend-\(UUID().uuidString.prefix(8))").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let board = try SimulatedBoardHardware(sirenMaxOnMilliseconds: 600_000, sirenRestMilliseconds: 120_000, driving: .manual)
        let outputs = board.outputs
        let logger = Logger(label: "test")
        let example = try await ExampleEngineOwner.start(directory: directory, outputs: outputs, at: Self.time, logger: logger)
        let (gateway, queue, published, owner) = (example.gateway, example.queue, example.published, example.owner)
        // The river at 2.0 m (blue is 2.5 m), decided before the shell comes: the queue is closed
        // once the reading is in, so the owner has handled it when `run` returns.
        await queue.submit(Event(time: Self.time, kind: .reading(sensorId: "river1", value: 2.0)))
        await queue.close()
        _ = await owner.run()
        #expect(published.report().level == "none")

        let sink = RecordingReportSink()
        let backend = DaemonShellBackend(
            configurationPath: ConfigurationFixtures.examplePath, configuration: gateway, published: published, sink: queue, owner: owner,
            outputs: outputs, reports: sink, logRing: LogRing(), clock: StandingClock(time: Self.time),
            clockSetter: RefusingClockSetter(reason: "sim"), rebooter: RefusingRebooter(), logger: logger)
        var lowered = gateway
        let index = try #require(lowered.engine.rules.firstIndex { $0.id == "river-level" })
        lowered.engine.rules[index].thresholds = Thresholds(blue: 1.5, yellow: 3.0, orange: 3.5, red: 4.0)

        let loweredThresholds = lowered
        let waiting = await onSessionThread {
            backend.audit(OutboxReport(time: Self.time, kind: "shellAudit", priority: .event, exercise: false, payload: "{\"command\":\"commit\"}"))
            return backend.apply(loweredThresholds)
        }
        #expect(waiting.isEmpty)
        #expect(published.report().level == "blue", "the engine decided at once with the new threshold")
        #expect(sink.stored.withLock { $0.map(\.kind) } == ["shellAudit"])
        #expect(await onSessionThread { backend.outboxBacklog()?.undeliveredEvents } == 1)
        #expect(await outputs.snapshot().lamp == "blue")
        // A power cut now: the snapshot taken at once brings the box back blue under the new rules.
        #expect(StateStore(directory: directory).recover(configuration: lowered.engine).engine.status().level == .blue)

        var rewired = lowered
        rewired.hardware.buses["rs485"]?.baudRate = 19_200
        rewired.engine.rules[index].thresholds = Thresholds(blue: 1.0, yellow: 3.0, orange: 3.5, red: 4.0)
        let rewiredBus = rewired
        #expect(await onSessionThread { backend.apply(rewiredBus) } == ["[buses] (bus wiring)"])
        #expect(backend.runningConfiguration() == lowered, "half a configuration is never applied")
    }

    @Test func theConsoleGreetsOnTheFirstKeyAndLogsIn() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("vg-console-\(UUID().uuidString.prefix(8))").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let path = directory + "/gateway.toml"
        let text = try String(contentsOfFile: ConfigurationFixtures.examplePath, encoding: .utf8)
            + "\n[shell]\npin_hash = \"\(PINHash.make(pin: "2468", rounds: ShellPINTests.testRounds))\"\n"
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        let backend = FakeShellBackend(configurationPath: path, configuration: try ConfigurationLoader.load(path: path))
        let server = try ShellServer(stateDirectory: directory, backend: backend, logger: Logger(label: "test"))
        let port = ScriptedSerialPort()
        server.startConsole(device: "/dev/ttyS0") { () throws(SerialError) -> any SerialTransport in port }
        defer { server.stop() }
        port.type("\r")
        #expect(port.waitFor("technician shell on console /dev/ttyS0"))
        port.type("2468\r")
        #expect(port.waitFor("Logged in."))
        port.type("status\r")
        #expect(port.waitFor("Level     NONE"))
        port.type("logout\r")
        #expect(port.waitFor("Logged out."))
    }
}

struct RefusingRebooter: BoxRebooting {
    func reboot() -> String? { "refused in tests" }
}

/// A console line: what the test types is read by the server; what the server writes is kept.
final class ScriptedSerialPort: SerialTransport, @unchecked Sendable {
    static let waitMillisecondsMax = 20_000
    private let input = Mutex<[UInt8]>([])
    private let output = Mutex<[UInt8]>([])
    private let arrived = DispatchSemaphore(value: 0)
    private let written = DispatchSemaphore(value: 0)
    let portDescription = "scripted console"

    func type(_ text: String) {
        input.withLock { $0 += Array(text.utf8) }
        arrived.signal()
    }

    func write(_ bytes: [UInt8], timeoutMilliseconds: Int) throws(SerialError) {
        output.withLock { $0 += bytes }
        written.signal()
    }

    func read(maxBytes: Int, timeoutMilliseconds: Int) throws(SerialError) -> [UInt8] {
        if input.withLock({ $0.isEmpty }) { _ = arrived.wait(timeout: .now() + .milliseconds(timeoutMilliseconds)) }
        return input.withLock { bytes in
            let taken = Array(bytes.prefix(maxBytes))
            bytes.removeFirst(taken.count)
            return taken
        }
    }

    func discardInput() throws(SerialError) { input.withLock { $0 = [] } }

    /// Whether `text` was written by the server within the bound.
    func waitFor(_ text: String) -> Bool {
        let deadline = Date().addingTimeInterval(Double(Self.waitMillisecondsMax) / 1_000)
        while !String(decoding: output.withLock { $0 }, as: UTF8.self).contains(text) {
            guard Date() < deadline, written.wait(timeout: .now() + .milliseconds(Self.waitMillisecondsMax)) == .success else { return false }
        }
        return true
    }
}
