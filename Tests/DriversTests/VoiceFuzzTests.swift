// Seeded fuzzing of the voice response parsers and the TTS driver: no crash, no hang, deadlines hold.
import Testing
@testable import Drivers

private final class NoisyVoiceModule: SimulatedSerialDevice {
    var random: SeededRandom
    init(seed: UInt64) { random = SeededRandom(seed: seed) }

    func receive(_ bytes: [UInt8]) -> [UInt8] {
        let interesting: [UInt8] = [0x41, 0x45, 0x4A, 0x4E, 0x4F, 0xFD, 0x00]
        return (0..<Int.random(in: 0...40, using: &random)).map { _ in
            Bool.random(using: &random) ? interesting.randomElement(using: &random)! : UInt8.random(in: 0...255, using: &random)
        }
    }
}

@Suite struct VoiceFuzzTests {
    @Test func fdParserReadsEveryByteOnce() {
        var random = SeededRandom(seed: 0xFD_0001)
        for _ in 0..<500 {
            let bytes = (0..<Int.random(in: 0...200, using: &random)).map { _ in UInt8.random(in: 0...255, using: &random) }
            let responses = FDResponseParser.parse(bytes)
            #expect(responses.count == bytes.count)
        }
    }

    @Test func clipPlayerParserSurvivesRandomAndMutatedFrames() {
        var random = SeededRandom(seed: 0x7E_0001)
        for _ in 0..<500 {
            var bytes: [UInt8] = []
            for _ in 0..<Int.random(in: 0...6, using: &random) {
                let format: ClipPlayerFrameFormat = Bool.random(using: &random) ? .withChecksum : .withoutChecksum
                bytes += ClipPlayerFrame.frame(command: UInt8.random(in: 0...0x4F, using: &random),
                                               parameter: UInt16.random(in: 0...3000, using: &random), format: format)
                bytes += (0..<Int.random(in: 0...5, using: &random)).map { _ in UInt8.random(in: 0...255, using: &random) }
            }
            for _ in 0..<Int.random(in: 0...4, using: &random) where !bytes.isEmpty {
                bytes[Int.random(in: 0..<bytes.count, using: &random)] = UInt8.random(in: 0...255, using: &random)
            }
            let parsed = ClipPlayerResponseParser.parse(bytes)
            #expect(parsed.messages.count * 8 + parsed.skippedBytes <= bytes.count)
        }
    }

    @Test func theTTSDriverAlwaysReturnsWithinItsDeadlineOnNoise() {
        for seed in UInt64(1)...UInt64(300) {
            let clock = SimulatedClock()
            let port = SimulatedSerialPort(clock: clock, device: NoisyVoiceModule(seed: seed), byteTimeMicroseconds: 1)
            let model: FDModuleModel = seed % 2 == 0 ? .syn6288 : .xfs5152
            let tts = FDTextToSpeech(transport: port, clock: clock, model: model)
            for operation in 0..<3 {
                let start = clock.nowMilliseconds()
                switch operation {
                case 0: _ = try? tts.speak("请注意")
                case 1: _ = try? tts.isBusy()
                default: _ = try? tts.stop()
                }
                let elapsed = clock.nowMilliseconds() - start
                #expect(elapsed <= Int64(tts.answerTimeoutMilliseconds) + 10, "seed \(seed): took \(elapsed) ms")
            }
        }
    }
}
