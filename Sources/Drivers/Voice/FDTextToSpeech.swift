// UART text-to-speech modules of the 0xFD-framed family: SYN6288 (XOR check byte) and XFS5152 (none).
//
// Frame: FD · length (2 bytes, big-endian) · command · [parameter] · [text] · [SYN6288: XOR].
// SYN6288 datasheet example (北京宇音天下), synthesising "宇音天下" in GB2312:
//   FD 00 0B 01 00 D3 EE D2 F4 CC EC CF C2 C1   (length counts command…XOR; C1 = XOR of all before)
// reproduced in e.g. libdriver/syn6288 and several SYN6288 drivers on GitHub; stop FD 00 02 02 FD,
// status query FD 00 02 21 DE (libdriver/syn6288 src/driver_syn6288.c). XFS5152CE frames carry
// no check byte and the length counts command…text: stop FD 00 01 02, status FD 00 01 21; its
// datasheet example "科大讯飞" in GB2312 is FD 00 0A 01 00 BF C6 B4 F3 D1 B6 B7 C9.
// Both answer with single bytes: 0x41 frame received, 0x45 frame not understood, 0x4A ready
// after power-up, 0x4E busy speaking, 0x4F idle.
import TimeSeam

/// Which module of the family is wired.
public enum FDModuleModel: String, Sendable {
    case syn6288
    case xfs5152

    /// Text bytes one frame may carry (SYN6288: 200; XFS5152: the data area is bounded at 4 KiB).
    public var textBytesMax: Int {
        switch self {
        case .syn6288: 200
        case .xfs5152: 4_000
        }
    }
}

/// The text encodings the modules document (parameter byte, low 3 bits).
public enum FDTextEncoding: UInt8, Sendable {
    case gb2312 = 0
    case gbk = 1
    case big5 = 2
    case unicode = 3
}

/// The modules' one-byte answers.
public enum FDModuleResponse: Equatable, Sendable {
    case received, rejected, ready, busy, idle
    case unknown(UInt8)

    public init(byte: UInt8) {
        switch byte {
        case 0x41: self = .received
        case 0x45: self = .rejected
        case 0x4A: self = .ready
        case 0x4E: self = .busy
        case 0x4F: self = .idle
        default: self = .unknown(byte)
        }
    }
}

/// Builds frames; pure, so tests compare bytes with the datasheets.
public enum FDFrame {
    public static let commandSpeak: UInt8 = 0x01
    public static let commandStop: UInt8 = 0x02
    public static let commandStatus: UInt8 = 0x21

    public static func frame(model: FDModuleModel, command: UInt8, parameter: UInt8? = nil, data: [UInt8] = []) -> [UInt8] {
        var body = [command]
        if let parameter { body.append(parameter) }
        body += data
        let length = body.count + (model == .syn6288 ? 1 : 0)
        var frame: [UInt8] = [0xFD, UInt8(length >> 8), UInt8(length & 0xFF)] + body
        if model == .syn6288 {
            frame.append(frame.reduce(0, ^))
        }
        return frame
    }

    /// The speak frame for text already encoded as `encoding` (background music 0).
    public static func speak(model: FDModuleModel, encodedText: [UInt8], encoding: FDTextEncoding) throws(VoiceError) -> [UInt8] {
        guard !encodedText.isEmpty else { throw .invalidSetting("nothing to speak") }
        guard encodedText.count <= model.textBytesMax else {
            throw .textTooLong(bytes: encodedText.count, bytesMax: model.textBytesMax)
        }
        return frame(model: model, command: commandSpeak, parameter: encoding.rawValue, data: encodedText)
    }

    /// Unicode as UTF-16 in the byte order the module takes, so no GB2312 table is needed.
    public static func unicodeBytes(_ text: String, bigEndian: Bool) -> [UInt8] {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(text.utf16.count * 2)
        for unit in text.utf16 {
            let high = UInt8(unit >> 8)
            let low = UInt8(unit & 0xFF)
            bytes += bigEndian ? [high, low] : [low, high]
        }
        return bytes
    }
}

/// The module's byte stream, parsed: pure, used by the driver and fuzzed by the tests.
public enum FDResponseParser {
    public static func parse(_ bytes: [UInt8]) -> [FDModuleResponse] {
        bytes.map(FDModuleResponse.init(byte:))
    }
}

/// The driver for one module on one serial port.
public final class FDTextToSpeech: TextToSpeech {
    public static let answerTimeoutMillisecondsDefault = 1_000
    static let writeTimeoutMilliseconds = 2_000
    /// Bounds the bytes read while waiting for one answer (a chattering line cannot hold us).
    static let answerBytesMax = 256

    public let transport: SerialTransport
    public let model: FDModuleModel
    /// SYN6288 takes Unicode big-endian (libdriver/syn6288 sends 语 as 8B ED); XFS5152's
    /// datasheet documents little-endian. Configurable because clones differ.
    public let unicodeBigEndian: Bool
    public let answerTimeoutMilliseconds: Int
    private let clock: any GatewayClock
    public private(set) var unknownAnswerBytes = 0

    public init(
        transport: SerialTransport, clock: any GatewayClock, model: FDModuleModel, unicodeBigEndian: Bool? = nil,
        answerTimeoutMilliseconds: Int = answerTimeoutMillisecondsDefault
    ) {
        self.transport = transport
        self.clock = clock
        self.model = model
        self.unicodeBigEndian = unicodeBigEndian ?? (model == .syn6288)
        self.answerTimeoutMilliseconds = answerTimeoutMilliseconds
    }

    private var moduleName: String { "\(model.rawValue.uppercased()) on \(transport.portDescription)" }

    public func speak(_ text: String) throws(VoiceError) {
        try speak(encodedText: FDFrame.unicodeBytes(text, bigEndian: unicodeBigEndian), encoding: .unicode)
    }

    /// Speaks text the caller already encoded (e.g. GB2312 clips stored on disk).
    public func speak(encodedText: [UInt8], encoding: FDTextEncoding) throws(VoiceError) {
        let frame = try FDFrame.speak(model: model, encodedText: encodedText, encoding: encoding)
        try exchange(frame, operation: "speak") { $0 == .received }
    }

    public func isBusy() throws(VoiceError) -> Bool {
        let frame = FDFrame.frame(model: model, command: FDFrame.commandStatus)
        // SYN6288 answers 41 then 4E/4F; XFS5152 answers 4E/4F (some firmware with 41 first).
        let answer = try exchange(frame, operation: "status query") { $0 == .busy || $0 == .idle }
        return answer == .busy
    }

    public func stop() throws(VoiceError) {
        try exchange(FDFrame.frame(model: model, command: FDFrame.commandStop), operation: "stop") { $0 == .received }
    }

    @discardableResult
    private func exchange(_ frame: [UInt8], operation: String, until done: (FDModuleResponse) -> Bool) throws(VoiceError) -> FDModuleResponse {
        guard answerTimeoutMilliseconds > 0 else {
            throw .invalidSetting("answer timeout \(answerTimeoutMilliseconds) ms must be positive")
        }
        do {
            // A stale 0x4F from the last announcement must not be read as this frame's answer.
            try transport.discardInput()
            try transport.write(frame, timeoutMilliseconds: Self.writeTimeoutMilliseconds)
        } catch {
            throw .transport(error)
        }
        let deadline = clock.nowMilliseconds() + Int64(answerTimeoutMilliseconds)
        var bytesSeen = 0
        while bytesSeen < Self.answerBytesMax {
            let remaining = deadline - clock.nowMilliseconds()
            if remaining <= 0 { break }
            let bytes: [UInt8]
            do { bytes = try transport.read(maxBytes: 16, timeoutMilliseconds: Int(remaining)) } catch { throw .transport(error) }
            bytesSeen += bytes.count
            for response in FDResponseParser.parse(bytes) {
                if response == .rejected { throw .frameRejected(module: moduleName, operation: operation) }
                if done(response) { return response }
                if case .unknown = response { unknownAnswerBytes += 1 }
            }
        }
        throw .noAnswer(module: moduleName, operation: operation, timeoutMilliseconds: answerTimeoutMilliseconds)
    }
}
