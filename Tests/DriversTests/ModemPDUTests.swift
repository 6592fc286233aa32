// SMS-SUBMIT PDUs checked against PDUs published by modem vendors, and the splitting rules.
import Testing
@testable import Drivers

@Suite struct ModemPDUTests {
    @Test func ucs2PDUMatchesSIMComPublishedExample() throws {
        // SIMCom OpenSDK SMS demo (sc_demo/src/demo_sms.c, github.com/sh-lyf/ASR1606):
        // "send pdu sms(1234你好, 0001000D91683163048215F500080C00310032003300344F60597D) to (13364028515)".
        let parts = try SMSSubmitEncoder.encode(
            destination: "+8613364028515", text: "1234你好", validityPeriodRelative: nil,
            concatenationReference: 0, partsMax: 1)
        #expect(parts.map(\.hex) == ["0001000D91683163048215F500080C00310032003300344F60597D"])
        #expect(parts[0].tpduLength == 26)  // the demo's AT+CMGS length
    }

    @Test func ucs2PDUMatchesNeowayManualExample() throws {
        // Neoway N11 AT command manual, PDU SMS example with SMSC length 0:
        // "0001000B813124819396F300080A00680065006C006C006F" ("hello" to national 13421839693), length 23.
        let parts = try SMSSubmitEncoder.encode(
            destination: "13421839693", text: "hello", validityPeriodRelative: nil,
            concatenationReference: 0, partsMax: 1)
        #expect(parts.map(\.hex) == ["0001000B813124819396F300080A00680065006C006C006F"])
        #expect(parts[0].tpduLength == 23)
    }

    @Test func concatenatedPartMatchesSIMComPublishedExample() throws {
        // SIMCom SDK SMS sample, concatenated SMS part 1 of 2, reference 0x23, VP 0x01, text "你好":
        // "0051000D91683123904884F30008010A0500032302014F60597D" (AT+CMGS length 25).
        let address = try SMSSubmitEncoder.encodeAddress("+8613320984483")
        let part = SMSSubmitEncoder.part(
            address: address, units: Array("你好".utf16)[...], validityPeriodRelative: 0x01,
            concatenation: SMSConcatenation(reference: 0x23, partCount: 2, sequenceNumber: 1))
        #expect(part.hex == "0051000D91683123904884F30008010A0500032302014F60597D")
        #expect(part.tpduLength == 25)
    }

    @Test func seventyCharactersFitOneSMSAndSeventyOneNeedTwo() throws {
        let seventy = String(repeating: "雨", count: 70)
        let one = try SMSSubmitEncoder.encode(destination: "+8613800138000", text: seventy, concatenationReference: 9, partsMax: 10)
        #expect(one.count == 1)
        #expect(one[0].octets[1] == 0x11)
        #expect(one[0].tpduLength == 15 + 140)
        let two = try SMSSubmitEncoder.encode(destination: "+8613800138000", text: seventy + "。", concatenationReference: 9, partsMax: 10)
        #expect(two.count == 2)
        #expect(two.allSatisfy { $0.octets[1] == 0x51 })
    }

    @Test func longTextIsSplitIntoSixtySevenCharacterPartsWithOneReference() throws {
        let text = String(repeating: "山洪预警", count: 35)  // 140 characters
        let parts = try SMSSubmitEncoder.encode(destination: "+8613800138000", text: text, concatenationReference: 0xC8, partsMax: 10)
        #expect(parts.count == 3)
        var reassembled: [UInt16] = []
        for (index, part) in parts.enumerated() {
            let octets = part.octets
            // 00 | 51 | 00 | 0D 91 + 7 address octets | 00 08 | A7 | UDL | 05 00 03 ref total seq | text
            let udlIndex = 1 + 1 + 1 + 2 + 7 + 2 + 1
            let header = Array(octets[(udlIndex + 1)...(udlIndex + 6)])
            #expect(header == [0x05, 0x00, 0x03, 0xC8, 3, UInt8(index + 1)])
            let body = Array(octets[(udlIndex + 7)...])
            #expect(Int(octets[udlIndex]) == 6 + body.count)
            #expect(body.count <= 134)
            for pair in stride(from: 0, to: body.count, by: 2) {
                reassembled.append(UInt16(body[pair]) << 8 | UInt16(body[pair + 1]))
            }
        }
        #expect(String(decoding: reassembled, as: UTF16.self) == text)
        #expect(parts.map { ($0.octets.count - 22) / 2 } == [67, 67, 6])
    }

    @Test func aSurrogatePairIsNeverSplitAcrossParts() throws {
        // 66 characters, then a character outside the BMP (two UTF-16 units) at the part boundary.
        let text = String(repeating: "水", count: 66) + "𠀀" + String(repeating: "位", count: 10)
        let parts = try SMSSubmitEncoder.encode(destination: "+8613800138000", text: text, concatenationReference: 1, partsMax: 10)
        #expect(parts.count == 2)
        #expect((parts[0].octets.count - 22) / 2 == 66)
    }

    @Test func badNumbersAndOverlongTextsAreRefused() {
        #expect(throws: ModemError.invalidPhoneNumber("+86 138-0013")) {
            _ = try SMSSubmitEncoder.encode(destination: "+86 138-0013", text: "x", concatenationReference: 0, partsMax: 1)
        }
        #expect(throws: ModemError.invalidPhoneNumber("")) {
            _ = try SMSSubmitEncoder.encodeAddress("")
        }
        #expect(throws: ModemError.textTooLong(utf16Units: 201, partsMax: 2)) {
            _ = try SMSSubmitEncoder.encode(destination: "+8613800138000", text: String(repeating: "a", count: 201),
                                            concatenationReference: 0, partsMax: 2)
        }
        #expect(throws: ModemError.invalidSetting("SMS parts limit 0 must be 1…255")) {
            _ = try SMSSubmitEncoder.encode(destination: "+8613800138000", text: "a", concatenationReference: 0, partsMax: 0)
        }
    }
}
