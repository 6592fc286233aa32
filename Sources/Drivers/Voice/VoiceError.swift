// What can go wrong with a voice module (TTS or MP3 clip player), in words a technician can act on.

public enum VoiceError: Error, Equatable, Sendable, CustomStringConvertible {
    case transport(SerialError)
    /// The module did not acknowledge within its deadline (unpowered, wrong baud rate, TX/RX swapped).
    case noAnswer(module: String, operation: String, timeoutMilliseconds: Int)
    /// The module answered 0x45: it could not read the frame (wrong model or encoding configured).
    case frameRejected(module: String, operation: String)
    case textTooLong(bytes: Int, bytesMax: Int)
    case textNotEncodable(String)
    case invalidSetting(String)

    public var description: String {
        switch self {
        case .transport(let error):
            "voice module: \(error)"
        case .noAnswer(let module, let operation, let timeout):
            "\(module) did not answer \(operation) within \(timeout) ms: check its power, baud rate and TX/RX wiring"
        case .frameRejected(let module, let operation):
            "\(module) rejected the \(operation) frame: is the configured module model right?"
        case .textTooLong(let bytes, let bytesMax):
            "text of \(bytes) bytes is longer than the module takes (\(bytesMax)): split the announcement"
        case .textNotEncodable(let text):
            "text cannot be encoded for the module: \(text.debugDescription)"
        case .invalidSetting(let detail):
            "invalid voice module setting: \(detail)"
        }
    }
}

/// A text-to-speech module as the daemon uses it.
public protocol TextToSpeech: AnyObject {
    func speak(_ text: String) throws(VoiceError)
    func isBusy() throws(VoiceError) -> Bool
    func stop() throws(VoiceError)
}

/// An MP3 clip player (pre-recorded announcements by number).
public protocol ClipPlayer: AnyObject {
    func play(clip: Int) throws(VoiceError)
    func setVolume(_ volume: Int) throws(VoiceError)
    func stop() throws(VoiceError)
}
