// SL 651 uplink: the standard's worked example byte for byte, and reports a county centre decodes to the same numbers.
import Testing
@testable import VillageGateway

@Suite struct SL651UplinkTests {
    let identity = try! SL651StationIdentity(centreAddress: 5, stationAddress: try! SL651StationAddress(digits: "0011223344"), password: 0x03E8)
    let sendTime = try! SL651LocalTime(year: 2017, month: 7, day: 18, hour: 11, minute: 0, second: 16)
    let observed = try! SL651LocalTime(year: 2017, month: 7, day: 18, hour: 11, minute: 0)

    @Test func referenceCRCMatchesThePublishedCheckValue() {
        // CRC-16/MODBUS's catalogued check value for "123456789" is 4B37.
        #expect(sl651ReferenceCRC(Array("123456789".utf8)) == 0x4B37)
    }

    @Test func workedExampleFromTheDomainNotesByteForByte() throws {
        let report = SL651Report(stationClass: .river, observationTime: observed, elements: [
            try .currentRainfall(millimeters: 4.0),
            try .cumulativeRainfall(millimeters: 4.0),
            try .riverLevel(meters: 10.49),
            try .supplyVoltage(volts: 10.99),
        ])
        let frame = try SL651UplinkEncoder.report(identity: identity, functionCode: .timedReport, serialNumber: 0x0034,
                                                  sendTime: sendTime, report: report)
        let expected = "7E7E 05 0011223344 03E8 32 002B 02 0034 170718110016 F1F1 0011223344 48 F0F0 1707181100 2019 000040 2619 000040 3923 00010490 3812 1099 03 A421"
        #expect(sl651Hex(frame) == sl651Hex(sl651Bytes(expected)))
    }

    @Test func everyElementTypeDecodesToTheSameNumbersAtTheirWidestAndMostNegative() throws {
        let cases: [(element: SL651Element, guide: Int, text: String)] = [
            (try .currentRainfall(millimeters: 9999.9), 0x20, "9999.9"),
            (try .cumulativeRainfall(millimeters: 99999.9), 0x26, "99999.9"),
            (try .rainfall1Hour(millimeters: 0), 0x1A, "0.0"),
            (try .rainfall6Hours(millimeters: 123.4), 0x1D, "123.4"),
            (try .rainfallDay(millimeters: 9999.9), 0x1F, "9999.9"),
            (try .riverLevel(meters: 9999.999), 0x39, "9999.999"),
            (try .riverLevel(meters: -9999.999), 0x39, "-9999.999"),
            (try .riverLevel(meters: -1.234), 0x39, "-1.234"),
            (try .riverLevel(meters: -0.001), 0x39, "-0.001"),
            (try .supplyVoltage(volts: 99.99), 0x38, "99.99"),
            (try .supplyVoltage(volts: 0.07), 0x38, "0.07"),
            (SL651Element.statusAndAlarm(bits: 0x8000_0001), 0x45, "0x80000001"),
            (try .fiveMinuteRainfalls(tenthsMillimeters: [0, 1, 2, 5, 10, 25, 100, 254, nil, 3, 0, 7]), 0xF4, "0,1,2,5,10,25,100,254,-,3,0,7"),
        ]
        let report = SL651Report(stationClass: .rainfall, observationTime: observed, elements: cases.map(\.element))
        let frame = try SL651UplinkEncoder.report(identity: identity, functionCode: .addReport, serialNumber: 0xFFFF,
                                                  sendTime: sendTime, report: report, end: .endOfTransmissionBlock)
        let decoded = try sl651DecodeUplink(frame)
        #expect(decoded.centre == 5)
        #expect(decoded.station == "0011223344")
        #expect(decoded.password == 1000)
        #expect(decoded.function == 0x33)
        #expect(decoded.serial == 65535)
        #expect(decoded.sendTime == "170718110016")
        #expect(decoded.stationClass == 0x50)
        #expect(decoded.observationTime == "1707181100")
        #expect(decoded.end == 0x17, "ETB: more packets follow")
        #expect(decoded.elements == cases.map { SL651DecodedElement(guide: $0.guide, value: $0.text) })
    }

    /// Thousands of values across each element's whole range, written as a person would ("-12.345"),
    /// come back from the independent decoder as the same text.
    @Test func randomValuesOverEachFieldsRangeComeBackAsWritten() throws {
        var random = PushRandom(seed: 651)
        let fields: [(SL651NumericElement, maximumScaled: Int64, negative: Bool)] = [
            (.currentRainfall, 99_999, false), (.cumulativeRainfall, 999_999, false), (.rainfall1Hour, 99_999, false),
            (.rainfall6Hours, 99_999, false), (.rainfallDay, 99_999, false), (.riverLevel, 9_999_999, true), (.supplyVoltage, 9_999, false),
        ]
        for (field, maximumScaled, negative) in fields {
            var elements: [SL651Element] = []
            var written: [SL651DecodedElement] = []
            for _ in 0..<200 {
                let scaled = Int64.random(in: (negative ? -maximumScaled : 0)...maximumScaled, using: &random)
                var divisor: Int64 = 1
                for _ in 0..<field.decimals { divisor *= 10 }
                var fraction = String(scaled.magnitude % UInt64(divisor))
                while fraction.count < field.decimals { fraction = "0" + fraction }
                let text = (scaled < 0 ? "-" : "") + "\(scaled.magnitude / UInt64(divisor))." + fraction
                elements.append(try .numeric(field, Double(text)!))
                written.append(SL651DecodedElement(guide: Int(field.guide), value: text))
            }
            let report = SL651Report(stationClass: .river, observationTime: observed, elements: elements)
            let frame = try SL651UplinkEncoder.report(identity: identity, functionCode: .hourlyReport, serialNumber: 7, sendTime: sendTime, report: report)
            #expect(try sl651DecodeUplink(frame).elements == written, "\(field.name)")
        }
    }

    @Test func eachReportFunctionCodeAndStationClassRoundTrips() throws {
        let codes: [(SL651FunctionCode, Int)] = [(.testReport, 0x30), (.timedReport, 0x32), (.addReport, 0x33), (.hourlyReport, 0x34), (.manualReport, 0x35)]
        let classes: [(SL651StationClass, Int)] = [(.rainfall, 0x50), (.river, 0x48), (.reservoir, 0x4B)]
        var serial: UInt16 = 1
        for (code, codeByte) in codes {
            for (stationClass, classByte) in classes {
                let time = try SL651LocalTime(year: 2099, month: 12, day: 31, hour: 23, minute: 59, second: 59)
                let observation = try SL651LocalTime(year: 2000, month: 2, day: 29, hour: 0, minute: 5)
                let report = SL651Report(stationClass: stationClass, observationTime: observation,
                                         elements: [try .rainfall1Hour(millimeters: 12.3), try .riverLevel(meters: -0.5)])
                let decoded = try sl651DecodeUplink(try SL651UplinkEncoder.report(
                    identity: identity, functionCode: code, serialNumber: serial, sendTime: time, report: report))
                #expect(decoded.function == codeByte)
                #expect(decoded.stationClass == classByte)
                #expect(decoded.serial == Int(serial))
                #expect(decoded.sendTime == "991231235959")
                #expect(decoded.observationTime == "0002290005")
                #expect(decoded.elements == [SL651DecodedElement(guide: 0x1A, value: "12.3"), SL651DecodedElement(guide: 0x39, value: "-0.500")])
                #expect(decoded.end == 0x03)
                serial += 1
            }
        }
    }

    @Test func keepAliveCarriesOnlySerialNumberAndSendTime() throws {
        let time = try SL651LocalTime(year: 2017, month: 7, day: 18, hour: 11, minute: 0, second: 56)
        let frame = SL651UplinkEncoder.keepAlive(identity: identity, serialNumber: 0x0035, sendTime: time)
        #expect(frame == sl651WithCRC(sl651Bytes("7E7E 05 0011223344 03E8 2F 0008 02 0035 170718110056 03")))
        let decoded = try sl651DecodeUplink(frame)
        #expect(decoded.function == 0x2F && decoded.bodyLength == 8 && decoded.elements.isEmpty)
    }

    @Test func aNegativeLevelIsAnFFByteBeforeTheFullWidthMagnitude() throws {
        // Z -1.234 m below the datum: the identifier's byte count grows from 4 to 5 to cover the FF.
        let element = try SL651Element.riverLevel(meters: -1.234)
        #expect(sl651Hex([element.guide, element.dataDefinition] + element.valueBytes) == "392BFF00001234")
        let positive = try SL651Element.riverLevel(meters: 1.234)
        #expect(sl651Hex([positive.guide, positive.dataDefinition] + positive.valueBytes) == "392300001234")
    }

    @Test func roundsHalfAwayFromZeroOnTheNumberAsWritten() throws {
        // 1.005 is 1.00499999999999989… as a double; a person rounds the written 1.005 up, and so do we.
        #expect(try SL651Element.supplyVoltage(volts: 1.005).valueBytes == [0x01, 0x01])
        #expect(try SL651Element.supplyVoltage(volts: 1.004).valueBytes == [0x01, 0x00])
        #expect(try SL651Element.currentRainfall(millimeters: 0.05).valueBytes == [0x00, 0x00, 0x01])
        #expect(try SL651Element.currentRainfall(millimeters: 0.04).valueBytes == [0x00, 0x00, 0x00])
        #expect(try SL651Element.currentRainfall(millimeters: 2.25).valueBytes == [0x00, 0x00, 0x23], "half goes up, not to even")
        #expect(try SL651Element.riverLevel(meters: 10.4905).valueBytes == [0x00, 0x01, 0x04, 0x91])
        #expect(try SL651Element.riverLevel(meters: -0.0005).valueBytes == [0xFF, 0x00, 0x00, 0x00, 0x01], "away from zero when negative")
        #expect(try SL651Element.riverLevel(meters: -0.0004).valueBytes == [0x00, 0x00, 0x00, 0x00], "rounds to zero, sent as plain zero")
        #expect(SL651Rounding.scaledHalfAwayFromZero(2.5, decimals: 0) == 3)
        #expect(SL651Rounding.scaledHalfAwayFromZero(-2.5, decimals: 0) == -3)
        #expect(SL651Rounding.scaledHalfAwayFromZero(1e-05, decimals: 3) == 0)
        #expect(SL651Rounding.scaledHalfAwayFromZero(5e-05, decimals: 4) == 1)
        #expect(SL651Rounding.scaledHalfAwayFromZero(1.5e+3, decimals: 2) == 150_000)
        #expect(SL651Rounding.scaledHalfAwayFromZero(1.0e+20, decimals: 0) == nil)
    }

    @Test func valuesTooWideForTheirFieldAreRefusedNamingElementAndValue() {
        func refusal(_ build: () throws(SL651EncodingError) -> SL651Element) -> SL651EncodingError? {
            do { _ = try build(); return nil } catch { return error }
        }
        let tooMuchRain = refusal { () throws(SL651EncodingError) in try .currentRainfall(millimeters: 10000.0) }
        #expect(tooMuchRain == .valueOutOfRange(element: "PJ current rainfall", value: 10000.0, unit: "mm", allowed: "0.0 to 9999.9 mm"))
        #expect(tooMuchRain?.description == "PJ current rainfall 10000.0 mm does not fit its field: allowed 0.0 to 9999.9 mm")
        // 99.995 V rounds to 100.00 V, which needs a fifth digit: refused after rounding, not truncated to 00.00.
        #expect(refusal { () throws(SL651EncodingError) in try .supplyVoltage(volts: 99.995) } ==
            .valueOutOfRange(element: "VT supply voltage", value: 99.995, unit: "V", allowed: "0.00 to 99.99 V"))
        #expect(refusal { () throws(SL651EncodingError) in try .riverLevel(meters: -10000.0) } ==
            .valueOutOfRange(element: "Z river level", value: -10000.0, unit: "m", allowed: "-9999.999 to 9999.999 m"))
        #expect(refusal { () throws(SL651EncodingError) in try .riverLevel(meters: 10000.0) } != nil)
        #expect(refusal { () throws(SL651EncodingError) in try .cumulativeRainfall(millimeters: 100000.0) } != nil)
        #expect(refusal { () throws(SL651EncodingError) in try .cumulativeRainfall(millimeters: 99999.94) } == nil)
        #expect(refusal { () throws(SL651EncodingError) in try .rainfallDay(millimeters: -0.1) } ==
            .valueNegative(element: "PD daily rainfall", value: -0.1, unit: "mm"))
        #expect(refusal { () throws(SL651EncodingError) in try .rainfall6Hours(millimeters: .nan) } != nil)
        #expect(refusal { () throws(SL651EncodingError) in try .rainfall1Hour(millimeters: .infinity) } != nil)
        #expect(refusal { () throws(SL651EncodingError) in try .fiveMinuteRainfalls(tenthsMillimeters: [Int?](repeating: 0, count: 11)) } ==
            .fiveMinuteRainfallCount(found: 11))
        #expect(refusal { () throws(SL651EncodingError) in try .fiveMinuteRainfalls(tenthsMillimeters: [Int?](repeating: 0, count: 11) + [255]) } ==
            .fiveMinuteRainfallOutOfRange(slot: 11, tenthsMillimeters: 255))
    }

    @Test func refusesAddressesTimesAndFunctionCodesTheStandardDoesNotAllow() throws {
        #expect(throws: SL651EncodingError.invalidStationAddress("00112233")) { try SL651StationAddress(digits: "00112233") }
        #expect(throws: SL651EncodingError.invalidStationAddress("00112233AB")) { try SL651StationAddress(digits: "00112233AB") }
        let station = try SL651StationAddress(digits: "0011223344")
        #expect(throws: SL651EncodingError.invalidCentreAddress(0)) { try SL651StationIdentity(centreAddress: 0, stationAddress: station, password: 0) }
        #expect(throws: SL651EncodingError.invalidCentreAddress(256)) { try SL651StationIdentity(centreAddress: 256, stationAddress: station, password: 0) }
        #expect(throws: SL651EncodingError.invalidTime("2017-02-29 00:00:00")) { try SL651LocalTime(year: 2017, month: 2, day: 29, hour: 0, minute: 0) }
        #expect(throws: SL651EncodingError.invalidTime("2100-01-01 00:00:00")) { try SL651LocalTime(year: 2100, month: 1, day: 1, hour: 0, minute: 0) }
        let report = SL651Report(stationClass: .river, observationTime: sendTime, elements: [])
        #expect(throws: SL651EncodingError.observationTimeNotWholeMinute("2017-07-18 11:00:16")) {
            try SL651UplinkEncoder.report(identity: identity, functionCode: .timedReport, serialNumber: 1, sendTime: sendTime, report: report)
        }
        let wholeMinute = SL651Report(stationClass: .river, observationTime: observed, elements: [])
        #expect(throws: SL651EncodingError.functionCodeHasNoElementBody(.keepAlive)) {
            try SL651UplinkEncoder.report(identity: identity, functionCode: .keepAlive, serialNumber: 1, sendTime: sendTime, report: wholeMinute)
        }
        #expect(throws: SL651EncodingError.functionCodeHasNoElementBody(.uniformIntervalReport)) {
            try SL651UplinkEncoder.report(identity: identity, functionCode: .uniformIntervalReport, serialNumber: 1, sendTime: sendTime, report: wholeMinute)
        }
    }

    @Test func aBodyBeyondTheTwelveBitLengthIsRefusedNotWrapped() throws {
        // 23 bytes before the elements + 287 × 14-byte F4 elements = 4041 bytes fits; 23 + 293 × 14 = 4125 does not.
        let slots = [Int?](repeating: 1, count: 12)
        let element = try SL651Element.fiveMinuteRainfalls(tenthsMillimeters: slots)
        let fits = SL651Report(stationClass: .rainfall, observationTime: observed, elements: Array(repeating: element, count: 287))
        let frame = try SL651UplinkEncoder.report(identity: identity, functionCode: .hourlyReport, serialNumber: 1, sendTime: sendTime, report: fits)
        #expect(try sl651DecodeUplink(frame).bodyLength == 23 + 287 * 14)
        let tooLong = SL651Report(stationClass: .rainfall, observationTime: observed, elements: Array(repeating: element, count: 293))
        #expect(throws: SL651EncodingError.bodyTooLong(bytes: 23 + 293 * 14)) {
            try SL651UplinkEncoder.report(identity: identity, functionCode: .hourlyReport, serialNumber: 1, sendTime: sendTime, report: tooLong)
        }
    }
}
