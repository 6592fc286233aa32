// Wraps any outputs: logs every change, appends it to outputs.jsonl, and stays quiet after shutdown.
import Foundation
import Logging
import WarningLogic

/// Around the real or simulated outputs: one log line per output change, one JSON line per
/// change in `outputs.jsonl` in the state directory (what the end-to-end tests read from the
/// outside), and a gate: once the safe state is entered for shutdown, later actions are refused,
/// so a decision racing the SIGTERM cannot switch the siren back on.
actor RecordingOutputs: GatewayOutputs {
    static let fileName = "outputs.jsonl"
    static let previousFileName = "outputs.previous.jsonl"
    /// The record is for tests and technicians, not an archive: past this it is rotated once.
    static let fileBytesMax = 16 * 1024 * 1024

    private let inner: any GatewayOutputs
    private let logger: Logger
    private let path: String
    private let directory: String
    private let utcOffsetMinutes: Int
    private var descriptor: Int32 = -1
    private var fileBytes = 0
    private var stopped = false
    /// The shutdown's one entry into the safe state, which later callers wait for.
    private var safeStateEntered: Task<Void, Never>?
    private(set) var writeFailures = 0
    /// The last message broadcast: a red level repeats it every few minutes for hours, and the
    /// log shows the repeats at info so the changes stand out at notice.
    private var lastBroadcast: String?

    init(wrapping inner: any GatewayOutputs, stateDirectory: String, utcOffsetMinutes: Int, logger: Logger) {
        self.inner = inner
        self.logger = logger
        self.directory = stateDirectory
        self.path = "\(stateDirectory)/\(Self.fileName)"
        self.utcOffsetMinutes = utcOffsetMinutes
    }

    func perform(_ actions: [Action], at time: Timestamp) async {
        guard !stopped else {
            if actions.contains(where: Self.isOutward) {
                logger.notice("outputs are in their safe state for shutdown; not carrying out \(actions.count) actions")
            }
            return
        }
        await inner.perform(actions, at: time)
        let when = ISO8601.format(time, utcOffsetMinutes: utcOffsetMinutes)
        for action in actions {
            var record = JSONObjectWriter()
            record.add("time", string: when)
            record.add("time_ms", integer: time.millisecondsSinceUnixEpoch)
            switch action {
            case .setSiren(let pattern, let exercise):
                logger.info("siren \(pattern)\(exercise ? " (drill)" : "")")
                record.add("type", string: "siren")
                record.add("pattern", string: pattern.description)
                record.add("on", bool: pattern != .off)
                record.add("exercise", bool: exercise)
            case .setLamp(let colour, let exercise):
                logger.info("lamp \(colour?.rawValue ?? "off")\(exercise ? " (drill)" : "")")
                record.add("type", string: "lamp")
                record.add("lamp", string: colour?.rawValue ?? "off")
                record.add("exercise", bool: exercise)
            case .broadcast(let message, let exercise):
                logger.log(level: message == lastBroadcast ? .info : .notice, "broadcast\(exercise ? " (drill)" : ""): \(message)")
                lastBroadcast = message
                record.add("type", string: "broadcast")
                record.add("text", string: message)
                record.add("exercise", bool: exercise)
            case .sendSMS(let sms):
                logger.notice("SMS to \(sms.contact.name) (\(sms.contact.phone))\(sms.exercise ? " (drill)" : ""): \(sms.text)")
                record.add("type", string: "sms")
                record.add("to", string: sms.contact.name)
                record.add("phone", string: sms.contact.phone)
                record.add("text", string: sms.text)
                record.add("exercise", bool: sms.exercise)
            case .call(let call):
                logger.notice("call to \(call.contact.name) (\(call.contact.phone))\(call.exercise ? " (drill)" : "")")
                record.add("type", string: "call")
                record.add("to", string: call.contact.name)
                record.add("phone", string: call.contact.phone)
                record.add("exercise", bool: call.exercise)
            case .levelChanged(let change):
                record.add("type", string: "level")
                record.add("from", string: change.from.name)
                record.add("to", string: change.to.name)
                record.add("causes", strings: change.causes)
                record.add("exercise", bool: change.exercise)
            case .enqueueReport:
                // Reports go to the outbox, not to an output; the decision log line names them.
                continue
            }
            append(record.text)
        }
    }

    /// Once for the life of the box: a SIGTERM asks at once (on the signal) and the service
    /// group's graceful shutdown asks again; every caller returns when the outputs are safe, and
    /// the record and the log say it once. After it no action is carried out, so there is
    /// nothing a second entry could switch off.
    func enterSafeState() async {
        if let entering = safeStateEntered { return await entering.value }
        stopped = true
        let inner = self.inner
        let entering = Task { await inner.enterSafeState() }
        safeStateEntered = entering
        await entering.value
        logger.notice("outputs in their safe state: siren off, lamps off")
        var record = JSONObjectWriter()
        record.add("type", string: "safe_state")
        append(record.text)
    }

    func snapshot() async -> OutputSnapshot { await inner.snapshot() }

    func beginTest(_ test: OutputTest, at time: Timestamp) async -> String? {
        guard !stopped else { return "the box is stopping; its outputs stay in their safe state" }
        if let refusal = await inner.beginTest(test, at: time) { return refusal }
        var record = JSONObjectWriter()
        record.add("time", string: ISO8601.format(time, utcOffsetMinutes: utcOffsetMinutes))
        record.add("time_ms", integer: time.millisecondsSinceUnixEpoch)
        record.add("type", string: "test")
        switch test {
        case .siren:
            record.add("output", string: "siren")
        case .lamp(let colour):
            record.add("output", string: "lamp")
            record.add("lamp", string: colour.rawValue)
        case .voice(let text):
            record.add("output", string: "voice")
            record.add("text", string: text)
        case .sms(let contact, let text):
            record.add("output", string: "sms")
            record.add("to", string: contact.name)
            record.add("text", string: text)
        }
        logger.notice("output test: \(test)")
        append(record.text)
        return nil
    }

    func endTest() async {
        await inner.endTest()
        var record = JSONObjectWriter()
        record.add("type", string: "test_end")
        logger.notice("output test over: outputs back to what the engine asks")
        append(record.text)
    }

    /// A line that is not an output change: the daemon's start (with the level it resumed) and exit.
    func note(_ record: JSONObjectWriter) {
        append(record.text)
    }

    static func isOutward(_ action: Action) -> Bool {
        if case .enqueueReport = action { return false }
        return true
    }

    /// Written straight to the file (no buffer), so a kill -9 loses nothing already recorded.
    private func append(_ line: String) {
        if descriptor < 0 {
            descriptor = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o644)
            guard descriptor >= 0 else {
                writeFailures += 1
                if writeFailures == 1 { logger.error("cannot open \(path): \(String(cString: strerror(errno))); output changes are only logged") }
                return
            }
            var info = stat()
            fstat(descriptor, &info)
            fileBytes = Int(info.st_size)
        }
        let bytes = Array((line + "\n").utf8)
        let written = bytes.withUnsafeBytes { Glibc.write(descriptor, $0.baseAddress!, bytes.count) }
        if written != bytes.count {
            writeFailures += 1
            if writeFailures == 1 { logger.error("cannot append to \(path): \(String(cString: strerror(errno))); output changes are only logged") }
            return
        }
        fileBytes += bytes.count
        if fileBytes > Self.fileBytesMax {
            close(descriptor)
            descriptor = -1
            rename(path, "\(directory)/\(Self.previousFileName)")
        }
    }
}
