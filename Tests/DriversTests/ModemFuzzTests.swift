// Seeded fuzzing of the AT parser and the modem driver: random and mutated modem output never
// crashes, never hangs, and every call ends within its deadline (on the simulated clock).
import Testing
@testable import Drivers

/// A modem whose answers are noise, or real answers with bytes flipped, dropped and inserted.
private final class MangledModem: SimulatedSerialDevice {
    let honest = SimulatedModem()
    var random: SeededRandom

    init(seed: UInt64) {
        random = SeededRandom(seed: seed)
        honest.unsolicitedInNextAnswer = []
    }

    func receive(_ bytes: [UInt8]) -> [UInt8] {
        var answer = honest.receive(bytes)
        switch Int.random(in: 0..<4, using: &random) {
        case 0:
            answer = (0..<Int.random(in: 0...600, using: &random)).map { _ in UInt8.random(in: 0...255, using: &random) }
        case 1:
            answer = mutate(answer)
        case 2:
            let urcs = ["RING", "+CMTI: \"SM\",3", "+CREG: 1", "+CMT: ,23", "> ", "+CMS ERROR: 500", "OK"]
            var text = ""
            for _ in 0..<Int.random(in: 1...5, using: &random) { text += "\r\n" + urcs.randomElement(using: &random)! + "\r\n" }
            answer = Array(text.utf8) + answer
        default:
            break
        }
        return answer
    }

    private func mutate(_ input: [UInt8]) -> [UInt8] {
        var bytes = input
        for _ in 0..<Int.random(in: 1...8, using: &random) {
            let choice = Int.random(in: 0..<3, using: &random)
            if choice == 0, !bytes.isEmpty {
                bytes[Int.random(in: 0..<bytes.count, using: &random)] = UInt8.random(in: 0...255, using: &random)
            } else if choice == 1, !bytes.isEmpty {
                bytes.remove(at: Int.random(in: 0..<bytes.count, using: &random))
            } else {
                let interesting: [UInt8] = [0x0D, 0x0A, 0x3E, 0x20, 0x1A, 0x00, 0xFF, 0x2C, 0x22]
                bytes.insert(interesting.randomElement(using: &random)!, at: Int.random(in: 0...bytes.count, using: &random))
            }
        }
        return bytes
    }
}

@Suite struct ModemFuzzTests {
    @Test func lineAssemblyDoesNotDependOnHowTheUARTSplitTheBytes() {
        var random = SeededRandom(seed: 0xA7_0001)
        for _ in 0..<300 {
            let alphabet: [UInt8] = Array("OK\r\n> +CMTI:\"SM\",3ERROR".utf8) + [0x00, 0xFF, 0x1A]
            let stream = (0..<Int.random(in: 0...3_000, using: &random)).map { _ in
                Bool.random(using: &random) ? alphabet.randomElement(using: &random)! : UInt8.random(in: 0...255, using: &random)
            }
            var whole = ATLineAssembler()
            let expected = whole.feed(stream)
            var chunked = ATLineAssembler()
            var lines: [ATLine] = []
            var index = 0
            while index < stream.count {
                let size = Int.random(in: 1...64, using: &random)
                lines += chunked.feed(Array(stream[index..<min(index + size, stream.count)]))
                index += size
            }
            #expect(lines == expected)
            for case .text(let text) in lines { #expect(text.utf8.count <= ATLineAssembler.lineBytesMax * 3) }
        }
    }

    @Test func anEndlessLineIsCutAtItsBound() {
        var assembler = ATLineAssembler()
        let lines = assembler.feed([UInt8](repeating: 0x41, count: 5_000) + [0x0D, 0x0A] + Array("OK\r\n".utf8))
        #expect(lines.count == 2)
        #expect(lines.last == .text("OK"))
        #expect(assembler.overlongLinesCut == 1)
    }

    @Test func mangledModemOutputNeverHangsOrCrashesTheDriver() {
        for seed in UInt64(1)...UInt64(200) {
            let clock = SimulatedClock()
            let device = MangledModem(seed: seed)
            // Fast wire so elapsed time is the driver's waiting, not the bytes' transfer.
            let port = SimulatedSerialPort(portDescription: "/dev/ttyFUZZ", clock: clock, device: device, byteTimeMicroseconds: 1)
            let modem = Modem(channel: ATChannel(transport: port, clock: clock))
            var random = SeededRandom(seed: seed ^ 0xFEED)
            for _ in 0..<10 {
                let start = clock.nowMilliseconds()
                let bound: Int
                switch Int.random(in: 0..<4, using: &random) {
                case 0:
                    bound = Modem.commandTimeoutMilliseconds
                    _ = try? modem.signalQuality()
                case 1:
                    bound = Modem.commandTimeoutMilliseconds
                    _ = try? modem.registration()
                case 2:
                    bound = 4 * Modem.commandTimeoutMilliseconds
                    _ = try? modem.configure()
                default:
                    // AT+CMGF=0, then per part the prompt and the answer.
                    bound = Modem.commandTimeoutMilliseconds + Modem.smsPromptTimeoutMilliseconds + Modem.smsAnswerTimeoutMilliseconds
                    _ = try? modem.sendSMS(to: "+8613800138000", text: "水位超警戒")
                }
                let elapsed = clock.nowMilliseconds() - start
                #expect(elapsed <= Int64(bound) + 50, "seed \(seed): a call took \(elapsed) ms of a \(bound) ms budget")
                #expect(modem.takeUnsolicitedLines().count <= ATChannel.unsolicitedLinesMax)
            }
        }
    }
}
