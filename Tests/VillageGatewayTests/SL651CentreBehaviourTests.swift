// SL 651 as real county centres speak it, written from what the open-source Python centre
// 64673a/SL651-2014 (`sl651/center.py`, run beside the box) and SL 651-2014 itself show: empty-body
// acknowledgements, no answer to keep-alives, late answers, split and merged segments, and the
// centre's M4 commands (37H, 38H, 4AH, 45H) answered with frames the independent decoder reads.
import Foundation
import Logging
import Synchronization
import Testing
@testable import VillageGateway
import WarningLogic

@Suite(.serialized) struct SL651CentreBehaviourTests {
    @Test func aCentreThatAcknowledgesWithEmptyBodiesGetsEveryReportOnceAndTheyAreMarkedDelivered() async throws {
        let fixture = try SL651PushFixture()
        for index in 1...4 { _ = try fixture.outbox.append(OutboxTests.routine(index)) }
        // As the Python centre answers: ESC (stay online) with no serial and no time; an echo with
        // the centre's own send time in between; EOT last.
        let centre = try TestCentre(script: [.emptyBody(end: "1B"), .ack, .emptyBody(end: "1B"), .emptyBody(end: "04")])
        defer { centre.stop() }
        let log = CapturedLog()
        let push = try fixture.transport(port: centre.port, logger: log.logger)
        #expect(await push.runConnection() == SL651ConnectionEnd(reason: .closedByCentre, delivered: 4))
        #expect(centre.frames.map(\.frame.serial) == [1, 2, 3, 4])  // each once: nothing sent again
        #expect(fixture.undelivered.isEmpty)
        #expect(push.counters.acknowledged == 4 && push.counters.answersWithoutSerial == 3 && push.counters.resends == 0)
        #expect(log.messages.filter { $0.contains("answers without serial numbers") }.count == 1)  // once per connection
        #expect(centre.failures.isEmpty)
    }

    /// The issue's "done when", through the push service with the real report mapping: a centre that
    /// acknowledges only with empty bodies gets every report once, and the box marks them delivered.
    @Test func thePushServiceDeliversHourlyReportsAndAlarmsOnceToAnEmptyBodyCentre() async throws {
        let fixture = try SL651PushFixture()
        let hours = (0..<3).map { Self.summary(at: Self.hourEnd.adding(milliseconds: Int64($0) * Milliseconds.hour)) }
        _ = try fixture.outbox.appendBatch(hours.map(ObservationSummariser.report) + [OutboxTests.alarm(1)])
        let centre = try TestCentre(script: Array(repeating: .emptyBody(end: "1B"), count: 4))
        defer { centre.stop() }
        var county = CountyConfiguration()
        county.centreAddress = 5
        county.password = 0x03E8
        county.sl651Push = SL651PushConfiguration(host: "127.0.0.1", port: centre.port)
        county.sl651 = Self.hunan
        let engine = try ObservationSummariserTests.configuration()
        let maker = try SL651FrameMaker(configuration: engine, county: county, outbox: fixture.outbox, logger: Logger(label: "test.sl651"))
        let service = try PushService(
            outbox: fixture.outbox, writer: fixture.outbox.writer, configuration: county, station: PushFixture.station, clock: FixedClock(), logger: Logger(label: "test.push"),
            sl651Frames: { stored, serial, sendTime in maker.frame(for: stored, serialNumber: serial, sendTime: sendTime) },
            sleeper: RecordingSleeper())
        let running = Task { await service.run() }
        let deadline = Date().addingTimeInterval(30)
        while !fixture.undelivered.isEmpty, Date() < deadline { try await Task.sleep(nanoseconds: 5_000_000) }
        running.cancel()
        await running.value
        #expect(fixture.undelivered.isEmpty)
        let reports = centre.frames.map(\.frame).filter { $0.function != 0x2F }
        #expect(reports.map(\.serial) == [4, 1, 2, 3])  // the alarm first, each once
        #expect(reports.map(\.function) == [0x33, 0x34, 0x34, 0x34])
        #expect(reports.dropFirst().allSatisfy { $0.elements.contains { $0.guide == 0xF4 } && $0.elements.contains { $0.guide == 0xF5 } })
        #expect(centre.failures.isEmpty)
    }

    @Test func anAnswerInThreeSegmentsStillAcknowledges() async throws {
        let fixture = try SL651PushFixture()
        _ = try fixture.outbox.append(OutboxTests.routine(1))
        _ = try fixture.outbox.append(OutboxTests.routine(2))
        let centre = try TestCentre(script: [.emptyBodyInThreePieces, .emptyBody(end: "04")])
        defer { centre.stop() }
        let push = try fixture.transport(port: centre.port)
        #expect(await push.runConnection() == SL651ConnectionEnd(reason: .closedByCentre, delivered: 2))
        #expect(centre.frames.map(\.frame.serial) == [1, 2])
    }

    @Test func aDamagedOrMisaddressedEmptyAnswerNeverAcknowledgesAndTheResendIsAnswered() async throws {
        let fixture = try SL651PushFixture()
        let sequence = try fixture.outbox.append(OutboxTests.routine(1))
        let centre = try TestCentre(script: [.emptyBodyDamagedAndForAnotherStation, .emptyBody(end: "04")])
        defer { centre.stop() }
        let push = try fixture.transport(port: centre.port, answerTimeoutMilliseconds: 1_000)
        #expect(await push.runConnection() == SL651ConnectionEnd(reason: .closedByCentre, delivered: 1))
        #expect(centre.frames.map(\.frame.serial) == [Int(sequence), Int(sequence)])  // sent again on the same link
        #expect(push.counters.downlinkFramesRejected >= 2)
        #expect(push.counters.resends == 1 && push.counters.answerTimeouts == 1)
    }

    @Test func aLateAnswerCountsAndAnAmbiguousSecondAnswerCannotAcknowledgeTheNextReport() async throws {
        let fixture = try SL651PushFixture()
        _ = try fixture.outbox.append(OutboxTests.routine(1))
        _ = try fixture.outbox.append(OutboxTests.routine(2))
        // The centre answers the first send late (with the resend's), both without serial numbers.
        let centre = try TestCentre(script: [.silence, .emptyBodyTwice, .emptyBody(end: "04")])
        defer { centre.stop() }
        let push = try fixture.transport(port: centre.port, answerTimeoutMilliseconds: 1_000)
        let first = await push.runConnection()
        guard case .resynchronising = first.reason, first.delivered == 1 else {
            Issue.record("the late, serial-less answer must deliver report 1 and reopen the link: \(first)")
            return
        }
        // Report 2 was not taken as answered by the stray second answer: it goes on the new link.
        #expect(fixture.undelivered == [2])
        #expect(await push.runConnection() == SL651ConnectionEnd(reason: .closedByCentre, delivered: 1))
        #expect(centre.frames.map { [$0.connection, $0.frame.serial] } == [[1, 1], [1, 1], [2, 2]])
        #expect(fixture.undelivered.isEmpty)
    }

    @Test func aLateAnswerWithTheSerialNeedsNoNewLink() async throws {
        let fixture = try SL651PushFixture()
        _ = try fixture.outbox.append(OutboxTests.routine(1))
        _ = try fixture.outbox.append(OutboxTests.routine(2))
        // Silence to the first send, then the resend is answered twice with serial 1 in one segment
        // (the late answer and the current one): the second is an old serial, skipped, not report 2's.
        let centre = try TestCentre(script: [.silence, .ackTwice, .eot])
        defer { centre.stop() }
        let push = try fixture.transport(port: centre.port, answerTimeoutMilliseconds: 1_000)
        #expect(await push.runConnection() == SL651ConnectionEnd(reason: .closedByCentre, delivered: 2))
        #expect(centre.frames.map(\.frame.serial) == [1, 1, 2])
        #expect(push.counters.downlinkFramesUnmatched == 1)
    }

    // MARK: M4 commands

    static let hourEnd = Timestamp(millisecondsSinceUnixEpoch: ObservationSummariserTests.localMidnight + 9 * Milliseconds.hour)

    /// An hourly summary observed at `hourEnd` (09:00 local), with 5-minute series and a displacement.
    static func summary(at time: Timestamp = hourEnd, rain: Double = 3.4) -> ObservationSummary {
        var gauge = ObservedSensor(id: "rain1", kind: SensorKind.rainGauge.rawValue, faulty: false)
        gauge.rainMillimetersPeriod = rain
        gauge.rainMillimetersTotal = 120.6
        gauge.rainMillimeters1h = rain
        gauge.rainMillimetersToday = 10.2
        gauge.rainMillimeters5min = [0.2, 0.4, nil, 0, 0, 0, 0, 26.0, 0.6, 0, 0, 0.2]
        var river = ObservedSensor(id: "river1", kind: SensorKind.waterLevel.rawValue, faulty: false)
        river.waterLevelMeters = 2.345
        river.waterLevelMeters5min = [2.3, 2.31, 2.32, nil, 2.33, 2.34, -0.5, 2.34, 2.34, 2.345, 700, 2.345]
        var slope = ObservedSensor(id: "slope_x", kind: SensorKind.displacement.rawValue, faulty: false)
        slope.displacementMillimeters = -12.34
        return ObservationSummary(
            observedAtMilliseconds: time.millisecondsSinceUnixEpoch, periodMilliseconds: Milliseconds.hour, level: "yellow", supplyVolts: nil,
            sensors: [gauge, river, slope])
    }

    static let hunan = SL651MappingConfiguration(hourly: true, displacement: ["slope_x": SL651DisplacementIdentifier(text: "hunan-x")!])

    @Test func theCentresCommandsAreAnsweredWithFramesTheIndependentDecoderReads() async throws {
        let fixture = try SL651PushFixture()
        _ = try fixture.outbox.append(OutboxTests.routine(1))
        let clockSet = Mutex<[Timestamp]>([])
        let stored = [Self.summary(at: Self.hourEnd.adding(milliseconds: -Milliseconds.hour), rain: 1.0), Self.summary()]
        let sources = SL651CommandSources(
            current: { Self.summary() },
            summaries: { from, through, _ in
                stored.filter { (from.millisecondsSinceUnixEpoch...through.millisecondsSinceUnixEpoch).contains($0.observedAtMilliseconds) }
            },
            setClock: { time in
                clockSet.withLock { $0.append(time) }
                return nil
            })
        // As the Python centre's down_builder writes them: serial + send time, then each command's fields.
        let commands = [
            sl651Downlink(function: "37", body: "0101 260715091500", end: "05"),
            // PJ from 07:00 to 09:00 (summaries stamped 08:00 and 09:00; 07:00 holds none), step 1 h.
            sl651Downlink(function: "38", body: "0102 260715091500 26071507 26071509 0418 000100 2019", end: "05"),
            // The hourly F4 series of the hour 08-09, fixed step 000000.
            sl651Downlink(function: "38", body: "0103 260715091500 26071508 26071508 0418 000000 F460", end: "05"),
            sl651Downlink(function: "4A", body: "0104 260715091530", end: "05"),
            sl651Downlink(function: "45", body: "0105 260715091500", end: "05"),
            sl651Downlink(function: "40", body: "0106 260715091500 0228 12345678", end: "05"),
        ]
        let centre = try TestCentre(script: [.emptyBodyThenCommands(commands)])
        defer { centre.stop() }
        let log = CapturedLog()
        let push = try fixture.transport(port: centre.port, commandSources: sources, mapping: Self.hunan, logger: log.logger)
        let task = Task { await push.runConnection() }
        // Bounded wait on the condition (not on time): five answers and one refusal.
        let deadline = Date().addingTimeInterval(30)
        while !(centre.frames.filter({ $0.frame.function >= 0x36 }).count >= 5 && push.counters.commandsRefused >= 1), Date() < deadline {
            try await Task.sleep(nanoseconds: 5_000_000)
        }
        task.cancel()
        #expect(await task.value.delivered == 1)
        #expect(centre.failures.isEmpty, "every answer must decode: \(centre.failures)")
        let answers = Dictionary(centre.frames.map(\.frame).filter { $0.function >= 0x36 }.map { ($0.serial, $0) }, uniquingKeysWith: { a, _ in a })

        let realTime = try #require(answers[0x0101])
        #expect(realTime.function == 0x37 && realTime.stationClass == 0x48 && realTime.observationTime == "2607150900")
        #expect(realTime.elements.map(\.guide) == [0x20, 0x26, 0x1A, 0x1F, 0x39, 0xFF16, 0x45])
        #expect(realTime.elements.first { $0.guide == 0xFF16 }?.value == "-12.34")
        #expect(realTime.elements.first { $0.guide == 0x39 }?.value == "2.345")

        let range = try #require(answers[0x0102])
        #expect(range.function == 0x38 && range.observationTime == "2607150700")
        #expect(range.elements == [SL651DecodedElement(guide: 0x04, value: "000100"), SL651DecodedElement(guide: 0x20, value: "-;1.0;3.4")])

        let hourly = try #require(answers[0x0103])
        #expect(hourly.observationTime == "2607150805")  // the first 5-minute slot of 08-09
        #expect(hourly.elements.last == SL651DecodedElement(guide: 0xF4, value: "2,4,-,0,0,0,0,254,12,0,0,2"))

        let clock = try #require(answers[0x0104])
        #expect(clock.function == 0x4A && clock.sendTime == "260715091530")
        #expect(clockSet.withLock { $0 } == [Timestamp(millisecondsSinceUnixEpoch: ObservationSummariserTests.localMidnight + (9 * 3600 + 15 * 60 + 30) * 1_000)])
        #expect(log.messages.contains { $0.contains("4AH") && $0.contains("stepped by") })

        let version = try #require(answers[0x0105])
        #expect(version.function == 0x45 && version.version == GatewaySoftwareVersion.text)

        #expect(answers[0x0106] == nil)  // 40H: refused, logged, nothing sent
        #expect(push.counters.commandsAnswered == 5 && push.counters.commandsRefused == 1)
        // The centre's empty-body ESC to each answer is taken as an acknowledgement, not a new
        // command: answered once each, no ping-pong (the interop run's finding).
        #expect(centre.frames.filter { $0.frame.function >= 0x36 }.count == 5)
        #expect(log.messages.contains { $0.contains("40H") && $0.contains("refused") })
    }

    @Test func aClockTheBoxMayNotSetIsLoggedWithItsStepAndStillAnswered() throws {
        let responder = SL651CommandResponder(
            identity: SL651PushFixture.identity, utcOffsetMinutes: 480, mapping: SL651MappingConfiguration(),
            sources: SL651CommandSources(current: { nil }, summaries: { _, _, _ in [] }, setClock: { _ in "this board has a real-time clock" }))
        let boxNow = Timestamp(millisecondsSinceUnixEpoch: ObservationSummariserTests.localMidnight + 9 * Milliseconds.hour + 250)
        let command = try SL651DownlinkParser.parse(sl651Downlink(function: "4A", body: "0007 260715085958", end: "05"), station: SL651PushFixture.identity.stationAddress)
        guard case .answer(let frame, let note) = responder.respond(to: command, serial: 7, now: boxNow) else {
            Issue.record("4AH must be answered")
            return
        }
        #expect(note.contains("-2.0 s") && note.contains("not applied: this board has a real-time clock"))
        let decoded = try sl651DecodeUplink(frame)
        #expect(decoded.sendTime == "260715090000" && decoded.serial == 7)  // the box's own time: it was not changed
        // 37H before any reading, and a 38H for an element the box does not keep, are refused with why.
        let query = try SL651DownlinkParser.parse(sl651Downlink(function: "37", body: "0008 260715090000", end: "05"), station: SL651PushFixture.identity.stationAddress)
        guard case .refused(let reason) = responder.respond(to: query, serial: 8, now: boxNow) else { Issue.record("no reading yet"); return }
        #expect(reason.contains("37H") && reason.contains("no reading"))
        let flow = try SL651DownlinkParser.parse(
            sl651Downlink(function: "38", body: "0009 260715090000 26071507 26071509 0418 000100 2748", end: "05"), station: SL651PushFixture.identity.stationAddress)
        guard case .refused(let why) = responder.respond(to: flow, serial: 9, now: boxNow) else { Issue.record("27 Q is not kept"); return }
        #expect(why.contains("27 48") && why.contains("not one the box keeps"))
    }

    // MARK: Hourly 34 and displacement

    @Test func theHourlyReportCarriesBothFiveMinuteSeriesAndTheDisplacementUnderItsHunanIdentifier() throws {
        let stored = StoredOutboxReport(sequence: 42, report: ObservationSummariser.report(Self.summary()), deliveredAt: nil)
        let sendTime = try SL651LocalTime(year: 2026, month: 7, day: 15, hour: 9, minute: 0, second: 12)
        let frame = try #require(try SL651ReportMapping.frame(
            for: stored, identity: SL651PushFixture.identity, serialNumber: 42, sendTime: sendTime, utcOffsetMinutes: 480, mapping: Self.hunan))
        let decoded = try sl651DecodeUplink(frame)
        #expect(decoded.function == 0x34 && decoded.stationClass == 0x48)
        #expect(decoded.observationTime == "2607150805")
        #expect(decoded.elements.map(\.guide) == [0xF4, 0x26, 0xF5, 0xF0, 0x1A, 0x1F, 0x39, 0xFF16, 0x45])
        // 26.0 mm in one slot is more than a byte's 25.4: the rest goes into the next slot (note e).
        #expect(decoded.elements[0].value == "2,4,-,0,0,0,0,254,12,0,0,2")
        #expect(decoded.elements[1].value == "120.6")
        // Centimetres; no reading, a negative level and one above 655.34 m are all "invalid" FFFF.
        #expect(decoded.elements[2].value == "230,231,232,-,233,234,-,234,234,235,-,235")
        #expect(decoded.elements[3].value == "2607150900")
        // Hunan: FF16, N(8,2), negative led by FF: FF 16 2A FF 00 00 12 34.
        #expect(decoded.elements[7].value == "-12.34")
        #expect(sl651Hex(frame).contains("FF162AFF00001234"))

        // Without `hourly`, the same summary is a timed 32 carrying the displacement too; a
        // displacement sensor the county named no identifier for is left out.
        let timed = try sl651DecodeUplink(try #require(try SL651ReportMapping.frame(
            for: stored, identity: SL651PushFixture.identity, serialNumber: 42, sendTime: sendTime, utcOffsetMinutes: 480,
            mapping: SL651MappingConfiguration(hourly: false, displacement: Self.hunan.displacement))))
        #expect(timed.function == 0x32 && timed.elements.map(\.guide) == [0x20, 0x26, 0x1A, 0x1F, 0x39, 0xFF16, 0x45])
        let unnamed = try sl651DecodeUplink(try #require(try SL651ReportMapping.frame(
            for: stored, identity: SL651PushFixture.identity, serialNumber: 42, sendTime: sendTime, utcOffsetMinutes: 480)))
        #expect(!unnamed.elements.contains { $0.guide > 0xFF })
    }

    @Test func displacementIdentifiersReadTheirPresetAndFormat() {
        #expect(SL651DisplacementIdentifier(text: "hunan-x")?.description == "FF16 N(8,2)")
        #expect(SL651DisplacementIdentifier(text: "hunan-y")?.description == "FF17 N(8,2)")
        #expect(SL651DisplacementIdentifier(text: "Hunan-Vertical")?.description == "FF18 N(8,2)")
        #expect(SL651DisplacementIdentifier(text: "FF20")?.description == "FF20 N(8,2)")
        #expect(SL651DisplacementIdentifier(text: "ff2a N(6,1)")?.description == "FF2A N(6,1)")
        for bad in ["F016", "FF1", "FF16 N(8)", "FF16 N(15,2)", "FF16 N(4,5)", "hunan", "FFGG"] {
            #expect(SL651DisplacementIdentifier(text: bad) == nil, "\(bad)")
        }
        // N(6,1): 12345.6 mm fits; a value too wide for the field is refused, never cut.
        let element = SL651DisplacementIdentifier(text: "FF2A N(6,1)")!.element(sensor: "crack1")
        #expect(throws: SL651EncodingError.self) { try SL651Element.numeric(element, 123_456.7) }
        #expect((try? SL651Element.numeric(element, 12_345.6))?.bytes == sl651Bytes("FF2A 19 123456"))
    }
}

/// Collects log messages so a test can check what a technician would read.
final class CapturedLog: Sendable {
    private let lines = Mutex<[String]>([])
    var messages: [String] { lines.withLock { $0 } }

    var logger: Logger {
        Logger(label: "test.sl651") { _ in CapturedLogHandler(log: self) }
    }

    fileprivate func append(_ line: String) { lines.withLock { $0.append(line) } }
}

private struct CapturedLogHandler: LogHandler {
    let log: CapturedLog
    var metadata: Logger.Metadata = [:]
    var logLevel: Logger.Level = .trace

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        log.append("\(event.level) \(event.message)")
    }
}
