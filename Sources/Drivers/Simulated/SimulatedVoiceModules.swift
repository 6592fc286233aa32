// Twins of the voice modules: an 0xFD-framed TTS module and an MP3 clip player, on SimulatedSerialPort.

/// Answers like a SYN6288 or XFS5152: checks the frame (and SYN6288's XOR), acknowledges with
/// 0x41 or rejects with 0x45, reports busy/idle, and keeps what it was asked to say. Given a
/// clock, it finishes speaking after the text's time (`speechMillisecondsPerCharacter`), as the
/// real module does; without one it speaks until told to stop (the tests set `speaking`).
public final class SimulatedTextToSpeechModule: SimulatedSerialDevice {
    public static let spokenLogMax = 256
    /// Bounds a partial frame kept between writes.
    public static let frameBytesMax = 4_200
    /// About four Chinese characters a second, the modules' normal rate.
    public static let speechMillisecondsPerCharacter: Int64 = 250

    public let model: FDModuleModel
    public let clock: SimulatedClock?
    private var speakingUntilNanoseconds: Int64?
    private var speakingValue = false
    public var speaking: Bool {
        get {
            if speakingValue, let clock, let until = speakingUntilNanoseconds, clock.nanoseconds >= until {
                speakingValue = false
                speakingUntilNanoseconds = nil
            }
            return speakingValue
        }
        set {
            speakingValue = newValue
            speakingUntilNanoseconds = nil
        }
    }
    /// When true the module stays silent (unpowered, TX/RX swapped).
    public var silent = false
    public private(set) var spokenTexts: [(encoding: UInt8, bytes: [UInt8])] = []
    public private(set) var stopCount = 0
    private var buffer: [UInt8] = []

    public init(model: FDModuleModel, clock: SimulatedClock? = nil) {
        self.model = model
        self.clock = clock
    }

    public func receive(_ bytes: [UInt8]) -> [UInt8] {
        guard !silent else { return [] }
        buffer += bytes
        var answer: [UInt8] = []
        while let start = buffer.firstIndex(of: 0xFD) {
            buffer.removeFirst(start)
            guard buffer.count >= 3 else { break }
            let length = Int(buffer[1]) << 8 | Int(buffer[2])
            guard length >= 1, length + 3 <= Self.frameBytesMax else {
                buffer.removeFirst()
                answer.append(0x45)
                continue
            }
            guard buffer.count >= 3 + length else { break }
            let frame = Array(buffer.prefix(3 + length))
            buffer.removeFirst(3 + length)
            answer += handle(frame)
        }
        if buffer.count > Self.frameBytesMax { buffer.removeAll() }
        return answer
    }

    private func handle(_ frame: [UInt8]) -> [UInt8] {
        var body = Array(frame[3...])
        if model == .syn6288 {
            guard frame.dropLast().reduce(0, ^) == frame.last else { return [0x45] }
            body.removeLast()
        }
        guard let command = body.first else { return [0x45] }
        switch command {
        case FDFrame.commandSpeak:
            guard body.count >= 3 else { return [0x45] }
            spokenTexts.append((encoding: body[1] & 0x07, bytes: Array(body[2...])))
            if spokenTexts.count > Self.spokenLogMax { spokenTexts.removeFirst() }
            speaking = true
            if let clock {
                // Unicode text is two bytes a character; GB2312 and GBK too, for Chinese.
                let characters = Int64(max(1, (body.count - 2) / 2))
                speakingUntilNanoseconds = clock.nanoseconds + characters * Self.speechMillisecondsPerCharacter * 1_000_000
            }
            return [0x41]
        case FDFrame.commandStop:
            stopCount += 1
            speaking = false
            return [0x41]
        case FDFrame.commandStatus:
            let state: UInt8 = speaking ? 0x4E : 0x4F
            if model == .syn6288 { return [0x41, state] }
            return [state]
        default:
            return [0x45]
        }
    }

    /// What was said, decoded from Unicode in `bigEndian` order (for assertions and the sim log).
    public func spokenUnicodeText(_ index: Int, bigEndian: Bool) -> String? {
        guard spokenTexts.indices.contains(index), spokenTexts[index].encoding == FDTextEncoding.unicode.rawValue else { return nil }
        let bytes = spokenTexts[index].bytes
        guard bytes.count % 2 == 0 else { return nil }
        var units: [UInt16] = []
        for offset in stride(from: 0, to: bytes.count, by: 2) {
            let first = UInt16(bytes[offset])
            let second = UInt16(bytes[offset + 1])
            units.append(bigEndian ? first << 8 | second : second << 8 | first)
        }
        return String(decoding: units, as: UTF16.self)
    }
}

/// Keeps what an MP3 clip player was told (clip, volume, stop) and can announce a finished track.
public final class SimulatedClipPlayerModule: SimulatedSerialDevice {
    public static let commandLogMax = 256

    public let format: ClipPlayerFrameFormat
    public private(set) var receivedMessages: [ClipPlayerMessage] = []
    public private(set) var playingClip: Int?
    public private(set) var volume = 20

    public init(format: ClipPlayerFrameFormat) {
        self.format = format
    }

    public func receive(_ bytes: [UInt8]) -> [UInt8] {
        for message in ClipPlayerResponseParser.parse(bytes).messages {
            receivedMessages.append(message)
            if receivedMessages.count > Self.commandLogMax { receivedMessages.removeFirst() }
            switch message.command {
            case ClipPlayerFrame.commandPlayTrack: playingClip = Int(message.parameter)
            case ClipPlayerFrame.commandSetVolume: volume = Int(message.parameter)
            case ClipPlayerFrame.commandStop: playingClip = nil
            default: break
            }
        }
        return []
    }

    /// The frame the player sends when a clip ends (0x3D with the track number).
    public func finishClip() -> [UInt8] {
        let clip = playingClip ?? 0
        playingClip = nil
        return ClipPlayerFrame.frame(command: ClipPlayerMessage.trackFinishedTF, parameter: UInt16(clip), format: format)
    }
}
