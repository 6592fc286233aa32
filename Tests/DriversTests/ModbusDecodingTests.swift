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
}
