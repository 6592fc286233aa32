// Register decoding as sensor manuals describe it: types, word and byte orders, scale and offset.
import Testing
@testable import Drivers

@Suite struct ModbusDecodingTests {
    @Test func sixteenBitValuesAreSignedOrUnsignedAsConfigured() throws {
        #expect(try ModbusDecoding(type: .int16).decode([0xFFFE, 0x0005]) == [-2, 5])
        #expect(try ModbusDecoding(type: .uint16).decode([0xFFFE]) == [65534])
        #expect(try ModbusDecoding(type: .uint16, byteOrder: .little).decode([0x3412]) == [0x1234])
    }

    @Test func thirtyTwoBitValuesFollowTheWordOrder() throws {
        #expect(try ModbusDecoding(type: .uint32).decode([0x0001, 0x0002]) == [65538])
        #expect(try ModbusDecoding(type: .uint32, wordOrder: .little).decode([0x0002, 0x0001]) == [65538])
        #expect(try ModbusDecoding(type: .int32).decode([0xFFFF, 0xFFFF]) == [-1])
        #expect(try ModbusDecoding(type: .int32, wordOrder: .little).decode([0xFFFE, 0xFFFF]) == [-2])
    }

    @Test func floatsDecodeInAllFourLayoutsSensorsUse() throws {
        // 21.5 is 0x41AC0000 in IEEE 754.
        #expect(try ModbusDecoding(type: .float32).decode([0x41AC, 0x0000]) == [21.5])  // ABCD
        #expect(try ModbusDecoding(type: .float32, wordOrder: .little).decode([0x0000, 0x41AC]) == [21.5])  // CDAB
        #expect(try ModbusDecoding(type: .float32, byteOrder: .little).decode([0xAC41, 0x0000]) == [21.5])  // BADC
        #expect(try ModbusDecoding(type: .float32, wordOrder: .little, byteOrder: .little).decode([0x0000, 0xAC41]) == [21.5])  // DCBA
    }

    @Test func scaleAndOffsetTurnCountsIntoEngineeringUnits() throws {
        let values = try ModbusDecoding(type: .int16, scale: 0.1, offset: -5).decode([1234, 0xFFF6])
        #expect(abs(values[0] - 118.4) < 1e-9)
        #expect(abs(values[1] - -6.0) < 1e-9)
    }

    @Test func aHalfValueIsRefusedNotMisread() {
        #expect(throws: ModbusError.self) { try ModbusDecoding(type: .float32).decode([0x41AC, 0x0000, 0x1234]) }
    }

    /// A reading is the decimal the sensor means: a float32 of 12.07 is 12.07 (not the double
    /// 12.069999694824219, whose noise digits a JSON reader on the county side changed), and
    /// 1213 at scale 0.001 is 1.213.
    @Test func readingsAreTheDecimalsTheSensorMeansNotBinaryNoise() throws {
        let bits = Float(12.07).bitPattern
        #expect(try ModbusDecoding(type: .float32).decode([UInt16(bits >> 16), UInt16(bits & 0xFFFF)]) == [12.07])
        #expect(try ModbusDecoding(type: .uint16, scale: 0.001).decode([1213]) == [1.213])
        #expect(try ModbusDecoding(type: .int16, scale: 0.1, offset: -40).decode([655]) == [25.5])
    }

    /// The twins' encoder is decode's inverse, in every layout (the simulated slaves hold what a
    /// scenario row says, and the bus owner must read it back).
    @Test func theTwinsEncodingReadsBackAsTheSameValue() throws {
        for wordOrder in ModbusWordOrder.allCases {
            for byteOrder in ModbusByteOrder.allCases {
                let float = ModbusDecoding(type: .float32, wordOrder: wordOrder, byteOrder: byteOrder)
                #expect(try float.decode(try #require(float.registers(encoding: 21.53))) == [21.53])
                let level = ModbusDecoding(type: .uint16, byteOrder: byteOrder, scale: 0.001)
                #expect(try level.decode(try #require(level.registers(encoding: 1.245))) == [1.245])
                let signed = ModbusDecoding(type: .int32, wordOrder: wordOrder, byteOrder: byteOrder)
                #expect(try signed.decode(try #require(signed.registers(encoding: -70_000))) == [-70_000])
            }
        }
        #expect(ModbusDecoding(type: .uint16).registers(encoding: -1) == nil)
        #expect(ModbusDecoding(type: .uint16, scale: 0.001).registers(encoding: 70) == nil)
    }
}
