// One RS-485 bus as a runtime input: a dedicated thread owns the port and the Modbus master,
// polls each sensor on its own interval, and reopens the port with backoff when it fails.
import Foundation
import Drivers
import Logging
import Synchronization
import TimeSeam
import WarningLogic

/// One sensor on a bus: the engine's sensor id, what to read, how often.
struct ModbusSensor: Sendable, Equatable {
    var sensorId: String
    var poll: ModbusPoll
    var pollIntervalMilliseconds: Int64

    init(sensorId: String, poll: ModbusPoll, pollIntervalMilliseconds: Int64) {
        self.sensorId = sensorId
        self.poll = poll
        self.pollIntervalMilliseconds = pollIntervalMilliseconds
    }
}

/// When each sensor is next due. Pure: the bus owner asks it what to poll and how long to wait.
struct ModbusPollSchedule: Equatable {
    private(set) var nextDueMilliseconds: [Int64]
    let intervalsMilliseconds: [Int64]

    init(intervalsMilliseconds: [Int64], startMilliseconds: Int64) {
        self.intervalsMilliseconds = intervalsMilliseconds
        // Everything is due at once on start; the bus takes them in configuration order.
        nextDueMilliseconds = intervalsMilliseconds.map { _ in startMilliseconds }
    }

    /// The sensor to poll now (the most overdue; ties in configuration order), or nil.
    func dueSensor(nowMilliseconds: Int64) -> Int? {
        var best: Int?
        for index in nextDueMilliseconds.indices where nextDueMilliseconds[index] <= nowMilliseconds {
            if best.map({ nextDueMilliseconds[index] < nextDueMilliseconds[$0] }) ?? true { best = index }
        }
        return best
    }

    var earliestDueMilliseconds: Int64? { nextDueMilliseconds.min() }

    /// The sensor was polled (or reported failed) at `nowMilliseconds`. The next poll is one
    /// interval after the due time, not after the poll, so a slow neighbour does not make the
    /// intervals drift; a sensor that fell more than an interval behind starts again from now
    /// instead of firing a burst of catch-up polls.
    mutating func polled(_ index: Int, nowMilliseconds: Int64) {
        let next = nextDueMilliseconds[index] + intervalsMilliseconds[index]
        nextDueMilliseconds[index] = next > nowMilliseconds ? next : nowMilliseconds + intervalsMilliseconds[index]
    }
}

/// Bounded exponential backoff between attempts to reopen a failed port.
struct ReopenBackoff: Equatable {
    let initialMilliseconds: Int64
    let maxMilliseconds: Int64
    private(set) var nextDelayMilliseconds: Int64

    init(initialMilliseconds: Int64, maxMilliseconds: Int64) {
        precondition(initialMilliseconds > 0 && maxMilliseconds >= initialMilliseconds, "backoff bounds must be positive and ordered")
        self.initialMilliseconds = initialMilliseconds
        self.maxMilliseconds = maxMilliseconds
        nextDelayMilliseconds = initialMilliseconds
    }

    /// The delay before the next attempt; doubles up to the maximum.
    mutating func takeDelay() -> Int64 {
        let delay = nextDelayMilliseconds
        nextDelayMilliseconds = min(maxMilliseconds, nextDelayMilliseconds * 2)
        return delay
    }

    mutating func reset() { nextDelayMilliseconds = initialMilliseconds }
}

/// Opens the bus's serial port; called on the bus thread, first at start and again after a failure.
typealias SerialPortOpener = @Sendable () throws(SerialError) -> any SerialTransport

/// The one owner of an RS-485 bus. Slaves are asked in turn, never concurrently; a dead slave
/// costs its neighbours one timeout per poll (the driver gives a silent slave one try instead of
/// 1 + retries). When the port itself fails (USB adapter unplugged), every sensor on the bus is
/// reported failed, and the port is reopened with bounded exponential backoff; failures keep
/// being reported on each sensor's interval while it is down, so the engine sees the fault and
/// not just staleness.
final class ModbusPollingInput: GatewayInput, Sendable {
    /// Readings waiting for the engine's queue; beyond it the bus thread waits (backpressure).
    static let pendingEventsMax = 64
    static let reopenBackoffInitialMillisecondsDefault: Int64 = 1_000
    static let reopenBackoffMaxMillisecondsDefault: Int64 = 60_000
    /// A poll interval shorter than this would keep the bus busy with one sensor.
    static let pollIntervalMillisecondsMin: Int64 = 100

    let busName: String
    let inputDescription: String
    let sensors: [ModbusSensor]
    private let opener: SerialPortOpener
    /// The bus thread's clock for its schedule and waits: the monotonic clock on a board, the
    /// scenario's pace in simulation (made on the thread: a clock belongs to one thread).
    private let makeClock: @Sendable () -> any GatewayClock
    private let settings: SerialSettings
    private let masterConfiguration: ModbusRTUMaster.Configuration
    private let reopenBackoffInitialMilliseconds: Int64
    private let reopenBackoffMaxMilliseconds: Int64
    private let logger: Logger
    private let runOnce = RunOnce()
    /// Written by the bus thread, read by `status` from any thread.
    private struct Counts {
        var portOpens = 0
        var portFailures = 0
        /// Per-slave counts of masters whose port failed (a reopened port starts a new master), and
        /// of the master polling now; `status` shows their sum, so a flaky adapter cannot hide errors.
        var slaveCountersOfClosedPorts: [UInt8: ModbusSlaveCounters] = [:]
        var slaveCountersOfOpenPort: [UInt8: ModbusSlaveCounters] = [:]
    }
    private let counts = Mutex(Counts())

    /// Throws when the sensor list cannot be polled (duplicate names, a reading of more than one
    /// value, an interval under 100 ms), naming the sensor.
    init(
        busName: String, portPath: String, opener: @escaping SerialPortOpener, settings: SerialSettings,
        masterConfiguration: ModbusRTUMaster.Configuration = .init(), sensors: [ModbusSensor],
        reopenBackoffInitialMilliseconds: Int64 = reopenBackoffInitialMillisecondsDefault,
        reopenBackoffMaxMilliseconds: Int64 = reopenBackoffMaxMillisecondsDefault,
        makeClock: @escaping @Sendable () -> any GatewayClock = { SystemMonotonicClock() },
        logger: Logger = Logger(label: "village-gateway.modbus")
    ) throws(HardwareInputError) {
        guard !sensors.isEmpty else { throw HardwareInputError(description: "RS-485 bus \(busName) has no sensors to poll") }
        guard sensors.count <= ModbusBus.pollsMax else {
            throw HardwareInputError(description: "RS-485 bus \(busName) has \(sensors.count) sensors; at most \(ModbusBus.pollsMax)")
        }
        var ids: Set<String> = []
        for sensor in sensors {
            guard ids.insert(sensor.sensorId).inserted else {
                throw HardwareInputError(description: "sensor \(sensor.sensorId) appears twice on RS-485 bus \(busName)")
            }
            guard sensor.poll.valueCount == 1 else {
                throw HardwareInputError(
                    description: "sensor \(sensor.sensorId) on bus \(busName) reads \(sensor.poll.valueCount) values; a sensor gives the engine one")
            }
            guard sensor.pollIntervalMilliseconds >= Self.pollIntervalMillisecondsMin else {
                throw HardwareInputError(
                    description: "sensor \(sensor.sensorId) on bus \(busName) polls every \(sensor.pollIntervalMilliseconds) ms; at least \(Self.pollIntervalMillisecondsMin) ms")
            }
        }
        guard reopenBackoffInitialMilliseconds > 0, reopenBackoffMaxMilliseconds >= reopenBackoffInitialMilliseconds else {
            throw HardwareInputError(description: "reopen backoff \(reopenBackoffInitialMilliseconds)…\(reopenBackoffMaxMilliseconds) ms must be positive and ordered")
        }
        self.busName = busName
        self.makeClock = makeClock
        self.opener = opener
        self.settings = settings
        self.masterConfiguration = masterConfiguration
        self.sensors = sensors
        self.reopenBackoffInitialMilliseconds = reopenBackoffInitialMilliseconds
        self.reopenBackoffMaxMilliseconds = reopenBackoffMaxMilliseconds
        self.logger = logger
        inputDescription = "RS-485 bus \(busName) on \(portPath)"
    }

    /// How often the port was opened, and how often it failed (for `status`).
    var portCounters: (opens: Int, failures: Int) {
        counts.withLock { ($0.portOpens, $0.portFailures) }
    }

    /// Port opens and failures, then per slave: requests, good replies, timeouts, CRC errors,
    /// exceptions and malformed replies since the daemon started.
    func statusCounters() -> [InputCounter] {
        let now = counts.withLock { $0 }
        var result = [InputCounter(name: "port opens", value: now.portOpens), InputCounter(name: "port failures", value: now.portFailures)]
        var total = now.slaveCountersOfClosedPorts
        for (slave, counts) in now.slaveCountersOfOpenPort { total[slave] = Self.sum(total[slave] ?? ModbusSlaveCounters(), counts) }
        for slave in total.keys.sorted() {
            let counts = total[slave] ?? ModbusSlaveCounters()
            result += [
                InputCounter(name: "slave \(slave) requests", value: counts.requests),
                InputCounter(name: "slave \(slave) good replies", value: counts.goodReplies),
                InputCounter(name: "slave \(slave) timeouts", value: counts.timeouts),
                InputCounter(name: "slave \(slave) CRC errors", value: counts.crcErrors),
                InputCounter(name: "slave \(slave) exceptions", value: counts.exceptions),
                InputCounter(name: "slave \(slave) bad frames", value: counts.badFrames),
            ]
        }
        return result
    }

    static func sum(_ a: ModbusSlaveCounters, _ b: ModbusSlaveCounters) -> ModbusSlaveCounters {
        var total = a
        total.requests += b.requests
        total.goodReplies += b.goodReplies
        total.timeouts += b.timeouts
        total.crcErrors += b.crcErrors
        total.exceptions += b.exceptions
        total.badFrames += b.badFrames
        total.lastGoodReplyMonotonicNanoseconds = max(a.lastGoodReplyMonotonicNanoseconds ?? 0, b.lastGoodReplyMonotonicNanoseconds ?? 0)
        if total.lastGoodReplyMonotonicNanoseconds == 0 { total.lastGoodReplyMonotonicNanoseconds = nil }
        return total
    }

    /// Called on the bus thread after every poll: the master's counts as they stand.
    private func publish(_ counts: [UInt8: ModbusSlaveCounters]) {
        self.counts.withLock { $0.slaveCountersOfOpenPort = counts }
    }

    func run(into sink: any EventSink, clock: any GatewayClock) async throws {
        try runOnce.claim(inputDescription)
        let queue = ThreadToAsyncEventQueue(capacity: Self.pendingEventsMax)
        startDedicatedThread(name: "modbus-\(busName)") { [self] in
            ownBus(queue: queue)
        }
        while let kind = await queue.next() {
            await sink.submit(Event(time: clock.now(), kind: kind))
        }
        queue.cancel()
        await queue.producerEnded()
    }

    /// The bus thread: open, poll on schedule, and on a port failure report and reopen. Ends
    /// when the consumer is cancelled.
    private func ownBus(queue: ThreadToAsyncEventQueue) {
        defer { queue.finish() }
        let clock = makeClock()
        var schedule = ModbusPollSchedule(intervalsMilliseconds: sensors.map(\.pollIntervalMilliseconds), startMilliseconds: clock.nowMilliseconds())
        var backoff = ReopenBackoff(initialMilliseconds: reopenBackoffInitialMilliseconds, maxMilliseconds: reopenBackoffMaxMilliseconds)
        while !queue.isCancelled {
            let buses: [ModbusBus]
            do throws(HardwareInputError) {
                buses = try openBuses(clock: clock)
                backoff.reset()
            } catch {
                logger.error("cannot open RS-485 bus", metadata: ["bus": "\(busName)", "error": "\(error)"])
                reportDue(&schedule, reason: error.description, now: clock.nowMilliseconds(), queue: queue)
                if queue.sleepUnlessCancelled(clockMilliseconds: backoff.takeDelay(), clock: clock) { return }
                continue
            }
            let failure = pollUntilPortFails(buses, schedule: &schedule, clock: clock, queue: queue)
            guard let failure else { return }  // cancelled
            counts.withLock { now in
                now.portFailures += 1
                for (slave, counts) in now.slaveCountersOfOpenPort {
                    now.slaveCountersOfClosedPorts[slave] = Self.sum(now.slaveCountersOfClosedPorts[slave] ?? ModbusSlaveCounters(), counts)
                }
                now.slaveCountersOfOpenPort = [:]
            }
            let reason = "port failed: \(failure); reopening"
            logger.error("RS-485 port failed", metadata: ["bus": "\(busName)", "error": "\(failure)"])
            // Every sensor is blind now, whatever its schedule says.
            for sensor in sensors {
                guard queue.put(.readFailure(sensorId: sensor.sensorId, reason: reason)) else { return }
            }
            if queue.sleepUnlessCancelled(clockMilliseconds: backoff.takeDelay(), clock: clock) { return }
        }
    }

    /// One master over a freshly opened port, one single-reading `ModbusBus` per sensor so each
    /// sensor keeps its own interval (the buses share the master, so transactions stay serial).
    private func openBuses(clock: any GatewayClock) throws(HardwareInputError) -> [ModbusBus] {
        let transport: any SerialTransport
        do {
            transport = try opener()
        } catch {
            throw HardwareInputError(description: "cannot open the port: \(error)")
        }
        do throws(ModbusError) {
            let master = try ModbusRTUMaster(transport: transport, settings: settings, configuration: masterConfiguration, clock: clock)
            let buses = try sensors.map { (sensor) throws(ModbusError) in try ModbusBus(master: master, polls: [sensor.poll]) }
            counts.withLock { $0.portOpens += 1 }
            logger.info("RS-485 bus open", metadata: ["bus": "\(busName)", "port": "\(transport.portDescription)"])
            return buses
        } catch {
            throw HardwareInputError(description: "bus \(busName) cannot be set up: \(error)")
        }
    }

    /// Polls until the port fails (returns its error) or the input is cancelled (returns nil).
    private func pollUntilPortFails(
        _ buses: [ModbusBus], schedule: inout ModbusPollSchedule, clock: any GatewayClock, queue: ThreadToAsyncEventQueue
    ) -> SerialError? {
        while !queue.isCancelled {
            let now = clock.nowMilliseconds()
            guard let index = schedule.dueSensor(nowMilliseconds: now) else {
                let wait = (schedule.earliestDueMilliseconds ?? now + Self.pollIntervalMillisecondsMin) - now
                if queue.sleepUnlessCancelled(clockMilliseconds: wait, clock: clock) { return nil }
                continue
            }
            let outcomes: [ModbusPollOutcome]
            do {
                outcomes = try buses[index].pollOnce()
            } catch {
                publish(buses[index].counters)
                schedule.polled(index, nowMilliseconds: clock.nowMilliseconds())
                return error
            }
            publish(buses[index].counters)
            schedule.polled(index, nowMilliseconds: clock.nowMilliseconds())
            for outcome in outcomes {
                guard queue.put(Self.event(for: sensors[index], outcome: outcome)) else { return nil }
            }
        }
        return nil
    }

    /// Reports every sensor that is due as failed (the port cannot be opened), on its interval.
    private func reportDue(_ schedule: inout ModbusPollSchedule, reason: String, now: Int64, queue: ThreadToAsyncEventQueue) {
        while let index = schedule.dueSensor(nowMilliseconds: now) {
            schedule.polled(index, nowMilliseconds: now)
            guard queue.put(.readFailure(sensorId: sensors[index].sensorId, reason: reason)) else { return }
        }
    }

    static func event(for sensor: ModbusSensor, outcome: ModbusPollOutcome) -> Event.Kind {
        switch outcome {
        case .reading(let reading):
            guard let value = reading.values.first, value.isFinite else {
                return .readFailure(sensorId: sensor.sensorId, reason: "slave \(reading.slaveID) gave no usable value (\(reading.registers))")
            }
            return .reading(sensorId: sensor.sensorId, value: value)
        case .failed(_, _, let error):
            return .readFailure(sensorId: sensor.sensorId, reason: error.description)
        }
    }
}
