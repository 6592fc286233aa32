// The fuzz targets: every parser of bytes from outside the box, each a function of one input.
// `village-gateway fuzz` runs them under libFuzzer; FuzzCorpusTests runs the committed seeds
// and every crash ever found (Fuzz/corpus/TARGET/) through them in `make test`.
import Drivers
import Foundation
import WarningLogic

enum FuzzTarget: String, CaseIterable, Sendable {
    /// The county API: a whole HTTP request (method, path and query, headers, body) through the
    /// router, signed by the harness or as the input says.
    case api
    /// The SL 651 downlink reassembler: a county's TCP byte stream in arbitrary pieces.
    case sl651Downlink = "sl651-downlink"
    /// Modbus RTU replies to each kind of request, and the register decoders.
    case modbus
    /// The modem: AT answers to each command the box sends, and SMS PDUs of outside text.
    case modem
    /// gateway.toml as check-config, run and the shell's `commit` read it.
    case gatewayConfiguration = "gateway-toml"
    /// The county side's stations.toml.
    case stationsFile = "stations-toml"
    /// A scenario CSV for `simulate` and `run --board sim`.
    case scenario
    /// The shell's line editor: keystrokes from a console UART or the shell socket.
    case lineEditor = "line-editor"
}

enum FuzzTargets {
    /// libFuzzer calls back on one thread, one input at a time, after `prepare`; so plain
    /// globals, set once before the first call.
    nonisolated(unsafe) private static var selected: FuzzTarget?
    nonisolated(unsafe) private static var api: APIFuzzHarness?
    nonisolated(unsafe) private static var engineConfiguration: EngineConfiguration?

    /// Loads what a target needs (the API's configuration and outbox) and selects it.
    static func prepare(_ target: FuzzTarget, configurationPath: String) throws {
        let gateway = try ConfigurationLoader.load(path: configurationPath)
        engineConfiguration = gateway.engine
        if target == .api { api = try APIFuzzHarness(gateway: gateway) }
        selected = target
    }

    static func runSelected(_ bytes: [UInt8]) {
        guard let selected else { return }
        run(selected, bytes)
    }

    /// Runs one input. A crash (trap, sanitizer report) is a finding; every other outcome,
    /// an error message included, is the parser doing its job.
    static func run(_ target: FuzzTarget, _ bytes: [UInt8]) {
        switch target {
        case .api: api?.run(bytes)
        case .sl651Downlink: sl651Downlink(bytes)
        case .modbus: modbus(bytes)
        case .modem: modem(bytes)
        case .gatewayConfiguration:
            _ = try? ConfigurationLoader.parse(text: String(decoding: bytes, as: UTF8.self), file: "fuzz.toml")
        case .stationsFile:
            _ = try? StationsFile.parse(text: String(decoding: bytes, as: UTF8.self), file: "stations.toml")
        case .scenario:
            guard let engineConfiguration else { return }
            _ = try? Scenario.parse(text: String(decoding: bytes, as: UTF8.self), file: "fuzz.csv", configuration: engineConfiguration)
        case .lineEditor: lineEditor(bytes)
        }
    }

    // MARK: SL 651

    static let sl651Station = try! SL651StationAddress(digits: "0011223344")

    /// The first byte sets the piece size, so frames arrive split at every place a TCP stream
    /// can split them; the reassembler's events are checked against its own limits.
    static func sl651Downlink(_ bytes: [UInt8]) {
        guard let first = bytes.first else { return }
        let pieceBytes = Int(first % 64) + 1
        var reassembler = SL651DownlinkReassembler(station: sl651Station)
        var offset = 1
        while offset < bytes.count {
            let end = min(offset + pieceBytes, bytes.count)
            for event in reassembler.append(bytes[offset..<end]) {
                if case .frame(let frame) = event {
                    precondition(frame.body.count <= SL651.bodyBytesMax, "a reassembled body is over the standard's limit")
                }
            }
            precondition(reassembler.bufferedBytes <= reassembler.bufferBytesMax, "the reassembler's buffer passed its bound")
            offset = end
        }
    }

    // MARK: Modbus

    /// The first byte picks the request a reply answers, the second its register count; the
    /// rest is what the slave sent.
    static func modbusRequest(selector: UInt8, countByte: UInt8) -> ModbusRequest {
        let count = Int(countByte % 125) + 1
        switch selector % 4 {
        case 0: return .readHoldingRegisters(address: 0, count: count)
        case 1: return .readInputRegisters(address: 0x10, count: count)
        case 2: return .writeSingleRegister(address: 1, value: 0x1234)
        default: return .writeMultipleRegisters(address: 2, values: Array(repeating: 7, count: min(count, 123)))
        }
    }

    static func modbus(_ bytes: [UInt8]) {
        guard bytes.count >= 2 else { return }
        let request = modbusRequest(selector: bytes[0], countByte: bytes[1])
        let reply = bytes[2...]
        if let length = ModbusReplyParser.frameLength(startingWith: reply, for: request) {
            precondition(length >= ModbusReplyParser.frameBytesMin, "a frame shorter than an exception")
        }
        if case .success(.registers(let registers)) = ModbusReplyParser.parse(reply, slaveID: 1, request: request) {
            for type in ModbusValueType.allCases {
                for wordOrder in ModbusWordOrder.allCases {
                    for byteOrder in ModbusByteOrder.allCases {
                        _ = try? ModbusDecoding(type: type, wordOrder: wordOrder, byteOrder: byteOrder, scale: 0.1, offset: -3).decode(registers)
                    }
                }
            }
        }
    }

    // MARK: Modem

    /// The first byte picks what the box asks; the rest is the modem's answer, handed over in
    /// pieces (an empty read is a timeout on a simulated clock, so nothing waits).
    static func modem(_ bytes: [UInt8]) {
        guard let first = bytes.first else { return }
        if first & 0x80 != 0 {
            // Outside text becoming SMS PDUs: a county warning's message, a contact's number.
            let text = String(decoding: bytes.dropFirst(), as: UTF8.self)
            let split = text.firstIndex(of: "\n") ?? text.endIndex
            _ = try? SMSSubmitEncoder.encode(
                destination: String(text[..<split]), text: String(text[split...]), concatenationReference: first, partsMax: Int(first % 8) + 1)
            return
        }
        let clock = SimulatedClock()
        let transport = FuzzSerialTransport(replies: Array(bytes.dropFirst()), pieceBytes: Int(first % 32) + 1, clock: clock)
        let modem = Modem(channel: ATChannel(transport: transport, clock: clock), smsPartsMax: 3)
        switch first % 6 {
        case 0: try? modem.configure()
        case 1: _ = try? modem.registration()
        case 2: _ = try? modem.epsRegistration()
        case 3: _ = try? modem.signalQuality()
        case 4: _ = try? modem.sendSMS(to: "+8613800138000", text: "红色预警：请立即转移 red warning, move to the shelter now")
        default: _ = try? modem.networkStatus()
        }
        _ = modem.takeUnsolicitedLines()
    }

    // MARK: Shell

    static func lineEditor(_ bytes: [UInt8]) {
        var editor = LineEditor(prompt: "village> ")
        editor.columns = 40
        let words = ["status", "sensors", "set", "station.name", "状态", "outbox", "test", "siren"]
        // Pieces of up to 7 bytes: escape sequences and UTF-8 characters split across reads.
        var offset = 0
        while offset < bytes.count {
            let end = min(offset + Int(bytes[offset] % 7) + 1, bytes.count)
            let output = editor.feed(Array(bytes[offset..<end])) { _, partial in words.filter { $0.hasPrefix(partial) } }
            for case .line(let line) in output.events {
                precondition(line.unicodeScalars.count <= LineEditor.lineScalarsMax, "a line over lineScalarsMax")
            }
            offset = end
        }
    }
}

/// A modem or slave that answers with the fuzzer's bytes, a piece per read; every write is taken.
final class FuzzSerialTransport: SerialTransport {
    private var replies: ArraySlice<UInt8>
    private let pieceBytes: Int
    private let clock: SimulatedClock

    init(replies: [UInt8], pieceBytes: Int, clock: SimulatedClock) {
        self.replies = replies[...]
        self.pieceBytes = pieceBytes
        self.clock = clock
    }

    func write(_ bytes: [UInt8], timeoutMilliseconds: Int) throws(SerialError) {}

    func read(maxBytes: Int, timeoutMilliseconds: Int) throws(SerialError) -> [UInt8] {
        guard !replies.isEmpty else {
            clock.advance(milliseconds: max(timeoutMilliseconds, 1))
            return []
        }
        let piece = replies.prefix(min(maxBytes, pieceBytes))
        replies = replies.dropFirst(piece.count)
        return Array(piece)
    }

    func discardInput() throws(SerialError) {}

    var portDescription: String { "fuzz" }
}
