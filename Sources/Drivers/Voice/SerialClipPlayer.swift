// UART MP3 clip players of the YX5300 / DFPlayer Mini kind: 7E FF 06 cmd fb pH pL [chk] EF.
//
// DFPlayer Mini datasheet (DFRobot), "Examples of Sending Serial Commands", with / without checksum:
//   play track 1   7E FF 06 03 00 00 01 FE F7 EF   /  7E FF 06 03 00 00 01 EF
//   volume 30      7E FF 06 06 00 00 1E FE D7 EF   /  7E FF 06 06 00 00 1E EF
// The checksum is 0 − (sum of version…parameter), high byte first (DFRobotDFPlayerMini's
// calculateCheckSum). YX5300 (Catalex serial MP3 player) modules take the 8-byte form; stop is 0x16.

/// Whether the module wants the two checksum bytes (DFPlayer) or not (YX5300/Catalex).
public enum ClipPlayerFrameFormat: String, Sendable {
    case withChecksum
    case withoutChecksum
}

/// A message from the player (track finished, error, card events).
public struct ClipPlayerMessage: Equatable, Sendable {
    public var command: UInt8
    public var parameter: UInt16

    public static let trackFinishedTF: UInt8 = 0x3D
    public static let error: UInt8 = 0x40
    public static let acknowledged: UInt8 = 0x41
}

public enum ClipPlayerFrame {
    public static let commandPlayTrack: UInt8 = 0x03
    public static let commandSetVolume: UInt8 = 0x06
    public static let commandStop: UInt8 = 0x16
    public static let clipMax = 2999  // DFPlayer: 0–2999 tracks in the root directory
    public static let volumeMax = 30

    public static func frame(command: UInt8, parameter: UInt16, format: ClipPlayerFrameFormat, feedback: Bool = false) -> [UInt8] {
        let body: [UInt8] = [0xFF, 0x06, command, feedback ? 0x01 : 0x00, UInt8(parameter >> 8), UInt8(parameter & 0xFF)]
        var frame: [UInt8] = [0x7E] + body
        if format == .withChecksum {
            let sum = body.reduce(UInt16(0)) { $0 &+ UInt16($1) }
            let checksum = UInt16(0) &- sum
            frame += [UInt8(checksum >> 8), UInt8(checksum & 0xFF)]
        }
        frame.append(0xEF)
        return frame
    }
}

/// Finds player messages in a byte stream; pure, tolerant of noise, fuzzed by the tests.
public enum ClipPlayerResponseParser {
    /// Returns the messages found and how many bytes were skipped as noise or bad frames.
    public static func parse(_ bytes: [UInt8]) -> (messages: [ClipPlayerMessage], skippedBytes: Int) {
        var messages: [ClipPlayerMessage] = []
        var skipped = 0
        var index = 0
        while index < bytes.count {
            guard bytes[index] == 0x7E else { skipped += 1; index += 1; continue }
            if index + 10 <= bytes.count, bytes[index + 9] == 0xEF, bytes[index + 2] == 0x06 {
                let body = Array(bytes[(index + 1)...(index + 6)])
                let sum = body.reduce(UInt16(0)) { $0 &+ UInt16($1) }
                let checksum = UInt16(bytes[index + 7]) << 8 | UInt16(bytes[index + 8])
                if sum &+ checksum == 0 {
                    messages.append(ClipPlayerMessage(command: bytes[index + 3], parameter: UInt16(bytes[index + 5]) << 8 | UInt16(bytes[index + 6])))
                    index += 10
                    continue
                }
            }
            if index + 8 <= bytes.count, bytes[index + 7] == 0xEF, bytes[index + 2] == 0x06 {
                messages.append(ClipPlayerMessage(command: bytes[index + 3], parameter: UInt16(bytes[index + 5]) << 8 | UInt16(bytes[index + 6])))
                index += 8
                continue
            }
            skipped += 1
            index += 1
        }
        return (messages, skipped)
    }
}

/// The driver. Commands are sent without asking for acknowledgement (the modules' default use);
/// messages the player sends on its own (track finished) are read with `takeMessages`.
public final class SerialClipPlayer: ClipPlayer {
    static let writeTimeoutMilliseconds = 1_000
    /// Bounds the bytes read in one `takeMessages`.
    static let readBytesMax = 512

    public let transport: SerialTransport
    public let format: ClipPlayerFrameFormat

    public init(transport: SerialTransport, format: ClipPlayerFrameFormat) {
        self.transport = transport
        self.format = format
    }

    public func play(clip: Int) throws(VoiceError) {
        guard (1...ClipPlayerFrame.clipMax).contains(clip) else {
            throw .invalidSetting("clip \(clip) is outside 1…\(ClipPlayerFrame.clipMax)")
        }
        try send(ClipPlayerFrame.commandPlayTrack, UInt16(clip))
    }

    public func setVolume(_ volume: Int) throws(VoiceError) {
        guard (0...ClipPlayerFrame.volumeMax).contains(volume) else {
            throw .invalidSetting("volume \(volume) is outside 0…\(ClipPlayerFrame.volumeMax)")
        }
        try send(ClipPlayerFrame.commandSetVolume, UInt16(volume))
    }

    public func stop() throws(VoiceError) {
        try send(ClipPlayerFrame.commandStop, 0)
    }

    /// Reads what the player said within `timeoutMilliseconds` (one read; returns early).
    public func takeMessages(timeoutMilliseconds: Int) throws(VoiceError) -> [ClipPlayerMessage] {
        do {
            let bytes = try transport.read(maxBytes: Self.readBytesMax, timeoutMilliseconds: timeoutMilliseconds)
            return ClipPlayerResponseParser.parse(bytes).messages
        } catch {
            throw .transport(error)
        }
    }

    private func send(_ command: UInt8, _ parameter: UInt16) throws(VoiceError) {
        let frame = ClipPlayerFrame.frame(command: command, parameter: parameter, format: format)
        do { try transport.write(frame, timeoutMilliseconds: Self.writeTimeoutMilliseconds) } catch { throw .transport(error) }
    }
}
