// Turning raw 16-bit registers into engineering values (int16 … float32, in whatever word and
// byte order the sensor's manual says, then scale and offset): the value type the config maps onto.

public enum ModbusValueType: String, Sendable, CaseIterable {
    case int16, uint16, int32, uint32, float32

    public var registerCount: Int {
        switch self {
        case .int16, .uint16: 1
        case .int32, .uint32, .float32: 2
        }
    }
}

/// Order of the two registers of a 32-bit value. `big`: the first register holds the high word
/// (Modbus convention, "ABCD"); `little`: the first register holds the low word ("CDAB",
/// common in Chinese displacement and level transmitters).
public enum ModbusWordOrder: String, Sendable, CaseIterable {
    case big, little
}

/// Order of the two bytes inside each register. `big` is the Modbus standard; `little`
/// ("BADC"/"DCBA") is for devices that swap them.
public enum ModbusByteOrder: String, Sendable, CaseIterable {
    case big, little
}

public struct ModbusDecoding: Sendable, Equatable, CustomStringConvertible {
    public var type: ModbusValueType
    public var wordOrder: ModbusWordOrder
    public var byteOrder: ModbusByteOrder
    /// Engineering value = raw × scale + offset (e.g. scale 0.01 for a gauge reporting centimetres as metres).
    public var scale: Double
    public var offset: Double

    public init(
        type: ModbusValueType = .uint16,
        wordOrder: ModbusWordOrder = .big,
        byteOrder: ModbusByteOrder = .big,
        scale: Double = 1,
        offset: Double = 0
    ) {
        self.type = type
        self.wordOrder = wordOrder
        self.byteOrder = byteOrder
        self.scale = scale
        self.offset = offset
    }

    public var description: String {
        "\(type.rawValue) word order \(wordOrder.rawValue) byte order \(byteOrder.rawValue) scale \(scale) offset \(offset)"
    }

    /// Decodes consecutive values; the register count must be a whole number of values, since a
    /// half-read float is a wrong number, not a smaller one.
    public func decode(_ registers: [UInt16]) throws(ModbusError) -> [Double] {
        let width = type.registerCount
        guard registers.count % width == 0 else {
            throw .invalidRequest(
                "\(registers.count) registers do not hold a whole number of \(type.rawValue) values (\(width) registers each)")
        }
        return stride(from: 0, to: registers.count, by: width).map { start in
            scaled(rawValue(Array(registers[start..<start + width])))
        }
    }

    /// raw × scale + offset, as the nearest double to the decimal a person would write: a scale
    /// of 0.001 divides by 1000 (1213 × 0.001 would be 1.2130000000000001), so readings keep
    /// the digits the sensor has and survive a round trip through any JSON reader unchanged.
    func scaled(_ raw: Double) -> Double {
        let inverse = 1 / scale
        let value = inverse.rounded() == inverse && abs(inverse) >= 1 ? raw / inverse : raw * scale
        return value + offset
    }

    /// The value before scale and offset.
    public func rawValue(_ registers: [UInt16]) -> Double {
        precondition(registers.count == type.registerCount, "rawValue needs exactly one value's registers")
        let ordered = registers.map { byteOrder == .big ? $0 : $0.byteSwapped }
        switch type {
        case .int16: return Double(Int16(bitPattern: ordered[0]))
        case .uint16: return Double(ordered[0])
        case .int32, .uint32, .float32:
            let (high, low) = wordOrder == .big ? (ordered[0], ordered[1]) : (ordered[1], ordered[0])
            let bits = UInt32(high) << 16 | UInt32(low)
            switch type {
            case .int32: return Double(Int32(bitPattern: bits))
            case .uint32: return Double(bits)
            default:
                // A float32 carries about 7 significant digits: take the shortest decimal that is
                // this float (12.07), not the double nearest its binary value (12.069999694824219),
                // whose noise digits some JSON readers do not round-trip.
                let float = Float(bitPattern: bits)
                guard float.isFinite else { return Double(float) }
                return Double(String(float)) ?? Double(float)
            }
        }
    }
}
