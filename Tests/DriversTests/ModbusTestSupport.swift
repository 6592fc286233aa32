// An in-memory serial line that answers each request with scripted bytes, and a seeded random
// generator: Modbus master tests that run in microseconds and behave the same every time.
import Checksums
@testable import Drivers

/// What the scripted slave does with the next request it hears.
enum ScriptedReply {
    /// These chunks arrive one read at a time, then silence.
    case chunks([[UInt8]])
    /// Nothing comes back.
    case silence
    /// The port fails as an unplugged adapter does.
    case disconnect
}

final class ScriptedTransport: SerialTransport {
    var replies: [ScriptedReply]
    private(set) var requestsHeard: [[UInt8]] = []
    private(set) var readCalls = 0
    private(set) var discardCalls = 0
    private var pending: [[UInt8]] = []
    private var disconnected = false
    let portDescription = "scripted line"

    init(_ replies: [ScriptedReply]) { self.replies = replies }

    func write(_ bytes: [UInt8], timeoutMilliseconds: Int) throws(SerialError) {
        if disconnected { throw .disconnected(path: "scripted") }
        requestsHeard.append(bytes)
        let reply = replies.isEmpty ? .silence : replies.removeFirst()
        switch reply {
        case .chunks(let chunks): pending = chunks
        case .silence: pending = []
        case .disconnect: disconnected = true
        }
    }

    func read(maxBytes: Int, timeoutMilliseconds: Int) throws(SerialError) -> [UInt8] {
        readCalls += 1
        if disconnected { throw .disconnected(path: "scripted") }
        guard !pending.isEmpty else { return [] }
        let chunk = pending.removeFirst()
        if chunk.count > maxBytes {
            pending.insert(Array(chunk[maxBytes...]), at: 0)
            return Array(chunk[..<maxBytes])
        }
        return chunk
    }

    func discardInput() throws(SerialError) {
        discardCalls += 1
        if disconnected { throw .disconnected(path: "scripted") }
        pending = []
    }
}

/// Appends the Modbus CRC, low byte first, as a slave does.
func withCRC(_ bytes: [UInt8]) -> [UInt8] {
    let crc = CRC16Modbus.checksum(bytes)
    return bytes + [UInt8(crc & 0xFF), UInt8(crc >> 8)]
}

/// SplitMix64: a tiny, fully determined generator, so a fuzz failure replays from its seed.
struct SeededGenerator: RandomNumberGenerator {
    private var state: UInt64
    init(seed: UInt64) { state = seed }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var mixed = state
        mixed = (mixed ^ (mixed >> 30)) &* 0xBF58_476D_1CE4_E5B9
        mixed = (mixed ^ (mixed >> 27)) &* 0x94D0_49BB_1331_11EB
        return mixed ^ (mixed >> 31)
    }
}

/// A fast master over a scripted line: 9600 8N1, short timeouts (no time passes anyway).
func scriptedMaster(_ replies: [ScriptedReply], retriesMax: Int = 2) throws -> (ModbusRTUMaster, ScriptedTransport) {
    let transport = ScriptedTransport(replies)
    let master = try ModbusRTUMaster(
        transport: transport, settings: SerialSettings(baudRate: 115200),
        configuration: .init(timeoutMilliseconds: 10, retriesMax: retriesMax, frameEndSilenceMillisecondsMin: 0))
    return (master, transport)
}
