// The inputs on their dedicated threads: tips over a bouncing simulated reed switch, the buttons'
// press rules, and a Modbus bus with a dead slave and an unplugged adapter.
import Checksums
import Drivers
import Foundation
import Testing
import TimeSeam
import WarningLogic
@testable import VillageGateway

/// Collects what the inputs submit (the engine owner's queue in the program).
actor CollectingSink: EventSink {
    private(set) var events: [Event] = []

    func submit(_ event: Event) async { events.append(event) }

    /// Waits until `done` holds, with a hang guard (never a timing assertion).
    func wait(_ done: @Sendable ([Event]) -> Bool) async -> [Event] {
        for _ in 0..<4_000 where !done(events) {
            try? await Task.sleep(nanoseconds: 5_000_000)
        }
        return events
    }
}

/// A box clock standing at one instant; its waits last their length on the wall (`StandingClock`).
struct FixedClock: GatewayClock {
    static let time = Timestamp(millisecondsSinceUnixEpoch: 1_700_000_000_000)
    func nowNanoseconds() -> Int64 { Self.time.millisecondsSinceUnixEpoch * 1_000_000 }
    func sleep(untilNanoseconds deadline: Int64) async { await StandingClock(time: Self.time).sleep(untilNanoseconds: deadline) }
    func sleepBlocking(untilNanoseconds deadline: Int64) { StandingClock(time: Self.time).sleepBlocking(untilNanoseconds: deadline) }
}

func tipSum(_ events: [Event], sensorId: String = "rain1") -> Int {
    events.reduce(0) { sum, event in
        if case .tips(let id, let count) = event.kind, id == sensorId { sum + count } else { sum }
    }
}

/// A Modbus RTU slave twin: answers function 03/04 reads for the slaves it has, from fixed registers.
final class SimulatedModbusSlaves: SimulatedSerialDevice {
    var registersBySlave: [UInt8: UInt16]
    private var buffer: [UInt8] = []

    init(registersBySlave: [UInt8: UInt16]) {
        self.registersBySlave = registersBySlave
    }

    func receive(_ bytes: [UInt8]) -> [UInt8] {
        buffer += bytes
        guard buffer.count >= 8 else { return [] }
        let request = Array(buffer.prefix(8))
        buffer.removeAll()
        guard let value = registersBySlave[request[0]] else { return [] }  // a dead slave: silence
        let count = Int(request[4]) << 8 | Int(request[5])
        var reply: [UInt8] = [request[0], request[1], UInt8(count * 2)]
        for _ in 0..<count { reply += [UInt8(value >> 8), UInt8(value & 0xFF)] }
        let crc = CRC16Modbus.checksum(reply)
        return reply + [UInt8(crc & 0xFF), UInt8(crc >> 8)]
    }
}

/// Counts port opens across the bus thread and the test.
final class OpenCounter: @unchecked Sendable {
    private let lock = NSLock()
    private var value = 0
    func next() -> Int {
        lock.lock()
        defer { lock.unlock() }
        value += 1
        return value
    }
}

@Suite struct HardwareInputsTests {
    static let rainLine: UInt32 = 17

    /// A reed switch at rest (high, pull-up) and `tips` closures one second apart, each with
    /// contact bounce on closing.
    func bouncingGauge(tips: Int) throws -> (any GPIOInput, SimulatedGPIOChip) {
        let chip = SimulatedGPIOChip(clock: SimulatedClock())
        chip.setRestingLevel(offset: Self.rainLine, high: true)
        var edges: [GPIOEdgeEvent] = []
        for tip in 1...tips {
            let t = Int64(tip) * 1_000_000_000
            edges += [
                GPIOEdgeEvent(.falling, atNanoseconds: t), GPIOEdgeEvent(.rising, atNanoseconds: t + 1_000_000),
                GPIOEdgeEvent(.falling, atNanoseconds: t + 2_000_000), GPIOEdgeEvent(.rising, atNanoseconds: t + 150_000_000),
            ]
        }
        chip.schedule(edges, offset: Self.rainLine)
        let input = try chip.openInput(GPIOInputConfiguration(line: .offset(Self.rainLine), consumer: "rain1", debounceMilliseconds: 20))
        return (input, chip)
    }

    @Test func everyTipReachesTheEngineAndBounceIsCounted() async throws {
        let (line, _) = try bouncingGauge(tips: 25)
        // The chip's clock stands for box time here: an edge at 1 s is a tip at 1 s.
        let gauge = TipCounterInput(sensorId: "rain1", input: line, eventTime: { nanoseconds, _ in Timestamp(millisecondsSinceUnixEpoch: nanoseconds / 1_000_000) })
        let sink = CollectingSink()
        let task = Task { try await gauge.run(into: sink, clock: FixedClock()) }
        let events = await sink.wait { tipSum($0) >= 25 }
        task.cancel()
        _ = await task.result
        #expect(tipSum(events) == 25)
        // Each event carries the edge time of its newest tip: the edge that began the stable
        // closure (2 ms into each second here, after the bounce), not the moment the thread or
        // the clock got to it.
        #expect(events.allSatisfy { $0.time.millisecondsSinceUnixEpoch % 1_000 == 2 && $0.time != FixedClock.time }, "\(events)")
        #expect(events.last?.time == Timestamp(millisecondsSinceUnixEpoch: 25_002))
        #expect(gauge.counters.tipsCounted == 25 && gauge.counters.tipsSubmitted == 25)
        #expect(gauge.counters.rejectedEdges == 50)  // two bounce edges per tip
        #expect(gauge.inputDescription.contains("rain gauge rain1"))
    }

    /// On a board the kernel stamps edges on CLOCK_MONOTONIC: an edge 2 s old is a tip 2 s before now.
    @Test func aKernelEdgeTimestampBecomesTheBoxTimeOfTheEdge() {
        let now = Timestamp(millisecondsSinceUnixEpoch: 1_700_000_000_000)
        let twoSecondsAgo = SystemMonotonicClock.nowNanoseconds() - 2_000_000_000
        let stamped = kernelEdgeTime(twoSecondsAgo, now)
        let ageMilliseconds = now.milliseconds(since: stamped)
        #expect(ageMilliseconds >= 2_000 && ageMilliseconds < 2_000 + 60_000, "\(ageMilliseconds)")
        // An edge "from the future" (clock read order) is never stamped after now.
        #expect(kernelEdgeTime(SystemMonotonicClock.nowNanoseconds() + 5_000_000_000, now) == now)
    }

    @Test func tipsArrivingWhileTheEngineIsBusyAreCoalescedNotDropped() async {
        let queue = ThreadToAsyncEventQueue(capacity: 1)
        for _ in 0..<1_000 { #expect(queue.put(.tips(sensorId: "rain1", count: 1))) }
        #expect(queue.pendingTipCount == 1_000)
        let first = await queue.next()
        #expect(first == .tips(sensorId: "rain1", count: 1_000))
    }

    @Test func aRunningInputCannotBeRunTwice() async throws {
        let (line, _) = try bouncingGauge(tips: 1)
        let gauge = TipCounterInput(sensorId: "rain1", input: line)
        let sink = CollectingSink()
        let task = Task { try await gauge.run(into: sink, clock: FixedClock()) }
        _ = await sink.wait { tipSum($0) >= 1 }
        await #expect(throws: HardwareInputError.self) { try await gauge.run(into: sink, clock: FixedClock()) }
        task.cancel()
        _ = await task.result
    }

    @Test func aVanishedChipStopsTheGaugeWithAnErrorATechnicianCanRead() async throws {
        let (line, chip) = try bouncingGauge(tips: 1)
        chip.vanish()
        let gauge = TipCounterInput(sensorId: "rain1", input: line)
        do {
            try await gauge.run(into: CollectingSink(), clock: FixedClock())
            Issue.record("the gauge kept running on a vanished chip")
        } catch {
            #expect("\(error)".contains("disappeared"))
            #expect("\(error)".contains("rain gauge rain1"))
        }
    }

    @Test func theDrillKeyStartsOnlyAfterADeliberateHoldAndStopsOnAShortPress() {
        let role = ButtonInput.Role.drillKey(level: .orange)
        var pressed: Int64?
        func change(_ kind: GPIOInputEvent.Kind, atMilliseconds ms: Int64) -> Event.Kind? {
            ButtonInput.meaning(of: GPIOInputEvent(kind, atNanoseconds: ms * 1_000_000), role: role, pressedAtNanoseconds: &pressed)
        }
        #expect(change(.activated, atMilliseconds: 1_000) == nil)
        #expect(change(.released, atMilliseconds: 3_999) == .drillStop(by: "drill key"))
        #expect(change(.activated, atMilliseconds: 10_000) == nil)
        #expect(change(.released, atMilliseconds: 13_000) == .drillStart(level: .orange, by: "drill key"))
        // A release with no press seen (held since before start) means nothing.
        #expect(change(.released, atMilliseconds: 20_000) == nil)
        var none: Int64?
        #expect(ButtonInput.meaning(of: GPIOInputEvent(.activated, atNanoseconds: 0), role: .acknowledge, pressedAtNanoseconds: &none)
            == .acknowledge(by: "button", channel: .button))
    }

    @Test func theDrillKeyOnItsLineStartsADrillAtTheConfiguredLevel() async throws {
        let chip = SimulatedGPIOChip(clock: SimulatedClock())
        chip.setRestingLevel(offset: 5, high: true)
        chip.schedule(
            [GPIOEdgeEvent(.falling, atNanoseconds: 1_000_000_000), GPIOEdgeEvent(.rising, atNanoseconds: 4_500_000_000),
             GPIOEdgeEvent(.falling, atNanoseconds: 9_000_000_000), GPIOEdgeEvent(.rising, atNanoseconds: 9_300_000_000)],
            offset: 5)
        let line = try chip.openInput(GPIOInputConfiguration(line: .offset(5), consumer: "drill", debounceMilliseconds: 30))
        let key = ButtonInput(role: .drillKey(level: .red), input: line)
        let sink = CollectingSink()
        let task = Task { try await key.run(into: sink, clock: FixedClock()) }
        let events = await sink.wait { $0.count >= 2 }
        task.cancel()
        _ = await task.result
        #expect(events.map(\.kind) == [.drillStart(level: .red, by: "drill key"), .drillStop(by: "drill key")])
    }

    static let settings = SerialSettings(baudRate: 115_200)

    func sensor(_ id: String, slave: UInt8, intervalMilliseconds: Int64 = 100) -> ModbusSensor {
        ModbusSensor(sensorId: id, poll: ModbusPoll(name: id, slaveID: slave, function: .holdingRegisters, address: 0),
                     pollIntervalMilliseconds: intervalMilliseconds)
    }

    @Test func aDeadSlaveBecomesReadFailuresWhileItsNeighbourKeepsReading() async throws {
        let input = try ModbusPollingInput(
            busName: "rs485", portPath: "/dev/ttySIM0",
            opener: {
                SimulatedSerialPort(clock: SimulatedClock(), device: SimulatedModbusSlaves(registersBySlave: [1: 1234]), byteTimeMicroseconds: 0)
            },
            settings: Self.settings, masterConfiguration: .init(timeoutMilliseconds: 50, retriesMax: 2),
            sensors: [sensor("level1", slave: 1), sensor("slope1", slave: 2)])
        let sink = CollectingSink()
        let task = Task { try await input.run(into: sink, clock: FixedClock()) }
        let events = await sink.wait { events in
            events.filter { if case .reading = $0.kind { true } else { false } }.count >= 3
        }
        task.cancel()
        _ = await task.result
        let readings = events.compactMap { if case .reading(let id, let value) = $0.kind { (id, value) } else { nil } }
        let failures = events.compactMap { if case .readFailure(let id, let reason) = $0.kind { (id, reason) } else { nil } }
        #expect(readings.count >= 3 && readings.allSatisfy { $0.0 == "level1" && $0.1 == 1234 })
        #expect(!failures.isEmpty && failures.allSatisfy { $0.0 == "slope1" && $0.1.contains("no reply from slave 2") })
        #expect(input.inputDescription == "RS-485 bus rs485 on /dev/ttySIM0")
        // What `status` shows for the bus: the dead slave's timeouts, the live one's good replies.
        let counts = Dictionary(uniqueKeysWithValues: input.statusCounters().map { ($0.name, $0.value) })
        #expect(counts["port opens"] == 1)
        #expect((counts["slave 1 good replies"] ?? 0) >= 3 && counts["slave 1 timeouts"] == 0)
        #expect((counts["slave 2 timeouts"] ?? 0) >= 1 && counts["slave 2 good replies"] == 0)
        #expect(counts["slave 2 requests"] == counts["slave 2 timeouts"])
    }

    @Test func anUnpluggedAdapterIsReportedAndTheBusReopens() async throws {
        let opens = OpenCounter()
        let input = try ModbusPollingInput(
            busName: "rs485", portPath: "/dev/ttyUSB0",
            opener: { () throws(SerialError) -> any SerialTransport in
                let number = opens.next()
                if number == 2 { throw .notFound(path: "/dev/ttyUSB0") }  // still unplugged
                let port = SimulatedSerialPort(clock: SimulatedClock(), device: SimulatedModbusSlaves(registersBySlave: [1: 7]), byteTimeMicroseconds: 0)
                if number == 1 { port.readsBeforeVanishing = 4 }
                return port
            },
            settings: Self.settings, sensors: [sensor("level1", slave: 1), sensor("level2", slave: 3, intervalMilliseconds: 60_000)],
            // The first reopen comes after level1's interval, so its failure is reported again.
            reopenBackoffInitialMilliseconds: 150, reopenBackoffMaxMilliseconds: 300)
        let sink = CollectingSink()
        let task = Task { try await input.run(into: sink, clock: FixedClock()) }
        let events = await sink.wait { events in
            input.portCounters.opens >= 2 && events.last.map { if case .reading = $0.kind { true } else { false } } == true
        }
        task.cancel()
        _ = await task.result
        let kinds = events.map(\.kind)
        #expect(kinds.contains(.readFailure(sensorId: "level1", reason: "port failed: simulated:/dev/ttySIM0 disappeared (USB adapter unplugged or cable fault); reopening")))
        #expect(kinds.contains { if case .readFailure("level2", let reason) = $0 { reason.contains("port failed") } else { false } })
        #expect(kinds.contains { if case .readFailure("level1", let reason) = $0 { reason.contains("no serial device /dev/ttyUSB0") } else { false } })
        #expect(input.portCounters.failures == 1 && input.portCounters.opens == 2)
        #expect(kinds.last == .reading(sensorId: "level1", value: 7))
        // The good replies before the unplug are still counted after the reopen's new master.
        let counts = Dictionary(uniqueKeysWithValues: input.statusCounters().map { ($0.name, $0.value) })
        #expect((counts["slave 1 good replies"] ?? 0) >= 2, "\(counts)")
        #expect(counts["port failures"] == 1)
    }

    @Test func sensorsArePolledOnTheirOwnIntervalsInTurn() {
        var schedule = ModbusPollSchedule(intervalsMilliseconds: [1_000, 5_000], startMilliseconds: 0)
        #expect(schedule.dueSensor(nowMilliseconds: 0) == 0)
        schedule.polled(0, nowMilliseconds: 30)
        #expect(schedule.dueSensor(nowMilliseconds: 30) == 1)
        schedule.polled(1, nowMilliseconds: 530)  // a dead slave took its timeout
        #expect(schedule.dueSensor(nowMilliseconds: 999) == nil)
        #expect(schedule.earliestDueMilliseconds == 1_000)
        schedule.polled(0, nowMilliseconds: 1_010)
        #expect(schedule.nextDueMilliseconds == [2_000, 5_000])
        // Fallen behind by more than an interval: no burst of catch-up polls.
        schedule.polled(0, nowMilliseconds: 7_500)
        #expect(schedule.nextDueMilliseconds[0] == 8_500)
    }

    @Test func reopeningBacksOffExponentiallyUpToItsBound() {
        var backoff = ReopenBackoff(initialMilliseconds: 1_000, maxMilliseconds: 60_000)
        #expect((0..<8).map { _ in backoff.takeDelay() } == [1_000, 2_000, 4_000, 8_000, 16_000, 32_000, 60_000, 60_000])
        backoff.reset()
        #expect(backoff.takeDelay() == 1_000)
    }

    @Test func aBusThatCannotBePolledIsRefusedNamingTheSensor() {
        let opener: SerialPortOpener = { () throws(SerialError) -> any SerialTransport in throw .notFound(path: "/dev/null") }
        do {
            _ = try ModbusPollingInput(busName: "rs485", portPath: "/dev/ttyS1", opener: opener, settings: Self.settings,
                                       sensors: [sensor("a", slave: 1), sensor("a", slave: 2)])
            Issue.record("a duplicate sensor was accepted")
        } catch {
            #expect(error.description == "sensor a appears twice on RS-485 bus rs485")
        }
        #expect(throws: HardwareInputError.self) {
            try ModbusPollingInput(busName: "rs485", portPath: "/dev/ttyS1", opener: opener, settings: Self.settings,
                                   sensors: [sensor("fast", slave: 1, intervalMilliseconds: 10)])
        }
    }
}

/// A bus input with fixed counters, to see how `status` prints them.
private struct CountingInput: GatewayInput {
    let inputDescription = "RS-485 bus rs485 on /dev/ttyS1"
    func run(into sink: any EventSink, clock: any GatewayClock) async throws {}
    func statusCounters() -> [InputCounter] {
        [InputCounter(name: "port opens", value: 1), InputCounter(name: "port failures", value: 0)]
            + (1...3).flatMap { slave in
                [InputCounter(name: "slave \(slave) requests", value: 1000 * slave), InputCounter(name: "slave \(slave) timeouts", value: slave),
                 InputCounter(name: "slave \(slave) CRC errors", value: 0)]
            }
    }
}

@Suite struct StatusCountersTests {
    @Test func theStatusPageShowsEveryNonZeroBusCounterWithinEightyColumns() {
        let configuration = ScenarioTests.configuration
        let published = PublishedStatus(configuration: configuration, board: "raspberry-pi-4", stateDirectory: "/var/lib/village-gateway", inputs: [CountingInput()])
        published.update(station: Engine(configuration: configuration).status(), outputs: .safe, counters: RuntimeCounters())
        let report = published.report()
        #expect(report.inputCounters.count == 1)
        let text = report.humanText()
        for expected in ["port opens 1", "slave 1 requests 1000", "slave 2 timeouts 2", "slave 3 requests 3000", "slave 3 timeouts 3"] {
            #expect(text.contains(expected), "\(expected) missing from:\n\(text)")
        }
        #expect(!text.contains("port failures"), "zero counts are left out")
        #expect(!text.contains("CRC errors"), "zero counts are left out")
        #expect(text.split(separator: "\n").allSatisfy { $0.count <= DaemonStatus.columnsMax && !$0.hasSuffix("…") })
    }
}
