// The push service's loops: backoff after failures (with an injected sleeper and seeded jitter),
// no attempt without a network, both transports run until cancelled.
import Foundation
import Logging
import Synchronization
import Testing
import TimeSeam
@testable import VillageGateway
import WarningLogic

/// Records every wait and returns at once: the loop's time is an input, never a real sleep.
final class RecordingSleeper: GatewayClock {
    func nowNanoseconds() -> Int64 { FixedClock().nowNanoseconds() }
    let delays = Mutex<[Int64]>([])
    func sleep(untilNanoseconds deadline: Int64) async {
        delays.withLock { $0.append((deadline - nowNanoseconds()) / 1_000_000) }
        await Task.yield()
    }
}

struct FixedRegistration: NetworkRegistrationProbe {
    var available: Bool?
    func dataNetworkAvailable() -> Bool? { available }
}

final class EventLog: Sendable {
    let events = Mutex<[PushEvent]>([])
    func record(_ event: PushEvent) { events.withLock { $0.append(event) } }
    var all: [PushEvent] { events.withLock { $0 } }
}

@Suite struct PushServiceTests {
    static let policy = PushBackoffPolicy(
        baseMilliseconds: 2_000, capMilliseconds: 60_000, floorMilliseconds: 1_000, attemptsPerRoundMax: 6, restMilliseconds: 1_800_000)

    func configuration(port: Int, keyFile: String, sl651Port: Int? = nil) -> CountyConfiguration {
        var county = CountyConfiguration()
        county.centreAddress = 5
        county.password = 0x03E8
        county.httpPush = HTTPPushConfiguration(url: "http://127.0.0.1:\(port)/v1/push", keyFile: keyFile, batchMax: 2)
        if let sl651Port { county.sl651Push = SL651PushConfiguration(host: "127.0.0.1", port: sl651Port) }
        return county
    }

    @Test func failuresBackOffWithJitterThenEverythingIsDelivered() async throws {
        let fixture = try PushFixture()
        try fixture.fillMixed()
        let county = TestCounty()
        county.script([.serverError, .serverError, .serverError])
        let sleeper = RecordingSleeper()
        let log = EventLog()
        try await county.serve { port in
            let service = try PushService(
                outbox: fixture.outbox, writer: fixture.outbox.writer, configuration: configuration(port: port, keyFile: try PushFixture.keyFile()),
                station: PushFixture.station, clock: FixedClock(), logger: Logger(label: "test.push"),
                backoff: Self.policy, sleeper: sleeper, random: PushRandom(seed: 5), observer: log.record)
            let running = Task { await service.run() }
            while !fixture.undelivered.isEmpty { await Task.yield() }
            running.cancel()
            await running.value
        }
        let failures = log.all.compactMap { event -> Int64? in
            if case .httpFailed(_, let delay) = event { return delay } else { return nil }
        }
        #expect(failures.count == 3)
        for (index, delay) in failures.enumerated() {
            #expect(delay >= Self.policy.floorMilliseconds && delay <= Self.policy.delayMillisecondsMax(afterFailures: index + 1))
        }
        // The waits the sleeper was asked for are the backoff's, in order, before any idle wait.
        #expect(Array(sleeper.delays.withLock { $0 }.prefix(3)) == failures)
        #expect(county.storedSequences == Set(1...7))
        #expect(county.bodies.allSatisfy { $0.reports.count <= 2 })
        // Priorities went in order across the successful batches.
        let order = county.bodies.dropFirst(3).flatMap { $0.reports.map(\.priority) }
        #expect(order == ["alarm", "alarm", "event", "event", "routine", "routine", "routine"])
    }

    @Test func withoutANetworkNothingIsAttempted() async throws {
        let fixture = try PushFixture()
        try fixture.fillMixed()
        let county = TestCounty()
        let sleeper = RecordingSleeper()
        let log = EventLog()
        try await county.serve { port in
            let service = try PushService(
                outbox: fixture.outbox, writer: fixture.outbox.writer, configuration: configuration(port: port, keyFile: try PushFixture.keyFile()),
                station: PushFixture.station, clock: FixedClock(), logger: Logger(label: "test.push"),
                registration: FixedRegistration(available: false), backoff: Self.policy, sleeper: sleeper, observer: log.record)
            let running = Task { await service.run() }
            while log.all.count < 5 { await Task.yield() }
            running.cancel()
            await running.value
        }
        #expect(county.bodies.isEmpty)
        #expect(log.all.allSatisfy { $0 == .noNetwork(transport: "http") })
        #expect(sleeper.delays.withLock { $0 }.allSatisfy { $0 == PushTimings.standard.noNetworkRecheckMilliseconds })
        #expect(fixture.undelivered == Set(1...7))
    }

    @Test func bothTransportsRunAndTheCountyEndsWithEveryReport() async throws {
        let fixture = try PushFixture()
        try fixture.fillMixed()
        let county = TestCounty()
        let centre = try TestCentre(script: [])
        defer { centre.stop() }
        let sleeper = RecordingSleeper()
        try await county.serve { port in
            let service = try PushService(
                outbox: fixture.outbox, writer: fixture.outbox.writer, configuration: configuration(port: port, keyFile: try PushFixture.keyFile(), sl651Port: centre.port),
                station: PushFixture.station, clock: FixedClock(), logger: Logger(label: "test.push"),
                sl651Frames: SL651PushFixture.frames, backoff: Self.policy, sleeper: sleeper)
            let running = Task { await service.run() }
            while !fixture.undelivered.isEmpty { await Task.yield() }
            running.cancel()
            await running.value
        }
        // Each report reached the county by at least one transport; none was lost.
        let bySL651 = Set(centre.frames.map(\.frame).filter { $0.function != 0x2F }.map { Int64($0.serial) })
        #expect(county.storedSequences.union(bySL651) == Set(1...7))
        #expect(centre.failures.isEmpty)
    }

    @Test func aServiceNeverRunShutsItsClientDown() throws {
        let fixture = try PushFixture()
        _ = try PushService(
            outbox: fixture.outbox, writer: fixture.outbox.writer, configuration: configuration(port: 9, keyFile: try PushFixture.keyFile()),
            station: PushFixture.station, clock: FixedClock(), logger: Logger(label: "t"))
    }

    @Test func aMissingKeyFileOrMappingIsRefusedAtSetUp() throws {
        let fixture = try PushFixture()
        var county = CountyConfiguration()
        county.httpPush = HTTPPushConfiguration(url: "http://127.0.0.1:9/v1/push", keyFile: "/nonexistent/push.key")
        #expect(throws: PushSetupError.self) {
            _ = try PushService(outbox: fixture.outbox, writer: fixture.outbox.writer, configuration: county, station: PushFixture.station, clock: FixedClock(), logger: Logger(label: "t"))
        }
        // Both transports, the SL 651 one without a mapping: refused, and the HTTP client made
        // for the other is never left un-shut-down.
        var sl651Only = CountyConfiguration()
        sl651Only.sl651Push = SL651PushConfiguration(host: "127.0.0.1", port: 9)
        sl651Only.httpPush = HTTPPushConfiguration(url: "http://127.0.0.1:9/v1/push", keyFile: try PushFixture.keyFile())
        do {
            _ = try PushService(outbox: fixture.outbox, writer: fixture.outbox.writer, configuration: sl651Only, station: PushFixture.station, clock: FixedClock(), logger: Logger(label: "t"))
            Issue.record("an SL 651 push without a mapping must be refused")
        } catch {
            #expect(error.description.hasPrefix("[county.sl651]"))
        }
    }
}
