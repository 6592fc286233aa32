// One RS-485 bus and the sensors on it: polls each configured reading in turn through one
// master, so slaves are never asked concurrently and a dead slave delays the others by at most
// one timeout per round.

/// One reading the config asks for: which slave, which registers, how to decode them.
public struct ModbusPoll: Sendable, Equatable {
    /// The config's name for this reading ("slope-1-displacement"); unique on the bus.
    public var name: String
    public var slaveID: UInt8
    public var function: ModbusReadFunction
    public var address: UInt16
    /// Number of decoded values; the registers read are `valueCount × type.registerCount`.
    public var valueCount: Int
    public var decoding: ModbusDecoding

    public init(
        name: String, slaveID: UInt8, function: ModbusReadFunction, address: UInt16, valueCount: Int = 1,
        decoding: ModbusDecoding = ModbusDecoding()
    ) {
        self.name = name
        self.slaveID = slaveID
        self.function = function
        self.address = address
        self.valueCount = valueCount
        self.decoding = decoding
    }

    public var registerCount: Int { valueCount * decoding.type.registerCount }
}

/// A good reading: the raw registers (for the technician's "what did the sensor say") and the
/// decoded engineering values.
public struct ModbusReading: Sendable, Equatable {
    public var pollName: String
    public var slaveID: UInt8
    public var registers: [UInt16]
    public var values: [Double]
    public var receivedMonotonicNanoseconds: UInt64
}

public enum ModbusPollOutcome: Sendable, Equatable {
    case reading(ModbusReading)
    case failed(pollName: String, slaveID: UInt8, error: ModbusError)
}

public final class ModbusBus {
    /// Readings one bus may be asked for; a polling round must stay short enough for the
    /// rain and displacement rules to see fresh values.
    public static let pollsMax = 64

    public let master: ModbusRTUMaster
    public let polls: [ModbusPoll]
    private var lastGoodReadings: [String: ModbusReading] = [:]
    /// Slaves whose last transaction heard nothing. They get one try per round instead of
    /// 1 + retriesMax, so a dead sensor costs its neighbours one timeout, not three.
    private var silentSlaves: Set<UInt8> = []

    public init(master: ModbusRTUMaster, polls: [ModbusPoll]) throws(ModbusError) {
        guard polls.count <= Self.pollsMax else {
            throw .invalidRequest("\(polls.count) readings on one bus; at most \(Self.pollsMax)")
        }
        var names: Set<String> = []
        for poll in polls {
            guard names.insert(poll.name).inserted else {
                throw .invalidRequest("reading name '\(poll.name)' is used twice on \(master.transport.portDescription)")
            }
            let request: ModbusRequest = .readHoldingRegisters(address: poll.address, count: poll.registerCount)
            do {
                try request.validate(slaveID: poll.slaveID)
            } catch .invalidRequest(let detail) {
                throw .invalidRequest("reading '\(poll.name)': \(detail)")
            }
        }
        self.master = master
        self.polls = polls
    }

    /// Per-slave health, from the master.
    public var counters: [UInt8: ModbusSlaveCounters] { master.counters }

    public func lastGoodReading(pollName: String) -> ModbusReading? {
        lastGoodReadings[pollName]
    }

    /// One round: every poll once, in order. A slave's failure is an outcome, not an
    /// exception; only a failing port (unplugged adapter) ends the round early, by throwing, so
    /// the owner can reopen it.
    public func pollOnce() throws(SerialError) -> [ModbusPollOutcome] {
        var outcomes: [ModbusPollOutcome] = []
        outcomes.reserveCapacity(polls.count)
        for poll in polls {
            let attempts: Int? = silentSlaves.contains(poll.slaveID) ? 1 : nil
            do throws(ModbusError) {
                let registers = try master.readRegisters(
                    slaveID: poll.slaveID, function: poll.function, address: poll.address, count: poll.registerCount,
                    attemptsMax: attempts)
                silentSlaves.remove(poll.slaveID)
                let reading = ModbusReading(
                    pollName: poll.name, slaveID: poll.slaveID, registers: registers,
                    values: try poll.decoding.decode(registers),
                    receivedMonotonicNanoseconds: MonotonicDeadline.nowNanoseconds())
                lastGoodReadings[poll.name] = reading
                outcomes.append(.reading(reading))
            } catch {
                if case .transport(let serialError) = error { throw serialError }
                if case .noReply = error {
                    silentSlaves.insert(poll.slaveID)
                } else {
                    silentSlaves.remove(poll.slaveID)  // it answered, even if badly
                }
                outcomes.append(.failed(pollName: poll.name, slaveID: poll.slaveID, error: error))
            }
        }
        return outcomes
    }
}
