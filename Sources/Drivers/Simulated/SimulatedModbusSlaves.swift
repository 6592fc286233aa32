// A twin of the RS-485 sensors on one bus: Modbus RTU slaves answering function 03/04 reads from
// registers that a test or the scenario's player sets, for `--board sim` and the tests.
import Checksums
import Synchronization

/// The slaves behind one simulated serial port. A request for a slave it does not have, a slave
/// set silent, or a frame with a bad CRC gets no answer (as on a real bus); a register never set
/// gets exception 02 (illegal data address). Thread-safe: the bus owner's thread asks, the
/// scenario's player sets registers from another.
public final class SimulatedModbusSlaves: SimulatedSerialDevice, Sendable {
    /// Bounds the registers one twin keeps (a few sensors use a few registers each).
    public static let registersMax = 4_096
    /// A read request is 8 bytes; a partial frame longer than this is line noise and dropped.
    static let requestBytes = 8

    private struct State {
        var registers: [UInt8: [UInt16: UInt16]] = [:]
        var silentSlaves: Set<UInt8> = []
        var buffer: [UInt8] = []
        var requestsAnswered = 0
    }

    private let state = Mutex(State())

    public init() {}

    /// Sets a slave's registers from `address` on (each register answers both 03 and 04), and
    /// makes the slave answer again if it was silent.
    public func set(slave: UInt8, address: UInt16, registers values: [UInt16]) {
        state.withLock { state in
            var registers = state.registers[slave, default: [:]]
            for (index, value) in values.enumerated() where registers.count < Self.registersMax || registers[address &+ UInt16(index)] != nil {
                registers[address &+ UInt16(index)] = value
            }
            state.registers[slave] = registers
            state.silentSlaves.remove(slave)
        }
    }

    /// A slave that stops answering (a dead sensor, a cut cable) until it is set again.
    public func silence(slave: UInt8) {
        state.withLock { _ = $0.silentSlaves.insert(slave) }
    }

    /// Reads answered so far.
    public var requestsAnswered: Int { state.withLock { $0.requestsAnswered } }

    public func receive(_ bytes: [UInt8]) -> [UInt8] {
        state.withLock { state in
            state.buffer += bytes
            guard state.buffer.count >= Self.requestBytes else { return [] }
            let request = Array(state.buffer.prefix(Self.requestBytes))
            state.buffer.removeAll()
            let crc = CRC16Modbus.checksum(Array(request.prefix(6)))
            guard request[6] == UInt8(crc & 0xFF), request[7] == UInt8(crc >> 8) else { return [] }
            let slave = request[0]
            let function = request[1]
            guard let registers = state.registers[slave], !state.silentSlaves.contains(slave) else { return [] }
            let address = UInt16(request[2]) << 8 | UInt16(request[3])
            let count = Int(request[4]) << 8 | Int(request[5])
            var reply: [UInt8]
            if function != 3 && function != 4 {
                reply = [slave, function | 0x80, 0x01]
            } else if let values = Self.read(registers, address: address, count: count) {
                reply = [slave, function, UInt8(count * 2)]
                for value in values { reply += [UInt8(value >> 8), UInt8(value & 0xFF)] }
            } else {
                reply = [slave, function | 0x80, 0x02]
            }
            state.requestsAnswered += 1
            let replyCRC = CRC16Modbus.checksum(reply)
            return reply + [UInt8(replyCRC & 0xFF), UInt8(replyCRC >> 8)]
        }
    }

    private static func read(_ registers: [UInt16: UInt16], address: UInt16, count: Int) -> [UInt16]? {
        guard (1...125).contains(count) else { return nil }
        var values: [UInt16] = []
        for index in 0..<count {
            guard let value = registers[address &+ UInt16(index)] else { return nil }
            values.append(value)
        }
        return values
    }
}

extension ModbusDecoding {
    /// The registers a sensor would hold to read as `value` under this decoding (the inverse of
    /// `decode`, for the twins); nil when the value does not fit the type.
    public func registers(encoding value: Double) -> [UInt16]? {
        guard scale != 0, value.isFinite else { return nil }
        let raw = (value - offset) / scale
        let words: [UInt16]
        switch type {
        case .int16:
            guard let integer = Int16(exactly: raw.rounded()) else { return nil }
            words = [UInt16(bitPattern: integer)]
        case .uint16:
            guard let integer = UInt16(exactly: raw.rounded()) else { return nil }
            words = [integer]
        case .int32, .uint32, .float32:
            let bits: UInt32
            switch type {
            case .int32:
                guard let integer = Int32(exactly: raw.rounded()) else { return nil }
                bits = UInt32(bitPattern: integer)
            case .uint32:
                guard let integer = UInt32(exactly: raw.rounded()) else { return nil }
                bits = integer
            default:
                bits = Float(raw).bitPattern
            }
            let high = UInt16(bits >> 16)
            let low = UInt16(bits & 0xFFFF)
            words = wordOrder == .big ? [high, low] : [low, high]
        }
        return words.map { byteOrder == .big ? $0 : $0.byteSwapped }
    }
}
