// Voice module frames byte for byte against the datasheets, and the drivers against their twins.
import Testing
@testable import Drivers

@Suite struct VoiceFrameTests {
    @Test func syn6288SpeakFrameMatchesTheDatasheetExample() throws {
        // SYN6288 datasheet: "宇音天下" in GB2312 → FD 00 0B 01 00 D3 EE D2 F4 CC EC CF C2 C1
        // (as reproduced in libdriver/syn6288 and other SYN6288 drivers).
        let frame = try FDFrame.speak(model: .syn6288, encodedText: [0xD3, 0xEE, 0xD2, 0xF4, 0xCC, 0xEC, 0xCF, 0xC2], encoding: .gb2312)
        #expect(frame == [0xFD, 0x00, 0x0B, 0x01, 0x00, 0xD3, 0xEE, 0xD2, 0xF4, 0xCC, 0xEC, 0xCF, 0xC2, 0xC1])
    }

    @Test func syn6288ControlFramesMatchLibdriver() {
        // libdriver/syn6288 src/driver_syn6288.c: stop FD 00 02 02 FD, status FD 00 02 21 DE.
        #expect(FDFrame.frame(model: .syn6288, command: FDFrame.commandStop) == [0xFD, 0x00, 0x02, 0x02, 0xFD])
        #expect(FDFrame.frame(model: .syn6288, command: FDFrame.commandStatus) == [0xFD, 0x00, 0x02, 0x21, 0xDE])
    }

    @Test func syn6288UnicodeIsBigEndianAsInLibdriversExample() throws {
        // libdriver/syn6288's synthesis test sends "语音天下" as Unicode bytes 8B ED 97 F3 59 29 4E 0B.
        #expect(FDFrame.unicodeBytes("语音天下", bigEndian: true) == [0x8B, 0xED, 0x97, 0xF3, 0x59, 0x29, 0x4E, 0x0B])
        let frame = try FDFrame.speak(model: .syn6288, encodedText: FDFrame.unicodeBytes("语音天下", bigEndian: true), encoding: .unicode)
        #expect(frame == [0xFD, 0x00, 0x0B, 0x01, 0x03, 0x8B, 0xED, 0x97, 0xF3, 0x59, 0x29, 0x4E, 0x0B, 0xC3])
    }

    @Test func xfs5152FramesMatchTheDatasheet() throws {
        // XFS5152CE datasheet: "科大讯飞" GB2312 → FD 00 0A 01 00 BF C6 B4 F3 D1 B6 B7 C9 (no check byte);
        // control frames stop FD 00 01 02 and status FD 00 01 21.
        let frame = try FDFrame.speak(model: .xfs5152, encodedText: [0xBF, 0xC6, 0xB4, 0xF3, 0xD1, 0xB6, 0xB7, 0xC9], encoding: .gb2312)
        #expect(frame == [0xFD, 0x00, 0x0A, 0x01, 0x00, 0xBF, 0xC6, 0xB4, 0xF3, 0xD1, 0xB6, 0xB7, 0xC9])
        #expect(FDFrame.frame(model: .xfs5152, command: FDFrame.commandStop) == [0xFD, 0x00, 0x01, 0x02])
        #expect(FDFrame.frame(model: .xfs5152, command: FDFrame.commandStatus) == [0xFD, 0x00, 0x01, 0x21])
        // A volume tag "[v9]" sent as text, as in XFS5152 application code: FD 00 06 01 00 5B 76 39 5D.
        #expect(try FDFrame.speak(model: .xfs5152, encodedText: Array("[v9]".utf8), encoding: .gb2312)
            == [0xFD, 0x00, 0x06, 0x01, 0x00, 0x5B, 0x76, 0x39, 0x5D])
    }

    @Test func xfs5152UnicodeDefaultsToLittleEndian() throws {
        #expect(FDFrame.unicodeBytes("科大", bigEndian: false) == [0xD1, 0x79, 0x27, 0x59])
    }

    @Test func clipPlayerFramesMatchTheDFPlayerDatasheet() {
        // DFPlayer Mini datasheet, "Examples of Sending Serial Commands".
        #expect(ClipPlayerFrame.frame(command: 0x03, parameter: 1, format: .withChecksum)
            == [0x7E, 0xFF, 0x06, 0x03, 0x00, 0x00, 0x01, 0xFE, 0xF7, 0xEF])
        #expect(ClipPlayerFrame.frame(command: 0x03, parameter: 10, format: .withChecksum)
            == [0x7E, 0xFF, 0x06, 0x03, 0x00, 0x00, 0x0A, 0xFE, 0xEE, 0xEF])
        #expect(ClipPlayerFrame.frame(command: 0x06, parameter: 30, format: .withChecksum)
            == [0x7E, 0xFF, 0x06, 0x06, 0x00, 0x00, 0x1E, 0xFE, 0xD7, 0xEF])
        #expect(ClipPlayerFrame.frame(command: 0x03, parameter: 1, format: .withoutChecksum)
            == [0x7E, 0xFF, 0x06, 0x03, 0x00, 0x00, 0x01, 0xEF])
        #expect(ClipPlayerFrame.frame(command: 0x06, parameter: 30, format: .withoutChecksum)
            == [0x7E, 0xFF, 0x06, 0x06, 0x00, 0x00, 0x1E, 0xEF])
        // YX5300 (Catalex) stop: 7E FF 06 16 00 00 00 EF.
        #expect(ClipPlayerFrame.frame(command: 0x16, parameter: 0, format: .withoutChecksum)
            == [0x7E, 0xFF, 0x06, 0x16, 0x00, 0x00, 0x00, 0xEF])
    }

    @Test func clipPlayerMessagesAreFoundInNoise() {
        // DFPlayer datasheet: "7E FF 06 3E 00 00 01 FE BC EF" (track 1 finished, U-disk variant).
        let stream: [UInt8] = [0x00, 0x7E, 0x12] + [0x7E, 0xFF, 0x06, 0x3E, 0x00, 0x00, 0x01, 0xFE, 0xBC, 0xEF]
            + [0x7E, 0xFF, 0x06, 0x3D, 0x00, 0x00, 0x02, 0xEF]
        let parsed = ClipPlayerResponseParser.parse(stream)
        #expect(parsed.messages == [ClipPlayerMessage(command: 0x3E, parameter: 1), ClipPlayerMessage(command: 0x3D, parameter: 2)])
        #expect(parsed.skippedBytes == 3)
    }
}

@Suite struct VoiceDriverTests {
    private func bench(_ model: FDModuleModel) -> (FDTextToSpeech, SimulatedTextToSpeechModule, SimulatedSerialPort, SimulatedClock) {
        let clock = SimulatedClock()
        let module = SimulatedTextToSpeechModule(model: model)
        let port = SimulatedSerialPort(portDescription: "/dev/ttyS3", clock: clock, device: module)
        return (FDTextToSpeech(transport: port, clock: clock, model: model), module, port, clock)
    }

    @Test(arguments: [FDModuleModel.syn6288, .xfs5152])
    func speakingChineseReachesTheModuleIntact(model: FDModuleModel) throws {
        let (tts, module, _, _) = bench(model)
        try tts.speak("山洪预警，请立即转移")
        #expect(module.spokenUnicodeText(0, bigEndian: model == .syn6288) == "山洪预警，请立即转移")
        #expect(try tts.isBusy())
        try tts.stop()
        #expect(try !tts.isBusy())
        #expect(module.stopCount == 1)
    }

    @Test func aStaleIdleByteIsNotTakenAsTheAnswer() throws {
        let (tts, _, port, _) = bench(.syn6288)
        try tts.speak("测试")
        port.inject([0x4F])  // the end of an earlier announcement
        #expect(try tts.isBusy())
    }

    @Test func aSilentModuleIsReportedWithWhatToCheck() throws {
        let (tts, module, _, clock) = bench(.syn6288)
        module.silent = true
        let error = #expect(throws: VoiceError.self) { try tts.speak("测试") }
        #expect(error == .noAnswer(module: "SYN6288 on /dev/ttyS3", operation: "speak", timeoutMilliseconds: 1_000))
        #expect(error?.description == "SYN6288 on /dev/ttyS3 did not answer speak within 1000 ms: check its power, baud rate and TX/RX wiring")
        #expect(clock.nowMilliseconds() <= 1_100)
    }

    @Test func theWrongModelIsRejectedByTheModule() throws {
        // An XFS5152 driver talking to a SYN6288: no XOR byte, so the SYN6288 waits for one more
        // byte and the next frame's FD becomes a bad check byte.
        let clock = SimulatedClock()
        let syn = SimulatedTextToSpeechModule(model: .syn6288)
        let port = SimulatedSerialPort(portDescription: "/dev/ttyS3", clock: clock, device: syn)
        let wrong = FDTextToSpeech(transport: port, clock: clock, model: .xfs5152)
        #expect(throws: VoiceError.self) { try wrong.speak("测试") }
        #expect(throws: VoiceError.frameRejected(module: "XFS5152 on /dev/ttyS3", operation: "stop")) { try wrong.stop() }
    }

    @Test func textTooLongAndBadSettingsAreRefused() throws {
        let (tts, _, _, _) = bench(.syn6288)
        #expect(throws: VoiceError.textTooLong(bytes: 202, bytesMax: 200)) { try tts.speak(String(repeating: "雨", count: 101)) }
        #expect(throws: VoiceError.invalidSetting("nothing to speak")) { try tts.speak("") }
        let clock = SimulatedClock()
        let zero = FDTextToSpeech(transport: SimulatedSerialPort(clock: clock, device: nil), clock: clock, model: .syn6288, answerTimeoutMilliseconds: 0)
        #expect(throws: VoiceError.invalidSetting("answer timeout 0 ms must be positive")) { try zero.stop() }
    }

    @Test func aModuleThatVanishesMidReadIsADisconnection() throws {
        let (tts, _, port, _) = bench(.xfs5152)
        port.readsBeforeVanishing = 0
        #expect(throws: VoiceError.transport(.disconnected(path: "/dev/ttyS3"))) { try tts.speak("测试") }
        #expect(throws: VoiceError.transport(.disconnected(path: "/dev/ttyS3"))) { try tts.stop() }
    }

    @Test func clipPlayerPlaysSetsVolumeStopsAndHearsTheEnd() throws {
        let clock = SimulatedClock()
        let module = SimulatedClipPlayerModule(format: .withChecksum)
        let port = SimulatedSerialPort(portDescription: "/dev/ttyS4", clock: clock, device: module)
        let player = SerialClipPlayer(transport: port, format: .withChecksum)
        try player.setVolume(25)
        try player.play(clip: 7)
        #expect(module.volume == 25)
        #expect(module.playingClip == 7)
        port.inject(module.finishClip())
        #expect(try player.takeMessages(timeoutMilliseconds: 100) == [ClipPlayerMessage(command: 0x3D, parameter: 7)])
        try player.play(clip: 2)
        try player.stop()
        #expect(module.playingClip == nil)
        #expect(throws: VoiceError.invalidSetting("clip 0 is outside 1…2999")) { try player.play(clip: 0) }
        #expect(throws: VoiceError.invalidSetting("volume 31 is outside 0…30")) { try player.setVolume(31) }
        port.vanish()
        #expect(throws: VoiceError.transport(.disconnected(path: "/dev/ttyS4"))) { try player.play(clip: 1) }
    }
}
