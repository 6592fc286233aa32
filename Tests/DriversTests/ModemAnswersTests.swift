// What the modem says on its own, as typed events, and the SMS-DELIVER PDUs replies arrive in.
import Testing
@testable import Drivers

@Suite struct ModemAnswersTests {
    @Test func unsolicitedLinesBecomeTypedEvents() throws {
        let reply = try SMSDeliverEncoder.hex(sender: "+8613800000001", text: "收到")
        let events = ModemEventParser.events(from: [
            "+CMTI: \"SM\",3", "RING", "+CLIP: \"+8613800000002\",145,,,,0", "+CREG: 5", "+CEREG: 1,\"1A2B\",\"01C3D4E5\",7",
            "+CGREG: 2", "+QTONEDET: 49", "+RXDTMF: #", "NO CARRIER", "BUSY", "+CMT: ,24", reply, "RDY", "+QTONEDET: 7",
        ])
        #expect(events == [
            .messageStored(storage: "SM", index: 3), .ring, .callerID(number: "+8613800000002"), .registration(.circuit, .registeredRoaming),
            .registration(.eps, .registeredHome), .registration(.packet, .searching), .key("1"), .key("#"), .callEnded("NO CARRIER"),
            .callEnded("BUSY"), .messageDelivered(IncomingSMS(sender: "+8613800000001", text: "收到")), .other("RDY"), .other("+QTONEDET: 7"),
        ])
    }

    @Test func aHandWrittenUCS2ReplyDecodes() throws {
        // SMSC +8613800200500; SMS-DELIVER from +8613800000001; UCS-2; 2020-08-04 04:00 +08; "收到".
        let sms = try SMSDeliverDecoder.decode(hex: "0891683108200005F0040D91683108000000F10008024080400000230465365230")
        #expect(sms == IncomingSMS(sender: "+8613800000001", text: "收到"))
    }

    @Test func aGSM7ReplyFromANationalNumberDecodes() throws {
        // "1" from 13800000001 (national, type 81), default alphabet: one septet 0x31.
        let sms = try SMSDeliverDecoder.decode(hex: "00" + "04" + "0B813108000000F1" + "00" + "00" + "02408040000023" + "01" + "31")
        #expect(sms == IncomingSMS(sender: "13800000001", text: "1"))
        // "hello" packs 5 septets into 5 octets: E8 32 9B FD 06.
        let hello = try SMSDeliverDecoder.decode(hex: "00" + "04" + "0B813108000000F1" + "00" + "00" + "02408040000023" + "05" + "E8329BFD06")
        #expect(hello.text == "hello")
    }

    @Test func aConcatenatedPartKeepsItsPlace() throws {
        // UDHI set, header 05 00 03 2A 02 01, then "收到" in UCS-2.
        let sms = try SMSDeliverDecoder.decode(hex: "00" + "44" + "0D91683108000000F1" + "00" + "08" + "02408040000023" + "0A" + "0500032A0201" + "65365230")
        #expect(sms.text == "收到")
        #expect(sms.concatenation == SMSConcatenation(reference: 0x2A, partCount: 2, sequenceNumber: 1))
    }

    @Test func damagedPDUsAreErrorsNotCrashes() {
        for hex in ["", "0", "ZZ", "0891683108200005F0", "00" + "01" + "0B813108000000F1", "00040B813108000000F10008024080400000230A6536"] {
            #expect(throws: SMSDeliverDecoder.DecodeError.self) { try SMSDeliverDecoder.decode(hex: hex) }
        }
    }

    @Test func theTwinStoresAnnouncesListsAndDeletesReplies() throws {
        let clock = SimulatedClock()
        let twin = SimulatedModem()
        let modem = Modem(channel: ATChannel(transport: SimulatedSerialPort(clock: clock, device: twin), clock: clock))
        try modem.configure()
        try twin.deliverSMS(from: "+8613800000001", text: "早到")  // before AT+CNMI: stored silently
        try modem.enableAnswers()
        try twin.deliverSMS(from: "13900000003", text: "收到")
        let events = try modem.listen(timeoutMilliseconds: 10)
        #expect(events == [.messageStored(storage: "SM", index: 2)])
        #expect(try modem.readMessage(index: 2)?.get() == IncomingSMS(sender: "13900000003", text: "收到"))
        let stored = try modem.storedMessages()
        #expect(stored.map(\.index) == [1, 2])
        #expect(try stored.first?.message.get() == IncomingSMS(sender: "+8613800000001", text: "早到"))
        try modem.deleteMessage(index: 1)
        try modem.deleteMessage(index: 2)
        #expect(twin.storedMessageCount == 0)
        #expect(try modem.readMessage(index: 2) == nil, "an empty slot is nil, not an error")
    }

    @Test func callsTheTwinAnswersOrNot() throws {
        let clock = SimulatedClock()
        let twin = SimulatedModem()
        let modem = Modem(channel: ATChannel(transport: SimulatedSerialPort(clock: clock, device: twin), clock: clock))
        try modem.configure()
        twin.setCallBehaviour(.pickUp(key: "5"), for: "+8613800000001")
        try modem.enableKeyDetection(model: .quectelEC2x)
        try modem.dial("+8613800000001")
        #expect(try modem.currentCalls().map(\.state) == [.alerting])
        #expect(try modem.currentCalls().map(\.state) == [.active])
        try modem.speak("红色预警", model: .quectelEC2x)
        #expect(twin.spokenInCalls == ["红色预警"])
        #expect(try modem.listen(timeoutMilliseconds: 10).contains(.key("5")))
        try modem.hangUp()
        #expect(try modem.currentCalls().isEmpty)
        twin.setCallBehaviour(.busy, for: "13800000002")
        try modem.dial("13800000002")
        #expect(try modem.listen(timeoutMilliseconds: 10) == [.callEnded("BUSY")])
        #expect(throws: ModemError.self) { try modem.speak("x", model: .generic) }
        #expect(throws: ModemError.self) { try modem.dial("13x") }
    }
}
