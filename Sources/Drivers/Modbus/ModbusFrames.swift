// Modbus RTU requests and replies as bytes: building request frames (functions 03, 04, 06, 16)
// and parsing whatever comes back, garbage included, into a reply or a typed fault.
import Checksums

/// What the master asks of a slave. Addresses are the protocol's 0-based register numbers
/// (register "40001" in a manual's 1-based holding-register notation is address 0).
public enum ModbusRequest: Sendable, Equatable {
    case readHoldingRegisters(address: UInt16, count: Int)
    case readInputRegisters(address: UInt16, count: Int)
    case writeSingleRegister(address: UInt16, value: UInt16)
    case writeMultipleRegisters(address: UInt16, values: [UInt16])

    /// Registers one read may ask for: 125 × 2 bytes fills the 256-byte RTU frame.
    public static let readRegistersMax = 125
    /// Registers one write may carry: 123 × 2 bytes plus the header fills the frame.
    public static let writeRegistersMax = 123
    /// Unicast slave addresses; 0 is broadcast (no reply, so no reading) and 248–255 are reserved.
    public static let slaveIDs: ClosedRange<UInt8> = 1...247

    public var functionCode: UInt8 {
        switch self {
        case .readHoldingRegisters: 0x03
        case .readInputRegisters: 0x04
        case .writeSingleRegister: 0x06
        case .writeMultipleRegisters: 0x10
        }
    }

    /// Refuses what a slave would reject anyway, before it costs a bus transaction.
    public func validate(slaveID: UInt8) throws(ModbusError) {
        guard Self.slaveIDs.contains(slaveID) else {
            throw .invalidRequest("slave address \(slaveID) is outside 1...247")
        }
        let (address, count, countMax): (UInt16, Int, Int) = switch self {
        case .readHoldingRegisters(let address, let count), .readInputRegisters(let address, let count):
            (address, count, Self.readRegistersMax)
        case .writeSingleRegister(let address, _):
            (address, 1, 1)
        case .writeMultipleRegisters(let address, let values):
            (address, values.count, Self.writeRegistersMax)
        }
        guard (1...countMax).contains(count) else {
            throw .invalidRequest("register count \(count) is outside 1...\(countMax) for function \(functionCode)")
        }
        guard Int(address) + count <= 0x1_0000 else {
            throw .invalidRequest("registers \(address)...\(Int(address) + count - 1) run past the last address 65535")
        }
    }

    /// The request frame on the wire: slave, function, data, CRC low byte first.
    /// Call `validate(slaveID:)` first; an invalid request here is a programming error.
    public func frame(slaveID: UInt8) -> [UInt8] {
        var frame: [UInt8] = [slaveID, functionCode]
        switch self {
        case .readHoldingRegisters(let address, let count), .readInputRegisters(let address, let count):
            frame.appendBigEndian(address)
            frame.appendBigEndian(UInt16(count))
        case .writeSingleRegister(let address, let value):
            frame.appendBigEndian(address)
            frame.appendBigEndian(value)
        case .writeMultipleRegisters(let address, let values):
            frame.appendBigEndian(address)
            frame.appendBigEndian(UInt16(values.count))
            frame.append(UInt8(values.count * 2))
            for value in values { frame.appendBigEndian(value) }
        }
        let crc = CRC16Modbus.checksum(frame)
        frame.append(UInt8(crc & 0xFF))
        frame.append(UInt8(crc >> 8))
        precondition(frame.count <= ModbusReplyParser.frameBytesMax, "request frame longer than the RTU maximum")
        return frame
    }

    /// Length of the normal (non-exception) reply.
    public var replyLength: Int {
        switch self {
        case .readHoldingRegisters(_, let count), .readInputRegisters(_, let count): 5 + 2 * count
        case .writeSingleRegister, .writeMultipleRegisters: 8
        }
    }
}

/// What a slave said back when all went well.
public enum ModbusResponse: Sendable, Equatable {
    case registers([UInt16])
    case wroteSingleRegister(address: UInt16, value: UInt16)
    case wroteMultipleRegisters(address: UInt16, count: Int)
}

/// A slave's refusal (the reply's function code with the high bit set, then this code).
public struct ModbusExceptionCode: Sendable, Equatable, Hashable, CustomStringConvertible {
    public let rawValue: UInt8
    public init(_ rawValue: UInt8) { self.rawValue = rawValue }

    public static let illegalFunction = Self(0x01)
    public static let illegalDataAddress = Self(0x02)
    public static let illegalDataValue = Self(0x03)
    public static let slaveDeviceFailure = Self(0x04)
    public static let acknowledge = Self(0x05)
    public static let slaveDeviceBusy = Self(0x06)
    public static let memoryParityError = Self(0x08)
    public static let gatewayPathUnavailable = Self(0x0A)
    public static let gatewayTargetFailedToRespond = Self(0x0B)

    /// The name from the Modbus application protocol, and what to check.
    public var description: String {
        switch rawValue {
        case 0x01: "exception 01 illegal function (the sensor does not support this function: try 3 or 4)"
        case 0x02: "exception 02 illegal data address (no such register: check the register map; 40001 is address 0)"
        case 0x03: "exception 03 illegal data value (count or value out of range for this sensor)"
        case 0x04: "exception 04 slave device failure (the sensor reports an internal fault)"
        case 0x05: "exception 05 acknowledge (the sensor accepted a long command; ask again later)"
        case 0x06: "exception 06 slave device busy (ask again later)"
        case 0x08: "exception 08 memory parity error (the sensor's memory is failing)"
        case 0x0A: "exception 0A gateway path unavailable"
        case 0x0B: "exception 0B gateway target failed to respond"
        default: "exception \(hexByte(rawValue)) (not defined by the Modbus specification)"
        }
    }
}

/// Why a reply could not be used. Each is counted; none is fatal to the bus.
public enum ModbusReplyFault: Sendable, Equatable, CustomStringConvertible {
    case crcMismatch(receivedCRC: UInt16, computedCRC: UInt16)
    case truncated(receivedBytes: Int, expectedBytes: Int)
    case tooLong(receivedBytes: Int, expectedBytes: Int?)
    case wrongSlave(receivedSlaveID: UInt8)
    case wrongFunction(receivedFunction: UInt8)
    case wrongByteCount(receivedByteCount: Int, expectedByteCount: Int)
    case wrongEcho(detail: String)

    public var description: String {
        switch self {
        case .crcMismatch(let received, let computed):
            "bad CRC (received \(hexWord(received)), computed \(hexWord(computed))): noise, wrong baud/parity or missing termination"
        case .truncated(let received, let expected):
            "truncated reply (\(received) of \(expected) bytes): a loose wire or a slave cut off mid-frame"
        case .tooLong(let received, let expected):
            "reply of \(received) bytes, longer than \(expected.map(String.init) ?? "any valid frame"): two slaves answering at once?"
        case .wrongSlave(let received):
            "reply from slave \(received) instead: two sensors share an address, or a late reply from the previous slave"
        case .wrongFunction(let received):
            "reply with function \(hexByte(received)) to a different request"
        case .wrongByteCount(let received, let expected):
            "reply carries \(received) data bytes, expected \(expected)"
        case .wrongEcho(let detail):
            "write reply does not echo the request: \(detail)"
        }
    }
}

/// How one reply frame failed: a slave's definite "no", or a frame we cannot trust.
public enum ModbusReplyFailure: Error, Sendable, Equatable {
    case exception(ModbusExceptionCode)
    case fault(ModbusReplyFault)
}

/// Pure functions over received bytes; no I/O, so the fuzz test can hammer them directly.
public enum ModbusReplyParser {
    /// The longest RTU frame: slave + function + 252 data bytes + CRC.
    public static let frameBytesMax = 256
    /// The shortest complete reply: an exception (slave, function|0x80, code, CRC).
    public static let frameBytesMin = 5

    /// The total length of the frame that `received` begins, once enough of it is in to know;
    /// nil while unknown (too few bytes, or a function code that is not the one we asked).
    public static func frameLength(startingWith received: ArraySlice<UInt8>, for request: ModbusRequest) -> Int? {
        guard received.count >= 2 else { return nil }
        let function = received[received.startIndex + 1]
        if function == request.functionCode | 0x80 { return frameBytesMin }
        guard function == request.functionCode else { return nil }
        switch request {
        case .readHoldingRegisters, .readInputRegisters:
            guard received.count >= 3 else { return nil }
            return 5 + Int(received[received.startIndex + 2])
        case .writeSingleRegister, .writeMultipleRegisters:
            return 8
        }
    }

    /// Parses one received frame as the reply to `request` sent to `slaveID`.
    public static func parse(
        _ frame: ArraySlice<UInt8>, slaveID: UInt8, request: ModbusRequest
    ) -> Result<ModbusResponse, ModbusReplyFailure> {
        let known = frameLength(startingWith: frame, for: request)
        if frame.count > frameBytesMax { return .failure(.fault(.tooLong(receivedBytes: frame.count, expectedBytes: known))) }
        if frame.count < (known ?? frameBytesMin) {
            return .failure(.fault(.truncated(receivedBytes: frame.count, expectedBytes: known ?? frameBytesMin)))
        }
        // A frame longer than its header says: check the CRC where the header says it ends,
        // then call it too long, since the extra bytes mean someone else was talking.
        let length = known ?? frame.count
        let body = frame.prefix(length - 2)
        let receivedCRC = UInt16(frame[frame.startIndex + length - 2]) | UInt16(frame[frame.startIndex + length - 1]) << 8
        let computedCRC = CRC16Modbus.checksum(body)
        guard receivedCRC == computedCRC else {
            return .failure(.fault(.crcMismatch(receivedCRC: receivedCRC, computedCRC: computedCRC)))
        }
        if frame.count > length { return .failure(.fault(.tooLong(receivedBytes: frame.count, expectedBytes: length))) }
        let data = Array(body)  // slave, function, payload: re-indexed from 0
        guard data[0] == slaveID else { return .failure(.fault(.wrongSlave(receivedSlaveID: data[0]))) }
        let function = data[1]
        if function == request.functionCode | 0x80 { return .failure(.exception(ModbusExceptionCode(data[2]))) }
        guard function == request.functionCode else { return .failure(.fault(.wrongFunction(receivedFunction: function))) }
        switch request {
        case .readHoldingRegisters(_, let count), .readInputRegisters(_, let count):
            let byteCount = Int(data[2])
            guard byteCount == 2 * count else {
                return .failure(.fault(.wrongByteCount(receivedByteCount: byteCount, expectedByteCount: 2 * count)))
            }
            let registers = (0..<count).map { UInt16(data[3 + 2 * $0]) << 8 | UInt16(data[4 + 2 * $0]) }
            return .success(.registers(registers))
        case .writeSingleRegister(let address, let value):
            let echoedAddress = UInt16(data[2]) << 8 | UInt16(data[3])
            let echoedValue = UInt16(data[4]) << 8 | UInt16(data[5])
            guard echoedAddress == address, echoedValue == value else {
                return .failure(.fault(.wrongEcho(detail: "address \(echoedAddress) value \(echoedValue), sent \(address) value \(value)")))
            }
            return .success(.wroteSingleRegister(address: address, value: value))
        case .writeMultipleRegisters(let address, let values):
            let echoedAddress = UInt16(data[2]) << 8 | UInt16(data[3])
            let echoedCount = Int(UInt16(data[4]) << 8 | UInt16(data[5]))
            guard echoedAddress == address, echoedCount == values.count else {
                return .failure(.fault(.wrongEcho(detail: "address \(echoedAddress) count \(echoedCount), sent \(address) count \(values.count)")))
            }
            return .success(.wroteMultipleRegisters(address: address, count: values.count))
        }
    }
}

extension [UInt8] {
    mutating func appendBigEndian(_ value: UInt16) {
        append(UInt8(value >> 8))
        append(UInt8(value & 0xFF))
    }
}

func hexByte(_ value: UInt8) -> String {
    let digits = String(value, radix: 16, uppercase: true)
    return digits.count == 1 ? "0" + digits : digits
}

func hexWord(_ value: UInt16) -> String {
    hexByte(UInt8(value >> 8)) + hexByte(UInt8(value & 0xFF))
}
