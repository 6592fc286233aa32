// Sends one AT command at a time and collects its answer; unsolicited lines are set aside.
import TimeSeam

/// The answer to one command: its information lines (echo and URCs removed).
public struct ATResponse: Equatable, Sendable {
    public var command: String
    public var lines: [String]
}

/// One owner per modem port (as for every serial bus): not shared between tasks.
public final class ATChannel {
    /// Bounds the unsolicited lines kept for the daemon; beyond it the oldest go (and are counted).
    public static let unsolicitedLinesMax = 32
    /// Bounds the bytes of one answer; a stream that never ends is cut there.
    public static let answerBytesMax = 16 * 1024
    /// Bytes asked of the port per read.
    static let readChunkBytes = 256
    /// Bounds the reads that drain pending lines before a command.
    static let drainReadsMax = 16
    static let writeTimeoutMilliseconds = 1_000

    public let transport: SerialTransport
    private let clock: any GatewayClock
    private var assembler = ATLineAssembler()
    private var unsolicited: [String] = []
    /// The next line belongs to a URC (+CMT: is followed by its PDU).
    private var nextLineIsUnsolicitedPayload = false
    public private(set) var unsolicitedLinesDropped = 0
    public private(set) var staleLinesDropped = 0

    public init(transport: SerialTransport, clock: any GatewayClock) {
        self.transport = transport
        self.clock = clock
    }

    /// Hands over the unsolicited lines collected so far (RING, +CMTI: …), oldest first.
    public func takeUnsolicitedLines() -> [String] {
        defer { unsolicited.removeAll() }
        return unsolicited
    }

    /// Waits up to `timeoutMilliseconds` for lines the modem sends on its own (RING, +CMTI …)
    /// between commands, and sets them aside; returns once something arrived or the time is up.
    /// This is how an idle owner hears an incoming call or SMS without sending anything.
    public func listen(timeoutMilliseconds: Int) throws(ModemError) {
        guard timeoutMilliseconds >= 0 else { throw .invalidSetting("listen timeout \(timeoutMilliseconds) ms is negative") }
        let bytes = try read(timeoutMilliseconds: timeoutMilliseconds)
        guard !bytes.isEmpty else { return }
        for line in assembler.feed(bytes) {
            if case .text(let text) = line { setAsideOrDrop(text) } else { staleLinesDropped += 1 }
        }
        try drainPending()
    }

    /// Sends `command` and waits for its final result. `solicited` says which prefixed lines
    /// belong to this answer when the same prefix also comes unsolicited (+CREG:).
    public func send(
        _ command: String, expectedPrefix: String? = nil, timeoutMilliseconds: Int,
        solicited: (String) -> Bool = { _ in true }
    ) throws(ModemError) -> ATResponse {
        try validate(command)
        try drainPending()
        try write(Array((command + "\r").utf8))
        return try collect(command: command, expectedPrefix: expectedPrefix, solicited: solicited,
                           waitForPrompt: false, timeoutMilliseconds: timeoutMilliseconds)
    }

    /// Sends a command that answers with the `> ` prompt (AT+CMGS=n), then the payload and
    /// Ctrl-Z, and collects the final answer. If the prompt never comes, ESC is sent so the
    /// modem is not left waiting for text.
    public func sendWithPayload(
        _ command: String, payload: String, expectedPrefix: String,
        promptTimeoutMilliseconds: Int, answerTimeoutMilliseconds: Int
    ) throws(ModemError) -> ATResponse {
        try validate(command)
        guard payload.utf8.allSatisfy({ $0 >= 0x20 && $0 < 0x7F }) else {
            throw .invalidSetting("payload for \(command) must be printable ASCII (hex PDU)")
        }
        try drainPending()
        try write(Array((command + "\r").utf8))
        do {
            _ = try collect(command: command, expectedPrefix: nil, solicited: { _ in true },
                            waitForPrompt: true, timeoutMilliseconds: promptTimeoutMilliseconds)
        } catch {
            if case .timedOut = error { try? transport.write([0x1B], timeoutMilliseconds: Self.writeTimeoutMilliseconds) }
            throw error
        }
        try write(Array(payload.utf8) + [0x1A])
        return try collect(command: command, expectedPrefix: expectedPrefix, solicited: { _ in true },
                           waitForPrompt: false, timeoutMilliseconds: answerTimeoutMilliseconds)
    }

    private func validate(_ command: String) throws(ModemError) {
        guard !command.isEmpty, command.utf8.allSatisfy({ $0 >= 0x20 && $0 < 0x7F }) else {
            throw .invalidSetting("AT command must be one line of printable ASCII: \(command.debugDescription)")
        }
    }

    private func write(_ bytes: [UInt8]) throws(ModemError) {
        do { try transport.write(bytes, timeoutMilliseconds: Self.writeTimeoutMilliseconds) } catch { throw .transport(error) }
    }

    private func read(timeoutMilliseconds: Int) throws(ModemError) -> [UInt8] {
        do { return try transport.read(maxBytes: Self.readChunkBytes, timeoutMilliseconds: timeoutMilliseconds) } catch {
            throw .transport(error)
        }
    }

    /// Picks up whatever arrived between commands (URCs) so it is not mistaken for an answer.
    private func drainPending() throws(ModemError) {
        for _ in 0..<Self.drainReadsMax {
            let bytes = try read(timeoutMilliseconds: 0)
            if bytes.isEmpty { return }
            for line in assembler.feed(bytes) {
                if case .text(let text) = line { setAsideOrDrop(text) } else { staleLinesDropped += 1 }
            }
        }
    }

    private func setAsideOrDrop(_ text: String) {
        if nextLineIsUnsolicitedPayload {
            nextLineIsUnsolicitedPayload = false
            keepUnsolicited(text)
        } else if ATClassifier.isUnsolicited(text) {
            keepUnsolicited(text)
            nextLineIsUnsolicitedPayload = ATClassifier.unsolicitedWithPDUPrefixes.contains { text.hasPrefix($0) }
        } else {
            staleLinesDropped += 1
        }
    }

    private func keepUnsolicited(_ line: String) {
        unsolicited.append(line)
        if unsolicited.count > Self.unsolicitedLinesMax {
            unsolicited.removeFirst(unsolicited.count - Self.unsolicitedLinesMax)
            unsolicitedLinesDropped += 1
        }
    }

    private func collect(
        command: String, expectedPrefix: String?, solicited: (String) -> Bool,
        waitForPrompt: Bool, timeoutMilliseconds: Int
    ) throws(ModemError) -> ATResponse {
        guard timeoutMilliseconds >= 0 else {
            throw .invalidSetting("timeout \(timeoutMilliseconds) ms for \(command) is negative")
        }
        let deadline = clock.nowMilliseconds() + Int64(timeoutMilliseconds)
        var answer: [String] = []
        var bytesSeen = 0
        while true {
            let remaining = deadline - clock.nowMilliseconds()
            guard remaining > 0 else { throw .timedOut(command: command, timeoutMilliseconds: timeoutMilliseconds) }
            let bytes = try read(timeoutMilliseconds: Int(remaining))
            bytesSeen += bytes.count
            guard bytesSeen <= Self.answerBytesMax else {
                throw .answerTooLong(command: command, bytes: Self.answerBytesMax)
            }
            let lines = assembler.feed(bytes)
            for (index, line) in lines.enumerated() {
                let finished: Bool
                switch line {
                case .prompt:
                    finished = waitForPrompt
                case .text(let text):
                    if let final = ATClassifier.finalResult(text) {
                        try Self.check(final, command: command)
                        // OK where the `> ` prompt was due: the modem will not take the payload.
                        if waitForPrompt { throw .unexpectedAnswer(command: command, lines: answer + [text]) }
                        finished = true
                    } else {
                        file(text, command: command, expectedPrefix: expectedPrefix, solicited: solicited, into: &answer)
                        finished = false
                    }
                }
                if finished {
                    // Lines after the end (a URC right behind OK) are not part of this answer.
                    for late in lines[(index + 1)...] {
                        if case .text(let text) = late { setAsideOrDrop(text) }
                    }
                    return ATResponse(command: command, lines: answer)
                }
            }
        }
    }

    private func file(
        _ text: String, command: String, expectedPrefix: String?, solicited: (String) -> Bool,
        into answer: inout [String]
    ) {
        if nextLineIsUnsolicitedPayload {
            nextLineIsUnsolicitedPayload = false
            keepUnsolicited(text)
            return
        }
        if text == command { return }  // echo (ATE1 not yet turned off)
        if let expectedPrefix, text.hasPrefix(expectedPrefix), solicited(text) {
            answer.append(text)
        } else if ATClassifier.isUnsolicited(text) {
            keepUnsolicited(text)
            nextLineIsUnsolicitedPayload = ATClassifier.unsolicitedWithPDUPrefixes.contains { text.hasPrefix($0) }
        } else {
            answer.append(text)
        }
    }

    private static func check(_ final: ATFinalResult, command: String) throws(ModemError) {
        switch final {
        case .ok: return
        case .error: throw .commandRejected(command: command)
        case .smsError(let code): throw .smsFailed(command: command, code: code)
        case .equipmentError(let code, let text): throw .equipmentFailed(command: command, code: code, text: text)
        case .otherFailure(let code): throw .otherFailure(command: command, resultCode: code)
        }
    }
}
