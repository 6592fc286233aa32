// The modem driver against the simulated/scripted modem: answers, URCs mid-answer, errors, timeouts.
import Testing
@testable import Drivers

private struct Bench {
    let clock = SimulatedClock()
    let device = SimulatedModem()
    let port: SimulatedSerialPort
    let channel: ATChannel
    let modem: Modem

    init(firstReference: UInt8 = 0) {
        port = SimulatedSerialPort(portDescription: "/dev/ttyUSB2", clock: clock, device: device)
        channel = ATChannel(transport: port, clock: clock)
        modem = Modem(channel: channel, firstConcatenationReference: firstReference)
    }
}

@Suite struct ModemConversationTests {
    @Test func configureTurnsOffEchoAndSelectsPDUMode() throws {
        let bench = Bench()
        try bench.modem.configure()
        #expect(bench.device.commands == ["AT", "ATE0", "AT+CMEE=1", "AT+CMGF=0"])
        #expect(!bench.device.echo)
    }

    @Test func registrationIsReadDespiteACREGURCInTheMiddleOfTheAnswer() throws {
        let bench = Bench()
        bench.device.registration = 5
        bench.device.unsolicitedInNextAnswer = ["+CREG: 1", "RING"]
        #expect(try bench.modem.registration() == .registeredRoaming)
        #expect(bench.modem.takeUnsolicitedLines() == ["+CREG: 1", "RING"])
        #expect(bench.modem.takeUnsolicitedLines().isEmpty)
    }

    @Test func aCREGURCWithLocationIsNotMistakenForTheAnswer() throws {
        let bench = Bench()
        bench.device.scriptedAnswers["AT+CREG?"] = Array(
            "\r\n+CREG: 1,\"1A2B\",\"00C3D4E5\"\r\n\r\n+CREG: 2,3,\"1A2B\",\"00C3D4E5\"\r\n\r\nOK\r\n".utf8)
        #expect(try bench.modem.registration() == .denied)
        #expect(bench.modem.takeUnsolicitedLines() == ["+CREG: 1,\"1A2B\",\"00C3D4E5\""])
    }

    @Test func signalQualityMapsRSSIToDBm() throws {
        let bench = Bench()
        bench.device.rssi = 17
        bench.device.unsolicitedInNextAnswer = ["+CMTI: \"SM\",3"]
        let quality = try bench.modem.signalQuality()
        #expect(quality == SignalQuality(rssi: 17, bitErrorRate: 99))
        #expect(quality.dBm == -79)
        #expect(SignalQuality(rssi: 0, bitErrorRate: 0).dBm == -113)
        #expect(SignalQuality(rssi: 31, bitErrorRate: 0).dBm == -51)
        #expect(SignalQuality(rssi: 99, bitErrorRate: 99).dBm == nil)
        #expect(bench.modem.takeUnsolicitedLines() == ["+CMTI: \"SM\",3"])
    }

    @Test func aChineseSMSArrivesAtTheModemAsTheEncodedPDU() throws {
        let bench = Bench()
        try bench.modem.configure()
        let text = "山洪橙色预警：1小时雨量62毫米，请立即转移。"
        let references = try bench.modem.sendSMS(to: "+8613800138000", text: text)
        #expect(references == [1])
        let expected = try SMSSubmitEncoder.encode(destination: "+8613800138000", text: text, concatenationReference: 0, partsMax: 10)
        #expect(bench.device.receivedPDUs == expected.map(\.hex))
        #expect(bench.device.commands.last == "AT+CMGS=\(expected[0].tpduLength)")
    }

    @Test func aLongSMSGoesOutAsConcatenatedPartsWithTheirOwnReferences() throws {
        let bench = Bench(firstReference: 0x42)
        try bench.modem.configure()
        let text = String(repeating: "立即转移到安置点。", count: 16)  // 144 characters
        let references = try bench.modem.sendSMS(to: "+8613800138000", text: text)
        #expect(references == [1, 2, 3])
        #expect(bench.device.receivedPDUs.count == 3)
        #expect(bench.device.receivedPDUs.allSatisfy { $0.hasPrefix("0051") && $0.contains("050003420") })
        // The next long message uses the next reference, so handsets never mix the two.
        _ = try bench.modem.sendSMS(to: "+8613800138000", text: text)
        #expect(bench.device.receivedPDUs.last!.contains("05000343"))
    }

    @Test func anSMSErrorIsATypedErrorWithItsMeaning() throws {
        let bench = Bench()
        try bench.modem.configure()
        bench.device.smsErrorCode = 330
        let error = #expect(throws: ModemError.self) { _ = try bench.modem.sendSMS(to: "+8613800138000", text: "测试") }
        #expect(error == .smsFailed(command: "AT+CMGS=19", code: 330))
        #expect(error?.description == "modem SMS error 330 on AT+CMGS=19: SMS centre address unknown: set it with AT+CSCA")
    }

    @Test func errorResultCodesBecomeTypedErrors() throws {
        let bench = Bench()
        bench.device.scriptedAnswers["AT+CSQ"] = Array("\r\n+CME ERROR: 10\r\n".utf8)
        #expect(throws: ModemError.equipmentFailed(command: "AT+CSQ", code: 10, text: "10")) {
            _ = try bench.modem.signalQuality()
        }
        #expect(throws: ModemError.commandRejected(command: "AT+BOGUS")) {
            _ = try bench.channel.send("AT+BOGUS", timeoutMilliseconds: 1_000)
        }
        bench.device.scriptedAnswers["AT+CREG?"] = Array("\r\n+CME ERROR: SIM not inserted\r\n".utf8)
        #expect(throws: ModemError.equipmentFailed(command: "AT+CREG?", code: nil, text: "SIM not inserted")) {
            _ = try bench.modem.registration()
        }
    }

    @Test func anIncomingSMSURCWithItsPDULineIsSetAsideWhole() throws {
        let bench = Bench()
        bench.device.scriptedAnswers["AT+CSQ"] = Array(
            "\r\n+CMT: ,23\r\n0891683108200505F0040D91683112345678F90008\r\n+CSQ: 25,0\r\n\r\nOK\r\n".utf8)
        #expect(try bench.modem.signalQuality() == SignalQuality(rssi: 25, bitErrorRate: 0))
        #expect(bench.modem.takeUnsolicitedLines() == ["+CMT: ,23", "0891683108200505F0040D91683112345678F90008"])
    }

    @Test func unsolicitedLinesBetweenCommandsAreKeptNotTakenAsAnswers() throws {
        let bench = Bench()
        try bench.modem.configure()
        bench.port.inject(Array("\r\nRING\r\n\r\n+CMTI: \"SM\",4\r\n".utf8))
        #expect(try bench.modem.signalQuality().rssi == 20)
        #expect(bench.modem.takeUnsolicitedLines() == ["RING", "+CMTI: \"SM\",4"])
    }

    @Test func theUnsolicitedListIsBounded() throws {
        let bench = Bench()
        try bench.modem.configure()
        bench.device.unsolicitedInNextAnswer = (1...40).map { "+CMTI: \"SM\",\($0)" }
        _ = try bench.modem.signalQuality()
        let kept = bench.modem.takeUnsolicitedLines()
        #expect(kept.count == ATChannel.unsolicitedLinesMax)
        #expect(kept.last == "+CMTI: \"SM\",40")
        #expect(bench.channel.unsolicitedLinesDropped == 8)
    }

    @Test func aSilentModemTimesOutAtItsDeadline() throws {
        let bench = Bench()
        bench.device.silent = true
        let start = bench.clock.nowMilliseconds()
        #expect(throws: ModemError.timedOut(command: "AT+CSQ", timeoutMilliseconds: Modem.commandTimeoutMilliseconds)) {
            _ = try bench.modem.signalQuality()
        }
        let elapsed = bench.clock.nowMilliseconds() - start
        #expect(elapsed >= Int64(Modem.commandTimeoutMilliseconds))
        #expect(elapsed <= Int64(Modem.commandTimeoutMilliseconds) + 50)
    }

    @Test func aMissingPromptAbortsWithEscape() throws {
        let bench = Bench()
        try bench.modem.configure()
        bench.device.scriptedAnswers["AT+CMGS=19"] = []  // the modem never shows "> "
        #expect(throws: ModemError.timedOut(command: "AT+CMGS=19", timeoutMilliseconds: Modem.smsPromptTimeoutMilliseconds)) {
            _ = try bench.modem.sendSMS(to: "+8613800138000", text: "测试")
        }
        #expect(bench.port.writtenBytes.last == 0x1B)
    }

    @Test func aModemThatVanishesMidReadIsADisconnection() throws {
        let bench = Bench()
        bench.port.readsBeforeVanishing = 1
        #expect(throws: ModemError.transport(.disconnected(path: "/dev/ttyUSB2"))) {
            _ = try bench.modem.configure()
        }
        #expect(throws: ModemError.transport(.disconnected(path: "/dev/ttyUSB2"))) {
            _ = try bench.modem.signalQuality()
        }
    }

    @Test func aMissingModemIsReportedByItsPort() throws {
        let bench = Bench()
        bench.port.vanish()
        let error = #expect(throws: ModemError.self) { try bench.modem.configure() }
        #expect(error?.description == "modem: /dev/ttyUSB2 disappeared (USB adapter unplugged or cable fault)")
    }

    @Test func wrongSettingsAreRefusedBeforeAnythingIsSent() throws {
        let bench = Bench()
        #expect(throws: ModemError.invalidSetting("AT command must be one line of printable ASCII: \"AT\\rATD112;\"")) {
            _ = try bench.channel.send("AT\rATD112;", timeoutMilliseconds: 1_000)
        }
        #expect(throws: ModemError.invalidSetting("timeout -1 ms for AT is negative")) {
            _ = try bench.channel.send("AT", timeoutMilliseconds: -1)
        }
        #expect(throws: ModemError.invalidPhoneNumber("110abc")) {
            _ = try bench.modem.sendSMS(to: "110abc", text: "x")
        }
        #expect(bench.device.commands == ["AT"])
    }

    @Test func garbledAnswersAreUnexpectedNotMisread() throws {
        let bench = Bench()
        bench.device.scriptedAnswers["AT+CSQ"] = Array("\r\n+CSQ: 45,99\r\n\r\nOK\r\n".utf8)
        #expect(throws: ModemError.unexpectedAnswer(command: "AT+CSQ", lines: ["+CSQ: 45,99"])) {
            _ = try bench.modem.signalQuality()
        }
    }
}
