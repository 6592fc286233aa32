// Random and mutated replies, from a seeded generator: the parser and the master must answer
// every one with a reply or a typed error, never crash, never loop past their bounds.
import Testing
@testable import Drivers

@Suite struct ModbusFuzzTests {
    static let iterations = 20_000

    /// A valid reply to `request`, to mutate from.
    static func validReply(to request: ModbusRequest, slaveID: UInt8, using generator: inout SeededGenerator) -> [UInt8] {
        switch request {
        case .readHoldingRegisters(_, let count), .readInputRegisters(_, let count):
            var body: [UInt8] = [slaveID, request.functionCode, UInt8(2 * count)]
            for _ in 0..<(2 * count) { body.append(UInt8.random(in: 0...255, using: &generator)) }
            return withCRC(body)
        case .writeSingleRegister, .writeMultipleRegisters:
            return request.replyLength == 8 ? Array(request.frame(slaveID: slaveID).prefix(6)).withCRCAppended : []
        }
    }

    static func randomRequest(using generator: inout SeededGenerator) -> ModbusRequest {
        let address = UInt16.random(in: 0...1000, using: &generator)
        switch Int.random(in: 0..<4, using: &generator) {
        case 0: return .readHoldingRegisters(address: address, count: Int.random(in: 1...125, using: &generator))
        case 1: return .readInputRegisters(address: address, count: Int.random(in: 1...4, using: &generator))
        case 2: return .writeSingleRegister(address: address, value: UInt16.random(in: 0...UInt16.max, using: &generator))
        default: return .writeMultipleRegisters(address: address, values: [1, 2, 3])
        }
    }

    static func mutate(_ frame: [UInt8], using generator: inout SeededGenerator) -> [UInt8] {
        var frame = frame
        switch Int.random(in: 0..<9, using: &generator) {
        case 6:  // left alone: the valid path must stay reachable
            break
        case 7 where frame.count > 2:  // another slave answers, with a valid CRC
            frame[0] = frame[0] &+ UInt8.random(in: 1...255, using: &generator)
            frame = Array(frame.dropLast(2)).withCRCAppended
        case 8 where frame.count > 6 && frame[2] >= 4:  // a consistent frame with a different register count
            let body = Array(frame.dropLast(4))
            frame = ([body[0], body[1], body[2] - 2] + body.dropFirst(3)).withCRCAppended
        case 0 where !frame.isEmpty:  // flip a bit
            let index = Int.random(in: 0..<frame.count, using: &generator)
            frame[index] ^= UInt8(1) << UInt8.random(in: 0...7, using: &generator)
        case 1:  // cut short
            frame = Array(frame.prefix(Int.random(in: 0...frame.count, using: &generator)))
        case 2:  // trailing bytes
            for _ in 0..<Int.random(in: 1...8, using: &generator) { frame.append(UInt8.random(in: 0...255, using: &generator)) }
        case 3 where frame.count > 2:  // lie about the byte count, with a CRC that matches the lie
            frame[2] = UInt8.random(in: 0...255, using: &generator)
            frame = Array(frame.dropLast(2)).withCRCAppended
        case 4:  // pure noise
            frame = (0..<Int.random(in: 0...300, using: &generator)).map { _ in UInt8.random(in: 0...255, using: &generator) }
        default:  // exception with a random code and function
            frame = [frame.first ?? 1, UInt8.random(in: 0...255, using: &generator), UInt8.random(in: 0...255, using: &generator)]
                .withCRCAppended
        }
        return frame
    }

    static func kind(of fault: ModbusReplyFault) -> String {
        switch fault {
        case .crcMismatch: "crcMismatch"
        case .truncated: "truncated"
        case .tooLong: "tooLong"
        case .wrongSlave: "wrongSlave"
        case .wrongFunction: "wrongFunction"
        case .wrongByteCount: "wrongByteCount"
        case .wrongEcho: "wrongEcho"
        }
    }

    @Test func theParserAnswersEveryFrameWithAReplyOrANamedFault() {
        var generator = SeededGenerator(seed: 0x5EED_0001)
        var outcomes: [String: Int] = [:]
        for _ in 0..<Self.iterations {
            let request = Self.randomRequest(using: &generator)
            let slaveID = UInt8.random(in: 1...247, using: &generator)
            let frame = Self.mutate(Self.validReply(to: request, slaveID: slaveID, using: &generator), using: &generator)
            let result = ModbusReplyParser.parse(frame[...], slaveID: slaveID, request: request)
            let key = switch result {
            case .success: "success"
            case .failure(.exception): "exception"
            case .failure(.fault(let fault)): Self.kind(of: fault)
            }
            outcomes[key, default: 0] += 1
            if case .success(.registers(let registers)) = result, case .readHoldingRegisters(_, let count) = request {
                #expect(registers.count == count)
            }
        }
        // The generator must reach every branch, or this test proves less than it claims.
        for kind in ["success", "exception", "crcMismatch", "truncated", "tooLong", "wrongSlave", "wrongFunction", "wrongByteCount", "wrongEcho"] {
            #expect(outcomes[kind, default: 0] > 0, "no fuzz case reached \(kind): \(outcomes)")
        }
    }

    @Test func theMasterEndsEveryTransactionWithinItsBoundsWhateverTheLineSays() throws {
        var generator = SeededGenerator(seed: 0x5EED_0002)
        // Fewer rounds than the parser fuzz: each try honours the real inter-frame silence.
        for _ in 0..<600 {
            let request = Self.randomRequest(using: &generator)
            let slaveID = UInt8.random(in: 1...247, using: &generator)
            var replies: [ScriptedReply] = []
            for _ in 0..<3 {
                let frame = Self.mutate(Self.validReply(to: request, slaveID: slaveID, using: &generator), using: &generator)
                // Deliver in random chunk sizes, as a USB adapter or socat would.
                var chunks: [[UInt8]] = []
                var rest = frame[...]
                while !rest.isEmpty {
                    let size = Int.random(in: 1...max(1, rest.count), using: &generator)
                    chunks.append(Array(rest.prefix(size)))
                    rest = rest.dropFirst(size)
                }
                replies.append(chunks.isEmpty ? .silence : .chunks(chunks))
            }
            let (master, transport) = try scriptedMaster(replies)
            do {
                _ = try master.execute(request, slaveID: slaveID)
            } catch {
                if case .transport = error { Issue.record("a scripted line never fails: \(error)") }
                if case .invalidRequest = error { Issue.record("valid requests only: \(error)") }
            }
            // Bounded work: at most 3 tries, each at most one read per byte of the longest frame plus the silence.
            #expect(transport.requestsHeard.count <= 3)
            #expect(transport.readCalls <= 3 * (ModbusReplyParser.frameBytesMax + 1))
            let counters = master.counters[slaveID] ?? ModbusSlaveCounters()
            #expect(counters.requests == transport.requestsHeard.count)
            #expect(counters.goodReplies + counters.timeouts + counters.crcErrors + counters.exceptions + counters.badFrames
                == counters.requests)
        }
    }
}

extension [UInt8] {
    var withCRCAppended: [UInt8] { withCRC(self) }
}
