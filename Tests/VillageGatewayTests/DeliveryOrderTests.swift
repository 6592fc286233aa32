// Issue 18, item 2: a backlog drains in order of harm on both transports, and an alarm that
// arrives while routine pages are going out goes before the pages still waiting.
import Foundation
import Logging
import Synchronization
import Testing
import TimeSeam
@testable import VillageGateway
import WarningLogic

@Suite(.serialized) struct DeliveryOrderTests {
    /// Two alarms, then `routineCount` routine summaries: sequences 1…2+routineCount.
    static func fillBacklog(_ outbox: Outbox, routineCount: Int) throws -> (alarms: [Int64], routine: [Int64]) {
        var alarms: [Int64] = [], routine: [Int64] = []
        for index in 0..<routineCount {
            routine.append(try outbox.append(OutboxTests.routine(index)))
            if index == 3 || index == 7 { alarms.append(try outbox.append(OutboxTests.alarm(100 + index))) }
        }
        return (alarms, routine)
    }

    /// The alarm that "arrives meanwhile": stored once, its sequence remembered.
    final class LateAlarm: Sendable {
        let outbox: Outbox
        let sequence = Mutex<Int64?>(nil)
        init(outbox: Outbox) { self.outbox = outbox }
        func storeOnce() {
            sequence.withLock { stored in
                guard stored == nil else { return }
                stored = try? outbox.append(OutboxTests.alarm(900))
            }
        }
        var stored: Int64? { sequence.withLock { $0 } }
    }

    @Test func httpAnAlarmArrivingMidDrainGoesBeforeTheRoutinePagesStillWaiting() async throws {
        let fixture = try PushFixture()
        let backlog = try Self.fillBacklog(fixture.outbox, routineCount: 10)
        let late = LateAlarm(outbox: fixture.outbox)
        let sleeper = RecordingSleeper()
        // The alarm arrives while the county is taking the first routine page.
        let county = TestCounty(onBody: { document in
            if document.reports.contains(where: { $0.priority == "routine" }) { late.storeOnce() }
        })
        try await county.serve { port in
            var configuration = CountyConfiguration()
            configuration.httpPush = HTTPPushConfiguration(url: "http://127.0.0.1:\(port)/v1/push", keyFile: try PushFixture.keyFile(), batchMax: 3)
            let service = try PushService(
                outbox: fixture.outbox, writer: fixture.outbox.writer, configuration: configuration, station: PushFixture.station, clock: FixedClock(),
                logger: Logger(label: "test.push"), sleeper: sleeper, probeSleeper: HangingSleeper())
            let running = Task { await service.run() }
            #expect(await eventually { late.stored != nil && fixture.undelivered.isEmpty })
            // Idle now: the outbox is looked at every second, so a new alarm waits at most that.
            #expect(await eventually { !sleeper.delays.withLock { $0 }.isEmpty })
            #expect(sleeper.delays.withLock { $0 }.allSatisfy { $0 <= 1_000 }, "\(sleeper.delays.withLock { $0 })")
            running.cancel()
            await running.value
        }
        let lateAlarm = try #require(late.stored)
        let pages = county.bodies.map { $0.reports.map(\.sequence) }
        // Page 1: both alarms and the oldest routine report; page 2 starts with the late alarm.
        #expect(pages.first == backlog.alarms + [backlog.routine[0]])
        #expect(pages.dropFirst().first?.first == lateAlarm, "\(pages)")
        #expect(pages.flatMap { $0 } == backlog.alarms + [backlog.routine[0], lateAlarm] + backlog.routine.dropFirst())
        #expect(pages.allSatisfy { $0.count <= 3 })
    }

    @Test func sl651AnAlarmArrivingMidDrainGoesBeforeTheRoutineFramesStillWaiting() async throws {
        let fixture = try SL651PushFixture()
        let backlog = try Self.fillBacklog(fixture.outbox, routineCount: 10)
        let late = LateAlarm(outbox: fixture.outbox)
        // The alarm arrives while the centre is taking the second routine frame.
        let routineSeen = Atomic<Int>(0)
        let centre = try TestCentre(script: [], onReport: { frame in
            if backlog.routine.contains(Int64(frame.serial)), routineSeen.add(1, ordering: .relaxed).newValue == 2 { late.storeOnce() }
        })
        defer { centre.stop() }
        var configuration = CountyConfiguration()
        configuration.centreAddress = 5
        configuration.password = 0x03E8
        configuration.sl651Push = SL651PushConfiguration(host: "127.0.0.1", port: centre.port)
        let service = try PushService(
            outbox: fixture.outbox, writer: fixture.outbox.writer, configuration: configuration, station: PushFixture.station, clock: SystemClock(),
            logger: Logger(label: "test.sl651"), sl651Frames: SL651PushFixture.frames, sleeper: RecordingSleeper(), probeSleeper: HangingSleeper())
        let running = Task { await service.run() }
        #expect(await eventually { late.stored != nil && fixture.undelivered.isEmpty })
        running.cancel()
        await running.value
        let lateAlarm = try #require(late.stored)
        let serials = centre.frames.map(\.frame).filter { $0.function != 0x2F }.map { Int64($0.serial) }
        #expect(centre.failures.isEmpty)
        #expect(serials == backlog.alarms + Array(backlog.routine.prefix(2)) + [lateAlarm] + backlog.routine.dropFirst(2), "\(serials)")
    }
}
