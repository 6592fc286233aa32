// The box's memory: a torn journal tail is dropped, a damaged snapshot is set aside and the
// engine re-derived from the record, decided-but-not-done actions are carried out on start.
import Foundation
import Testing
import WarningLogic
@testable import VillageGateway

@Suite struct RuntimeStateStoreTests {
    static let start = SimulatorTests.start

    static func temporaryDirectory() -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("vg-state-\(UUID().uuidString)").path
        try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    /// Tips of 0.5 mm, one row a minute: 20 tips a row reach red (30 mm in 1 h) on the third row.
    static func storm(rows: Int) -> [Event] {
        (0..<rows).map { Event(time: start.adding(milliseconds: Int64($0) * Milliseconds.minute), kind: .tips(sensorId: "rain1", count: 20)) }
    }

    /// What the engine owner does for each input: journal it, decide, snapshot when an output changes.
    static func feed(_ events: [Event], into store: StateStore, engine: inout Engine, sequence: inout UInt64, snapshotEvery: Int) throws {
        for (index, event) in events.enumerated() {
            sequence += 1
            try store.append(.event(sequence: sequence, event: event), sync: true)
            _ = engine.handle(event)
            if (index + 1) % snapshotEvery == 0 {
                try store.writeSnapshot(Snapshot(
                    formatVersion: 1, snapshotNumber: sequence, sequence: sequence, state: engine.state, eventsAtLastTime: [event], pendingActions: []))
            }
        }
    }

    static func tips(_ engine: Engine) -> Int64? { engine.status().sensors.first?.tipsTotal }

    @Test func aRestartRebuildsTheSameEngineFromSnapshotAndJournal() throws {
        let directory = Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let configuration = SimulatorTests.configuration(latched: [.red])
        var engine = Engine(configuration: configuration)
        var sequence: UInt64 = 0
        try Self.feed(Self.storm(rows: 7), into: StateStore(directory: directory), engine: &engine, sequence: &sequence, snapshotEvery: 3)
        let recovery = StateStore(directory: directory).recover(configuration: configuration)
        #expect(recovery.problems.isEmpty)
        #expect(recovery.replayedEvents == 1)  // snapshots after rows 3 and 6; row 7 is in the journal
        #expect(recovery.engine.state == engine.state)
        #expect(Self.tips(recovery.engine) == 140)
        #expect(recovery.engine.status().latchedLevel == .red)
        #expect(recovery.lastSequence == 7)
    }

    @Test func aTornLastRecordIsDroppedAndEverythingBeforeItKept() throws {
        let directory = Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let configuration = SimulatorTests.configuration()
        var engine = Engine(configuration: configuration)
        var sequence: UInt64 = 0
        try Self.feed(Self.storm(rows: 2), into: StateStore(directory: directory), engine: &engine, sequence: &sequence, snapshotEvery: 100)
        // A power cut in the middle of the third record's write.
        let journal = "\(directory)/\(StateStore.journalFileName)"
        let handle = try #require(FileHandle(forWritingAtPath: journal))
        handle.seekToEndOfFile()
        handle.write(Data([40, 0, 0, 0, 1, 2, 3, 4, 0x7B, 0x22]))
        try handle.close()
        let recovery = StateStore(directory: directory).recover(configuration: configuration)
        #expect(recovery.problems.isEmpty)
        #expect(recovery.notes.count == 1 && recovery.notes[0].contains("torn"))
        #expect(Self.tips(recovery.engine) == 40)
        #expect(recovery.engine.state == engine.state)
    }

    @Test func aDamagedSnapshotIsReportedSetAsideAndTheLevelReDerivedNotSilentlyNone() throws {
        let directory = Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let configuration = SimulatorTests.configuration(latched: [.red])
        var engine = Engine(configuration: configuration)
        var sequence: UInt64 = 0
        try Self.feed(Self.storm(rows: 8), into: StateStore(directory: directory), engine: &engine, sequence: &sequence, snapshotEvery: 3)
        // One flipped byte in the middle of the current snapshot (an SD card going bad).
        let path = "\(directory)/\(StateStore.snapshotFileName)"
        var bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: path)))
        bytes[bytes.count / 2] ^= 0x20
        try Data(bytes).write(to: URL(fileURLWithPath: path))

        let recovery = StateStore(directory: directory).recover(configuration: configuration)
        #expect(recovery.problems.count == 1)
        #expect(recovery.problems.first?.contains("damaged (checksum mismatch)") == true)
        #expect(!FileManager.default.fileExists(atPath: path))
        let asideFiles = try FileManager.default.contentsOfDirectory(atPath: directory).filter { $0.contains(".corrupt-") }
        #expect(asideFiles.count == 1)
        // The previous snapshot and both journals give back every tip and the latched red.
        #expect(Self.tips(recovery.engine) == 160)
        #expect(recovery.engine.status().level == .red)
        #expect(recovery.engine.status().latchedLevel == .red)
        #expect(recovery.engine.state == engine.state)
    }

    @Test func withNoSnapshotTheJournalAloneReDerivesTheLevel() throws {
        let directory = Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let configuration = SimulatorTests.configuration()
        var engine = Engine(configuration: configuration)
        var sequence: UInt64 = 0
        try Self.feed(Self.storm(rows: 3), into: StateStore(directory: directory), engine: &engine, sequence: &sequence, snapshotEvery: 100)
        let recovery = StateStore(directory: directory).recover(configuration: configuration)
        #expect(recovery.engine.status().level == .red)
        #expect(recovery.replayedEvents == 3)
        #expect(recovery.source.contains("journal"))
        // The level change happened while replaying: its actions are carried out on start.
        #expect(recovery.actionsToPerform.contains(.setSiren(.continuous, exercise: false)))
    }

    @Test func pendingActionsAreCarriedOutOnStartUnlessTheJournalSaysTheyWere() throws {
        let directory = Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let configuration = SimulatorTests.configuration()
        let store = StateStore(directory: directory)
        let pending: [Action] = [.broadcast(message: "立即转移", exercise: false)]
        try store.writeSnapshot(Snapshot(
            formatVersion: 1, snapshotNumber: 5, sequence: 0, state: Engine(configuration: configuration).state, eventsAtLastTime: [],
            pendingActions: pending))
        #expect(StateStore(directory: directory).recover(configuration: configuration).actionsToPerform == pending)
        try store.append(.performed(snapshotNumber: 5), sync: true)
        #expect(StateStore(directory: directory).recover(configuration: configuration).actionsToPerform.isEmpty)
    }

    @Test func aSnapshotOfAnotherFormatIsRefusedNotMisread() throws {
        let directory = Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try "village-gateway-state 9 2 0\n{}".write(toFile: "\(directory)/\(StateStore.snapshotFileName)", atomically: true, encoding: .utf8)
        let recovery = StateStore(directory: directory).recover(configuration: SimulatorTests.configuration())
        #expect(recovery.problems.first?.contains("format version 9") == true)
        #expect(recovery.engine.status().level == .none)
    }

    @Test func theSimResumeSkipsExactlyTheRowsAlreadyCounted() throws {
        let configuration = SimulatorTests.configuration()
        let text = """
            time,sensor,value
            2020-08-04T03:30:00+08:00,rain1,1.0
            2020-08-04T03:31:00+08:00,rain1,1.0
            2020-08-04T03:31:00+08:00,manual,red
            2020-08-04T03:32:00+08:00,rain1,1.0
            """
        let scenario = try Scenario.parse(text: text, file: "s.csv", configuration: configuration)
        let at0331 = Self.start.adding(milliseconds: Milliseconds.minute)
        // People's rows: the engine handled nothing at 03:31 but the tips; the manual level at
        // that instant is still to come.
        let rows = scenario.rows.map(\.event)
        let tipsAt0330 = Self.tips(rows[0])
        let tipsAt0331 = Self.tips(rows[1])
        let resumed = ScenarioPlan.make(
            rows: rows, gauges: ["rain1"], registers: [],
            resume: ScenarioResume(time: at0331, eventsAtLastTime: [rows[1]], tipsCounted: ["rain1": Int64(tipsAt0330 + tipsAt0331)]))
        #expect(resumed.steps == [
            ScenarioStep(time: at0331, action: .event(rows[2].kind)),
            ScenarioStep(time: rows[3].time, action: .tips(sensorId: "rain1", count: Self.tips(rows[3]))),
        ])
        // Rain is resumed by count: a kill that left the last tip of the 03:31 row uncounted
        // delivers it at the resume instant, then the rest of the storm.
        let cut = ScenarioPlan.make(
            rows: rows, gauges: ["rain1"], registers: [],
            resume: ScenarioResume(time: at0331, eventsAtLastTime: [], tipsCounted: ["rain1": Int64(tipsAt0330 + tipsAt0331 - 1)]))
        #expect(cut.steps.first == ScenarioStep(time: at0331, action: .tips(sensorId: "rain1", count: 1)))
        #expect(cut.steps.count == 3)
        #expect(ScenarioPlan.make(rows: rows, gauges: ["rain1"], registers: [], resume: .fresh).steps.count == 4)
    }

    static func tips(_ event: Event) -> Int {
        if case .tips(_, let count) = event.kind { return count }
        return 0
    }

    /// Readings of sensors on simulated Modbus slaves: what was read up to the start is in the
    /// registers before the bus owner's first poll; later rows change them at their time.
    @Test func theSimsModbusSensorsStartWithTheirLastReadingAndFailRowsSilenceTheSlave() throws {
        let configuration = try ConfigurationLoader.load(path: ConfigurationFixtures.examplePath).engine
        let text = """
            time,sensor,value
            2020-08-04T03:30:00+08:00,river1,1.5
            2020-08-04T03:31:00+08:00,river1,1.6
            2020-08-04T03:32:00+08:00,river1,fail
            """
        let rows = try Scenario.parse(text: text, file: "s.csv", configuration: configuration).rows.map(\.event)
        let fresh = ScenarioPlan.make(rows: rows, gauges: [], registers: ["river1"], resume: .fresh)
        #expect(fresh.initialReadings == ["river1": .some(1.5)])
        #expect(fresh.steps == [
            ScenarioStep(time: rows[1].time, action: .reading(sensorId: "river1", value: 1.6)),
            ScenarioStep(time: rows[2].time, action: .silence(sensorId: "river1")),
        ])
        let resumed = ScenarioPlan.make(
            rows: rows, gauges: [], registers: ["river1"], resume: ScenarioResume(time: rows[1].time, eventsAtLastTime: [], tipsCounted: [:]))
        #expect(resumed.initialReadings == ["river1": .some(1.6)])
        #expect(resumed.steps.count == 1)
    }
}
