// The modem's one owner (叫应): SMS to the responsible people from a bounded queue kept on disk,
// calls to those who do not answer, and the answers coming back (SMS replies, calls to the box,
// keys in a call) handed to the engine as events. Bounded retries with backoff per message; the
// port is reopened with backoff after an unplug; the engine never waits for the network.
import Foundation
import Drivers
import Logging
import TimeSeam
import WarningLogic

struct SMSStatus: Equatable, Sendable {
    var sent = 0
    /// Given up after `attemptsMax` tries or refused for good (bad number), or pushed out of a
    /// full queue.
    var failed = 0
    /// Of `failed`: pushed out of a full queue.
    var dropped = 0
    var queued = 0
}

/// The modem as `status` and the shell show it.
struct ModemSnapshot: Codable, Equatable, Sendable {
    var port: String
    var model: String
    var open = false
    /// "registered (home)", "searching", …; nil until read.
    var registration: String?
    /// "on LTE", "on 2G/3G", "none": whether the module is registered for packet data
    /// (+CEREG/+CGREG); nil until read.
    var data: String?
    var signalDBm: Int?
    var lastError: String?
    var opens = 0
    var failures = 0
    /// SMS replies and calls to the box handed to the engine; calls the box made.
    var answersReceived = 0
    var callsMade = 0
}

/// The queue's policy, pure: what waits, what goes next, what a full queue gives up.
struct SMSQueue: Equatable {
    struct Entry: Equatable, Codable {
        var sms: SMS
        /// Tries so far; above zero it is a retry.
        var attempts = 0
        var notBeforeMilliseconds: Int64?
        var inFlight = false
    }

    let capacity: Int
    private(set) var entries: [Entry] = []

    init(capacity: Int) {
        precondition(capacity >= 1, "the SMS queue holds at least one message")
        self.capacity = capacity
    }

    /// The queue as saved on disk: messages and their tries so far. A retry's wait is measured on
    /// a monotonic clock that a restart resets, so saved messages are ready at once.
    init(capacity: Int, restoring saved: [Entry]) {
        self.init(capacity: capacity)
        entries = saved.prefix(capacity).map { entry in
            var entry = entry
            entry.inFlight = false
            entry.notBeforeMilliseconds = nil
            return entry
        }
    }

    /// Adds `sms`; when full, first gives up the oldest drill message being retried, then the
    /// oldest retry, then the oldest drill message, then the oldest message (never the one
    /// being sent). Returns what was given up.
    mutating func append(_ sms: SMS) -> SMS? {
        var dropped: SMS?
        if entries.count >= capacity {
            let waiting = entries.indices.filter { !entries[$0].inFlight }
            let choice = waiting.first { entries[$0].attempts > 0 && entries[$0].sms.exercise }
                ?? waiting.first { entries[$0].attempts > 0 }
                ?? waiting.first { entries[$0].sms.exercise }
                ?? waiting.first
            if let choice { dropped = entries.remove(at: choice).sms }
        }
        if entries.count < capacity {
            entries.append(Entry(sms: sms))
        } else {
            dropped = sms  // capacity 1 with the only message in flight
        }
        return dropped
    }

    /// The oldest message ready at `nowMilliseconds` (one waiting out its backoff does not hold
    /// back those behind it), marked in flight.
    mutating func takeReady(nowMilliseconds: Int64) -> SMS? {
        guard !entries.contains(where: \.inFlight),
              let index = entries.firstIndex(where: { ($0.notBeforeMilliseconds ?? nowMilliseconds) <= nowMilliseconds }) else { return nil }
        entries[index].inFlight = true
        return entries[index].sms
    }

    /// When the next waiting message becomes ready (`nowMilliseconds` if one is ready now).
    func nextReadyMilliseconds(nowMilliseconds: Int64) -> Int64? {
        entries.filter { !$0.inFlight }.map { $0.notBeforeMilliseconds ?? nowMilliseconds }.min()
    }

    /// The message in flight was sent: it leaves the queue.
    mutating func sent() {
        entries.removeAll(where: \.inFlight)
    }

    /// The message in flight failed: it waits `retryAfterMilliseconds` and tries again, or,
    /// after `attemptsMax` tries (or with `retryAfterMilliseconds` nil), leaves the queue.
    /// Returns true when it was given up.
    mutating func failed(nowMilliseconds: Int64, attemptsMax: Int, retryAfter: (Int) -> Int64?) -> Bool {
        guard let index = entries.firstIndex(where: \.inFlight) else { return false }
        entries[index].inFlight = false
        entries[index].attempts += 1
        guard entries[index].attempts < attemptsMax, let delay = retryAfter(entries[index].attempts) else {
            entries.remove(at: index)
            return true
        }
        entries[index].notBeforeMilliseconds = nowMilliseconds + delay
        return false
    }
}

/// How the worker reaches its modem: opened at start and again after a failure (an unplugged
/// USB modem comes back under the same name once the kernel sees it again).
struct ModemEndpoint: Sendable {
    var portDescription: String
    var model: ModemModel
    var open: @Sendable () throws(ModemError) -> Modem
}

/// The SMS queue on disk (`STATE_DIR/sms-queue.json`): written by the worker after every change,
/// read at start, so a restart sends what was waiting.
struct SMSQueueFile {
    static let fileName = "sms-queue.json"
    static let version = 1
    /// A queue file larger than this is not ours (32 messages of 10 parts fit easily).
    static let bytesMax = 1 << 20
    let path: String

    struct Contents: Codable {
        var version: Int
        var messages: [SMSQueue.Entry]
    }

    func load() -> (entries: [SMSQueue.Entry], problem: String?) {
        guard access(path, F_OK) == 0 else { return ([], nil) }
        let text: String
        do {
            text = try readTextFile(path: path)
        } catch {
            return ([], "cannot read \(path): \(error)")
        }
        guard text.utf8.count <= Self.bytesMax,
              let contents = try? JSONDecoder().decode(Contents.self, from: Data(text.utf8)), contents.version == Self.version else {
            return ([], "\(path) is damaged or from another version; its messages are lost (set aside as \(path).damaged)")
        }
        return (contents.messages, nil)
    }

    func save(_ entries: [SMSQueue.Entry]) throws(FileWriteError) {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        // Encoding plain strings, numbers and booleans cannot fail.
        let data = try! encoder.encode(Contents(version: Self.version, messages: entries))
        try writeFileAtomically(path: path, bytes: [UInt8](data))
    }
}

final class SMSWorker: SteppedWorker {
    static let queuedMessagesMax = 32
    static let attemptsMax = 5
    static let retryBackoffInitialMilliseconds: Int64 = 10_000
    static let retryBackoffMaxMilliseconds: Int64 = 300_000
    /// While no SMS is ready, the network registration is read this often, for the county push
    /// ("is there a network?"). Messages always go first: the check runs only when none is ready.
    static let registrationCheckEveryMilliseconds: Int64 = 60_000
    /// When idle, the port is looked at this often for RING and +CMTI.
    static let listenEveryMilliseconds: Int64 = 200
    /// In an accelerated simulation 200 ms of scenario time are microseconds of wall time: idle
    /// looks at the port (and registration reads) are at least this far apart on the wall, so
    /// the modem's thread does not spin on a shared core. On a board (1×) it changes nothing.
    static let idleLookWallMillisecondsMin: Int64 = 20
    /// While the box rings someone, the call's state is read this often.
    static let callPollEveryMilliseconds: Int64 = 1_000
    /// After the warning is spoken, a key is waited for this long before hanging up.
    static let keyWaitMilliseconds: Int64 = 20_000
    /// Calls waiting to be made; beyond it the oldest is given up (the next deadline rings again).
    static let queuedCallsMax = 16
    /// Answers handed to the engine but not yet taken; beyond it messages stay on the SIM and are
    /// read later.
    static let pendingAnswersMax = 64
    static let reopenBackoffInitialMilliseconds: Int64 = 1_000
    static let reopenBackoffMaxMilliseconds: Int64 = 60_000
    /// A caller id seen this recently is the same call ringing again, not a second answer.
    static let sameCallWindowMilliseconds: Int64 = 30_000

    /// 10 s, 20 s, 40 s, … up to 5 min after the n-th failure.
    static func retryDelayMilliseconds(afterAttempts attempts: Int) -> Int64 {
        let doublings = min(max(attempts - 1, 0), 20)
        return min(retryBackoffMaxMilliseconds, retryBackoffInitialMilliseconds << Int64(doublings))
    }

    private let lock = NSLock()
    private var queue = SMSQueue(capacity: queuedMessagesMax)
    private var calls: [PhoneCall] = []
    private var queueChanged = false
    private var published = SMSStatus()
    private var publishedModem: ModemSnapshot
    private var publishedNetwork: ModemNetworkReading?
    private var nextRegistrationCheckMilliseconds: Int64?
    /// Told (on the worker's thread) when a registration comes back: the county push ends its
    /// backoff (issue 18). Set once by `run` before the box gets going.
    private var networkReturnObserver: (@Sendable (String) -> Void)?
    /// Answers `ModemAnswersInput` has handed to the engine's queue (of `answersReceived`).
    private var answersSubmitted = 0

    /// Answers (SMS replies, calls to the box, keys, call outcomes) for the engine: drained by
    /// `answersInput`.
    let answers = ThreadToAsyncEventQueue(capacity: pendingAnswersMax)

    private let endpoint: ModemEndpoint
    private let queueFile: SMSQueueFile?
    /// The worker's own clock: a retry waits from the end of the failed attempt (which may
    /// have taken the modem's full 60 s), not from its start.
    private let clock: any GatewayClock
    private let logger: Logger

    // The worker thread's own state.
    private var modem: Modem?
    private var reopenBackoff = ReopenBackoff(initialMilliseconds: reopenBackoffInitialMilliseconds, maxMilliseconds: reopenBackoffMaxMilliseconds)
    private var nextOpenAttemptMilliseconds: Int64 = 0
    private var callInProgress: (call: PhoneCall, startedAt: Int64, pickedUp: Bool, spokenAt: Int64?)?
    private var ringingCaller: (number: String?, at: Int64)?
    private var lastCallerAnswer: (number: String, at: Int64)?
    private var nextListenMilliseconds: Int64 = 0
    /// The module's registration per domain as last heard (a report or a read); emptied when the
    /// port is (re)opened, since a module that was away may have lost the network meanwhile.
    private var registrations: [RegistrationDomain: NetworkRegistration] = [:]

    init(endpoint: ModemEndpoint, queueFile: SMSQueueFile?, clock: any GatewayClock, logger: Logger) {
        self.endpoint = endpoint
        self.queueFile = queueFile
        self.clock = clock
        self.logger = logger
        publishedModem = ModemSnapshot(port: endpoint.portDescription, model: endpoint.model.rawValue)
        if let queueFile {
            let (saved, problem) = queueFile.load()
            if let problem {
                logger.critical("SMS queue not restored", metadata: ["problem": "\(problem)"])
                rename(queueFile.path, queueFile.path + ".damaged")
            }
            queue = SMSQueue(capacity: Self.queuedMessagesMax, restoring: saved)
            published.queued = queue.entries.count
            if !saved.isEmpty { logger.notice("SMS waiting from before the restart", metadata: ["count": "\(saved.count)"]) }
        }
    }

    /// Over an already opened modem (the tests' twins): "reopening" hands back the same driver.
    convenience init(modem: Modem, model: ModemModel = .generic, queueFile: SMSQueueFile? = nil, clock: any GatewayClock, logger: Logger) {
        let driver = UncheckedSendableBox(modem)
        self.init(
            endpoint: ModemEndpoint(portDescription: modem.channel.transport.portDescription, model: model, open: { driver.value }),
            queueFile: queueFile, clock: clock, logger: logger)
    }

    // MARK: any thread

    func request(send sms: SMS) {
        lock.lock()
        defer { lock.unlock() }
        if let dropped = queue.append(sms) {
            published.failed += 1
            published.dropped += 1
            logger.critical(
                "SMS queue full: a message is given up to make room",
                metadata: ["to": "\(dropped.contact.name) \(dropped.contact.phone)", "text": "\(dropped.text)",
                           "exercise": "\(dropped.exercise)", "limit": "\(Self.queuedMessagesMax)"])
        }
        published.queued = queue.entries.count
        queueChanged = true
    }

    func request(call: PhoneCall) {
        lock.lock()
        defer { lock.unlock() }
        if calls.count >= Self.queuedCallsMax {
            let dropped = calls.removeFirst()
            logger.error("call queue full: the oldest call is not made", metadata: ["to": "\(dropped.contact.name)", "limit": "\(Self.queuedCallsMax)"])
        }
        calls.append(call)
    }

    var status: SMSStatus {
        lock.lock()
        defer { lock.unlock() }
        return published
    }

    var modemStatus: ModemSnapshot {
        lock.lock()
        defer { lock.unlock() }
        return publishedModem
    }

    /// The last registration read, and when (on the worker's clock); nil before the first.
    var network: ModemNetworkReading? {
        lock.lock()
        defer { lock.unlock() }
        return publishedNetwork
    }

    /// `handler` is called, on the worker's thread, with a line a technician can read each time the
    /// module becomes registered in a domain that carries data ("registered (home) on LTE,
    /// +CEREG report"): from its unsolicited reports, or from the periodic read when reports
    /// were missed or the module has none.
    func observeNetworkReturn(_ handler: @escaping @Sendable (String) -> Void) {
        lock.lock()
        defer { lock.unlock() }
        networkReturnObserver = handler
    }

    /// `ModemAnswersInput` handed one answer to the engine's queue.
    func answerSubmitted() {
        lock.lock()
        defer { lock.unlock() }
        answersSubmitted += 1
    }

    /// Every answer the worker heard is on the engine's queue (none is between the two).
    var answersAllSubmitted: Bool {
        lock.lock()
        defer { lock.unlock() }
        return answersSubmitted == publishedModem.answersReceived
    }

    /// The last registration read if it is at most `ageMillisecondsMax` old on the worker's clock.
    func network(ageMillisecondsMax: Int64) -> ModemNetworkReading? {
        guard let reading = network, clock.nowMilliseconds() - reading.readAtMilliseconds <= ageMillisecondsMax else { return nil }
        return reading
    }

    // MARK: the worker's thread

    func step(nowMilliseconds now: Int64) -> Int64? {
        saveQueueIfChanged()
        guard let modem = openedModem(now: now) else { return nextOpenAttemptMilliseconds }
        do throws(ModemError) {
            // Answers first: a reply must never wait behind a 60 s SMS send.
            try handle(modem.takeEvents(), modem: modem)
            if callInProgress != nil {
                return try followCall(modem)
            }
            lock.lock()
            let next = queue.takeReady(nowMilliseconds: now)
            let wakeAt = queue.nextReadyMilliseconds(nowMilliseconds: now)
            let call = next == nil && !calls.isEmpty ? calls.removeFirst() : nil
            lock.unlock()
            if let sms = next {
                send(sms, modem: modem)
                saveQueueIfChanged()
                return clock.nowMilliseconds()  // look at the queue again at once
            }
            if let call {
                try startCall(call, modem: modem)
                return clock.nowMilliseconds() + Self.callPollEveryMilliseconds
            }
            if now >= nextListenMilliseconds {
                try handle(modem.listen(timeoutMilliseconds: 0), modem: modem)
                nextListenMilliseconds = now + idleInterval(Self.listenEveryMilliseconds)
            }
            let checkAt = try checkRegistrationIfDue(modem, nowMilliseconds: now)
            return [wakeAt, checkAt, nextListenMilliseconds].compactMap { $0 }.min()
        } catch {
            lost(modem, error: error)
            return clock.nowMilliseconds()
        }
    }

    func finish() {
        saveQueueIfChanged()
        if callInProgress != nil { try? modem?.hangUp() }
    }

    /// The open modem, or nil while it is away (then `nextOpenAttemptMilliseconds` says when to
    /// try again). A newly opened modem is set up for answers and its stored messages are read.
    private func openedModem(now: Int64) -> Modem? {
        if let modem { return modem }
        guard now >= nextOpenAttemptMilliseconds else { return nil }
        do throws(ModemError) {
            let opened = try endpoint.open()
            try opened.configure()
            try opened.enableAnswers()
            if endpoint.model.speaksInCalls { try opened.enableKeyDetection(model: endpoint.model) }
            let reporting = try opened.enableRegistrationReports()
            if !reporting.contains(.circuit) {
                logger.warning("the modem does not report registration changes (AT+CREG=2 and =1 refused); it is read every \(Self.registrationCheckEveryMilliseconds / 1_000) s")
            }
            modem = opened
            registrations = [:]
            // Read the registration at once: the push learns of the network without a minute's wait.
            nextRegistrationCheckMilliseconds = nil
            reopenBackoff.reset()
            lock.lock()
            publishedModem.open = true
            publishedModem.opens += 1
            lock.unlock()
            logger.info("modem ready", metadata: ["port": "\(endpoint.portDescription)", "model": "\(endpoint.model.rawValue)"])
            // Replies that came while the box was off or the modem away wait on the SIM.
            try readStoredMessages(opened)
            return opened
        } catch {
            let delay = reopenBackoff.takeDelay()
            nextOpenAttemptMilliseconds = clock.nowMilliseconds() + delay
            noteError("modem cannot be opened: \(error); trying again in \(delay / 1000) s")
            return nil
        }
    }

    /// A transport failure or timeout: the modem is gone or hung. Close our side and reopen with
    /// backoff; a message in flight waits its retry, a call in progress is reported not reached.
    private func lost(_ modem: Modem, error: ModemError) {
        switch error {
        case .transport, .timedOut:
            self.modem = nil
            let delay = reopenBackoff.takeDelay()
            nextOpenAttemptMilliseconds = clock.nowMilliseconds() + delay
            lock.lock()
            publishedModem.open = false
            publishedModem.failures += 1
            lock.unlock()
            noteError("modem lost: \(error); reopening in \(delay / 1000) s")
        default:
            noteError("\(error)")
        }
        if let call = callInProgress {
            callInProgress = nil
            _ = answers.tryPut(.callEnded(phone: call.call.contact.phone, reached: call.pickedUp, detail: "modem failed during the call: \(error)"))
        }
    }

    private func noteError(_ text: String) {
        lock.lock()
        let repeated = publishedModem.lastError == text
        publishedModem.lastError = text
        lock.unlock()
        if !repeated { logger.error("\(text)") }
    }

    private func send(_ sms: SMS, modem: Modem) {
        do throws(ModemError) {
            let references = try modem.sendSMS(to: sms.contact.phone, text: sms.text)
            logger.info("SMS sent", metadata: ["to": "\(sms.contact.name)", "parts": "\(references.count)", "exercise": "\(sms.exercise)"])
            lock.lock()
            queue.sent()
            published.sent += 1
            published.queued = queue.entries.count
            queueChanged = true
            lock.unlock()
        } catch {
            let permanent: Bool = switch error {
            case .invalidPhoneNumber, .textTooLong, .invalidSetting: true
            default: false
            }
            let failedAt = clock.nowMilliseconds()
            lock.lock()
            let gaveUp = queue.failed(nowMilliseconds: failedAt, attemptsMax: Self.attemptsMax) { attempts in
                permanent ? nil : Self.retryDelayMilliseconds(afterAttempts: attempts)
            }
            if gaveUp { published.failed += 1 }
            published.queued = queue.entries.count
            queueChanged = true
            lock.unlock()
            if gaveUp {
                logger.critical("SMS given up", metadata: ["to": "\(sms.contact.name) \(sms.contact.phone)", "error": "\(error)"])
            } else {
                logger.error("SMS failed; will retry", metadata: ["to": "\(sms.contact.name)", "error": "\(error)"])
            }
            switch error {
            case .transport, .timedOut: lost(modem, error: error)
            default: break
            }
        }
    }

    private func saveQueueIfChanged() {
        guard let queueFile else { return }
        lock.lock()
        guard queueChanged else {
            lock.unlock()
            return
        }
        queueChanged = false
        let entries = queue.entries
        lock.unlock()
        do {
            try queueFile.save(entries)
        } catch {
            lock.lock()
            queueChanged = true  // try again at the next step
            lock.unlock()
            noteError("SMS queue not saved: \(error)")
        }
    }

    // MARK: answers

    private func handle(_ events: [ModemEvent], modem: Modem) throws(ModemError) {
        for event in events {
            switch event {
            case .messageStored(_, let index):
                guard let message = try modem.readMessage(index: index) else { continue }
                guard take(message) else { return }  // the engine's queue is full: read it later
                try modem.deleteMessage(index: index)
            case .messageDelivered(let sms):
                _ = take(.success(sms))
            case .unreadableMessage(let detail):
                logger.warning("an SMS could not be read", metadata: ["detail": "\(detail)"])
            case .ring:
                if ringingCaller == nil { ringingCaller = (nil, clock.nowMilliseconds()) }
            case .callerID(let number):
                try answerCall(from: number, modem: modem)
            case .key(let key):
                guard let call = callInProgress else { continue }
                if answers.tryPut(.reply(phone: call.call.contact.phone, channel: .keypress, text: String(key))) {
                    countAnswer()
                }
                try modem.hangUp()
                callInProgress = nil
                _ = answers.tryPut(.callEnded(phone: call.call.contact.phone, reached: true, detail: "picked up, heard the warning and pressed \(key)"))
            case .callEnded(let reason):
                if let call = callInProgress {
                    callInProgress = nil
                    _ = answers.tryPut(.callEnded(
                        phone: call.call.contact.phone, reached: call.pickedUp,
                        detail: call.pickedUp ? "picked up, then \(reason)" : reason.lowercased()))
                }
                ringingCaller = nil
            case .registration(let domain, let registration):
                noteRegistrations([(domain, registration)], heardBy: "\(domain.resultPrefix.dropLast()) report")
            case .other:
                continue
            }
        }
    }

    /// A call to the box: hang up without answering (free for the caller) and take it as their
    /// answer. The same call ringing again is one answer.
    private func answerCall(from number: String, modem: Modem) throws(ModemError) {
        ringingCaller = nil
        // The answer is handed over before the hang-up: a modem that fails at ATH cannot lose it,
        // and once the caller hears the line drop, the engine has their answer.
        recordCallAnswer(from: number)
        try modem.hangUp()
    }

    private func recordCallAnswer(from number: String) {
        let now = clock.nowMilliseconds()
        guard !number.isEmpty else {
            logger.notice("a call to the box with the caller id withheld: not an answer")
            return
        }
        if let last = lastCallerAnswer, PhoneNumber.same(last.number, number), now - last.at < Self.sameCallWindowMilliseconds { return }
        lastCallerAnswer = (number, now)
        if answers.tryPut(.reply(phone: number, channel: .call, text: "")) { countAnswer() }
    }

    /// Hands an SMS to the engine; false when its queue is full (the message stays on the SIM).
    private func take(_ message: Result<IncomingSMS, SMSDeliverDecoder.DecodeError>) -> Bool {
        switch message {
        case .success(let sms):
            guard answers.tryPut(.reply(phone: sms.sender, channel: .sms, text: sms.text)) else { return false }
            countAnswer()
            return true
        case .failure(let error):
            // Unreadable: nothing to hand over; deleted so the SIM does not fill with it.
            logger.warning("an SMS on the SIM could not be read; deleted", metadata: ["error": "\(error)"])
            return true
        }
    }

    private func countAnswer() {
        lock.lock()
        publishedModem.answersReceived += 1
        lock.unlock()
    }

    private func readStoredMessages(_ modem: Modem) throws(ModemError) {
        for stored in try modem.storedMessages() {
            guard take(stored.message) else { return }
            try modem.deleteMessage(index: stored.index)
        }
    }

    // MARK: calls the box makes

    private func startCall(_ call: PhoneCall, modem: Modem) throws(ModemError) {
        do {
            try modem.dial(call.contact.phone)
        } catch {
            switch error {
            case .transport, .timedOut: throw error
            default:
                _ = answers.tryPut(.callEnded(phone: call.contact.phone, reached: false, detail: "not dialled: \(error)"))
                return
            }
        }
        callInProgress = (call, clock.nowMilliseconds(), false, nil)
        lock.lock()
        publishedModem.callsMade += 1
        lock.unlock()
        logger.notice("calling", metadata: ["to": "\(call.contact.name)", "exercise": "\(call.exercise)"])
    }

    /// Rings up to the call's ring time; once picked up, speaks the warning (a module that can)
    /// and waits for a key, or counts the person as reached and hangs up.
    private func followCall(_ modem: Modem) throws(ModemError) -> Int64 {
        guard var current = callInProgress else { return clock.nowMilliseconds() }
        let now = clock.nowMilliseconds()
        let ours = try modem.currentCalls().first { $0.outgoing }
        func end(reached: Bool, _ detail: String) throws(ModemError) -> Int64 {
            try modem.hangUp()
            callInProgress = nil
            _ = answers.tryPut(.callEnded(phone: current.call.contact.phone, reached: reached, detail: detail))
            return clock.nowMilliseconds()
        }
        guard let ours else {
            return try end(reached: current.pickedUp, current.pickedUp ? "picked up, then hung up" : "the call ended before it was picked up")
        }
        if ours.state == .active && !current.pickedUp {
            current.pickedUp = true
            callInProgress = current
            guard endpoint.model.speaksInCalls else {
                return try end(reached: true, "picked up (this modem cannot speak: reached, not answered)")
            }
            try modem.speak(current.call.text + " 收到请按任意键。", model: endpoint.model)
            current.spokenAt = now
            callInProgress = current
        }
        if current.pickedUp {
            if let spokenAt = current.spokenAt, now - spokenAt >= Self.keyWaitMilliseconds {
                return try end(reached: true, "picked up and heard the warning, no key pressed")
            }
        } else if now - current.startedAt >= current.call.ringMilliseconds {
            return try end(reached: false, "no answer within \(current.call.ringMilliseconds / 1000) s")
        }
        return now + Self.callPollEveryMilliseconds
    }

    /// `milliseconds` on the worker's clock, stretched to last at least
    /// `idleLookWallMillisecondsMin` on the wall.
    private func idleInterval(_ milliseconds: Int64) -> Int64 {
        let wallNanoseconds = clock.wallNanoseconds(forClockNanoseconds: milliseconds * 1_000_000)
        let floorNanoseconds = Self.idleLookWallMillisecondsMin * 1_000_000
        guard wallNanoseconds > 0, wallNanoseconds < floorNanoseconds else { return milliseconds }
        return milliseconds * (floorNanoseconds / wallNanoseconds + 1)
    }

    // MARK: registration and signal

    /// Reads +CREG/+CEREG and the signal when due and publishes them; returns when next due.
    private func checkRegistrationIfDue(_ modem: Modem, nowMilliseconds now: Int64) throws(ModemError) -> Int64 {
        if let due = nextRegistrationCheckMilliseconds, now < due { return due }
        // A reply whose +CMTI was missed (or that waited while the engine's queue was full).
        try readStoredMessages(modem)
        let reading: ModemNetworkReading
        do throws(ModemError) {
            let signal = try? modem.signalQuality()
            let status = try modem.networkStatus()
            reading = ModemNetworkReading(status: status, readAtMilliseconds: clock.nowMilliseconds(), failure: nil)
            lock.lock()
            publishedModem.signalDBm = signal?.dBm
            lock.unlock()
            let heard = [RegistrationDomain.circuit, .packet, .eps].compactMap { domain in status.registration(domain).map { (domain, $0) } }
            noteRegistrations(heard, heardBy: "registration read")
        } catch {
            switch error {
            case .transport, .timedOut: throw error
            default: break
            }
            // Unknown, not "no network": the push then relies on its own reachability check.
            reading = ModemNetworkReading(status: nil, readAtMilliseconds: clock.nowMilliseconds(), failure: "\(error)")
            // Once per kind of failure, not every minute for the weeks a SIM may be missing.
            if network?.failure != reading.failure {
                logger.warning("modem registration could not be read", metadata: ["error": "\(error)"])
            }
        }
        let due = clock.nowMilliseconds() + idleInterval(Self.registrationCheckEveryMilliseconds)
        lock.lock()
        publishedNetwork = reading
        nextRegistrationCheckMilliseconds = due
        lock.unlock()
        return due
    }

    /// Registrations heard (a report, or the periodic read): published for `status`, and when
    /// the module has just become (more surely) able to carry data, the county push is told
    /// (issue 18): circuit registration back (data likely), then a data domain registered (the
    /// attach: data now). A report that changes nothing for data (a cell change with n = 2, LTE
    /// joining 3G data) tells nobody: a module moving between cells must not reset the push's
    /// backoff each time.
    private func noteRegistrations(_ heard: [(RegistrationDomain, NetworkRegistration)], heardBy: String) {
        guard !heard.isEmpty else { return }
        let evidenceBefore = heardNetwork?.dataEvidence ?? .none
        for (domain, registration) in heard { registrations[domain] = registration }
        guard let status = heardNetwork else { return }
        lock.lock()
        if let circuit = registrations[.circuit] { publishedModem.registration = circuit.statusText }
        publishedModem.data = status.dataText
        // The push asks "is there a network?" before it tries: a report answers it at once, so
        // the push that a report woke does not find last minute's "no" and rest again.
        publishedNetwork = ModemNetworkReading(status: status, readAtMilliseconds: clock.nowMilliseconds(), failure: nil)
        let observer = networkReturnObserver
        lock.unlock()
        guard status.dataEvidence > evidenceBefore else { return }
        let domain: RegistrationDomain = status.eps?.carriesData == true ? .eps : status.packet?.carriesData == true ? .packet : .circuit
        let detail = "\((status.registration(domain) ?? .unknown).statusText) on \(domain.networkName), \(heardBy)"
        logger.info("modem: the network carries data", metadata: ["registration": "\(detail)"])
        observer?(detail)
    }

    /// The registrations as last heard; nil before any.
    private var heardNetwork: ModemNetworkStatus? {
        guard !registrations.isEmpty else { return nil }
        return ModemNetworkStatus(circuit: registrations[.circuit] ?? .unknown, eps: registrations[.eps], packet: registrations[.packet])
    }
}

extension RegistrationDomain {
    /// "+CREG:", as the module writes it.
    var resultPrefix: String {
        switch self {
        case .circuit: "+CREG:"
        case .packet: "+CGREG:"
        case .eps: "+CEREG:"
        }
    }

    var networkName: String {
        switch self {
        case .circuit: "the network"
        case .packet: "2G/3G data"
        case .eps: "LTE"
        }
    }
}

extension ModemNetworkStatus {
    /// How surely data can go, as the module says it: a link signal is raised when this rises.
    enum DataEvidence: Int, Comparable {
        case none = 0
        /// Registered for calls and SMS, nothing known of data (a module without +CGREG/+CEREG,
        /// or data not attached yet): a push may work.
        case circuitOnly = 1
        /// Registered for packet data (+CGREG or +CEREG): attached.
        case dataDomain = 2

        static func < (left: Self, right: Self) -> Bool { left.rawValue < right.rawValue }
    }

    var dataEvidence: DataEvidence {
        if eps?.carriesData == true || packet?.carriesData == true { return .dataDomain }
        return hasDataNetwork ? .circuitOnly : .none
    }

    /// For `status`: where packet data can go, or "none".
    var dataText: String {
        switch dataEvidence {
        case .dataDomain: eps?.carriesData == true ? "on LTE" : "on 2G/3G"
        case .circuitOnly: "not attached (registered for calls and SMS)"
        case .none: "none"
        }
    }
}

extension NetworkRegistration {
    var statusText: String {
        switch self {
        case .notRegistered: "not registered"
        case .registeredHome: "registered (home)"
        case .searching: "searching"
        case .denied: "registration denied"
        case .unknown: "unknown"
        case .registeredRoaming: "registered (roaming)"
        case .registeredHomeSMSOnly: "registered (home, SMS only)"
        case .registeredRoamingSMSOnly: "registered (roaming, SMS only)"
        case .emergencyBearerOnly: "emergency only"
        case .registeredHomeCSFBNotPreferred, .registeredRoamingCSFBNotPreferred: "registered"
        }
    }
}

/// The answers the modem heard, as an input of the box: the SMS worker's thread puts them on a
/// bounded queue; this hands them to the engine's queue, stamped with the box's time.
///
/// `@unchecked Sendable`: `SMSWorker` is not Sendable (its modem belongs to the worker's thread);
/// this input touches only its thread-safe parts, the `answers` queue and the locked counters.
struct ModemAnswersInput: GatewayInput, @unchecked Sendable {
    let worker: SMSWorker
    let inputDescription: String

    func run(into sink: any EventSink, clock: any GatewayClock) async throws {
        while let kind = await worker.answers.next() {
            await sink.submit(Event(time: clock.now(), kind: kind))
            worker.answerSubmitted()
        }
    }

    func statusCounters() -> [InputCounter] {
        let modem = worker.modemStatus
        return [
            InputCounter(name: "answers received", value: modem.answersReceived), InputCounter(name: "calls made", value: modem.callsMade),
            InputCounter(name: "port opens", value: modem.opens), InputCounter(name: "port failures", value: modem.failures),
        ]
    }
}

/// A value shared between the thread that opens a port and whoever swaps it (a replug in sim).
/// `@unchecked Sendable`, and not a `Mutex`: the value is a driver port (not Sendable) that is
/// handed out of the lock to the modem worker's thread while a reference stays inside for the
/// next replug; Mutex's `sending` rule rightly refuses that, and the port's own lock makes it safe.
final class LockedValue<Value>: @unchecked Sendable {
    private let lock = NSLock()
    private var value: Value

    init(_ value: Value) { self.value = value }

    func withLock<Result>(_ body: (inout Value) -> Result) -> Result {
        lock.lock()
        defer { lock.unlock() }
        return body(&value)
    }
}

/// Carries a non-Sendable driver into a `@Sendable` opener; the worker's thread is its only user.
/// `@unchecked Sendable` by definition: the single-user rule above is what makes it safe.
final class UncheckedSendableBox<Value>: @unchecked Sendable {
    let value: Value
    init(_ value: Value) { self.value = value }
}

/// One registration read for the county push: `status` nil when the modem did not answer it.
struct ModemNetworkReading: Equatable, Sendable {
    var status: ModemNetworkStatus?
    var readAtMilliseconds: Int64
    var failure: String?
}
