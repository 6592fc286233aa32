// SMS to the responsible people (叫应): a bounded queue drained by one worker that owns the
// modem, with bounded retries and backoff per message; the engine never waits for the network.
import Foundation
import Drivers
import Logging
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

/// The queue's policy, pure: what waits, what goes next, what a full queue gives up.
struct SMSQueue: Equatable {
    struct Entry: Equatable {
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

final class SMSWorker: SteppedWorker {
    static let queuedMessagesMax = 32
    static let attemptsMax = 5
    static let retryBackoffInitialMilliseconds: Int64 = 10_000
    static let retryBackoffMaxMilliseconds: Int64 = 300_000
    /// While no SMS is ready, the network registration is read this often, for the county push
    /// ("is there a network?"). Messages always go first: the check runs only when none is ready.
    static let registrationCheckEveryMilliseconds: Int64 = 60_000

    /// 10 s, 20 s, 40 s, … up to 5 min after the n-th failure.
    static func retryDelayMilliseconds(afterAttempts attempts: Int) -> Int64 {
        let doublings = min(max(attempts - 1, 0), 20)
        return min(retryBackoffMaxMilliseconds, retryBackoffInitialMilliseconds << Int64(doublings))
    }

    private let lock = NSLock()
    private var queue = SMSQueue(capacity: queuedMessagesMax)
    private var published = SMSStatus()
    private var publishedNetwork: ModemNetworkReading?
    private var nextRegistrationCheckMilliseconds: Int64?

    private let modem: Modem
    /// The worker's own clock: a retry waits from the end of the failed attempt (which may
    /// have taken the modem's full 60 s), not from its start.
    private let clock: any MonotonicClock
    private let logger: Logger
    /// The modem is (re)configured before the first message and after a transport failure or
    /// timeout (it may have been power-cycled and lost PDU mode).
    private var modemNeedsConfiguring = true

    init(modem: Modem, clock: any MonotonicClock, logger: Logger) {
        self.modem = modem
        self.clock = clock
        self.logger = logger
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
    }

    var status: SMSStatus {
        lock.lock()
        defer { lock.unlock() }
        return published
    }

    /// The last registration read, and when (on the worker's clock); nil before the first.
    var network: ModemNetworkReading? {
        lock.lock()
        defer { lock.unlock() }
        return publishedNetwork
    }

    /// The last registration read if it is at most `ageMillisecondsMax` old on the worker's clock.
    func network(ageMillisecondsMax: Int64) -> ModemNetworkReading? {
        guard let reading = network, clock.nowMilliseconds() - reading.readAtMilliseconds <= ageMillisecondsMax else { return nil }
        return reading
    }

    // MARK: the worker's thread

    func step(nowMilliseconds now: Int64) -> Int64? {
        lock.lock()
        let next = queue.takeReady(nowMilliseconds: now)
        let wakeAt = queue.nextReadyMilliseconds(nowMilliseconds: now)
        lock.unlock()
        guard let sms = next else {
            let checkAt = checkRegistrationIfDue(nowMilliseconds: now)
            return wakeAt.map { min($0, checkAt) } ?? checkAt
        }
        do throws(ModemError) {
            if modemNeedsConfiguring {
                try modem.configure()
                modemNeedsConfiguring = false
            }
            let references = try modem.sendSMS(to: sms.contact.phone, text: sms.text)
            logger.info("SMS sent", metadata: ["to": "\(sms.contact.name)", "parts": "\(references.count)", "exercise": "\(sms.exercise)"])
            lock.lock()
            queue.sent()
            published.sent += 1
            published.queued = queue.entries.count
            lock.unlock()
        } catch {
            let permanent: Bool = switch error {
            case .invalidPhoneNumber, .textTooLong, .invalidSetting: true
            default: false
            }
            switch error {
            case .transport, .timedOut: modemNeedsConfiguring = true
            default: break
            }
            let failedAt = clock.nowMilliseconds()
            lock.lock()
            let gaveUp = queue.failed(nowMilliseconds: failedAt, attemptsMax: Self.attemptsMax) { attempts in
                permanent ? nil : Self.retryDelayMilliseconds(afterAttempts: attempts)
            }
            if gaveUp { published.failed += 1 }
            published.queued = queue.entries.count
            lock.unlock()
            if gaveUp {
                logger.critical("SMS given up", metadata: ["to": "\(sms.contact.name) \(sms.contact.phone)", "error": "\(error)"])
            } else {
                logger.error("SMS failed; will retry", metadata: ["to": "\(sms.contact.name)", "error": "\(error)"])
            }
        }
        return clock.nowMilliseconds()  // look at the queue again at once
    }

    func finish() {}

    /// Reads +CREG/+CEREG when due and publishes it; returns when the next read is due.
    private func checkRegistrationIfDue(nowMilliseconds now: Int64) -> Int64 {
        if let due = nextRegistrationCheckMilliseconds, now < due { return due }
        let reading: ModemNetworkReading
        do throws(ModemError) {
            reading = ModemNetworkReading(status: try modem.networkStatus(), readAtMilliseconds: clock.nowMilliseconds(), failure: nil)
        } catch {
            switch error {
            case .transport, .timedOut: modemNeedsConfiguring = true
            default: break
            }
            // Unknown, not "no network": the push then relies on its own reachability check.
            reading = ModemNetworkReading(status: nil, readAtMilliseconds: clock.nowMilliseconds(), failure: "\(error)")
            // Once per kind of failure, not every minute for the weeks a SIM may be missing.
            if network?.failure != reading.failure {
                logger.warning("modem registration could not be read", metadata: ["error": "\(error)"])
            }
        }
        let due = clock.nowMilliseconds() + Self.registrationCheckEveryMilliseconds
        lock.lock()
        publishedNetwork = reading
        nextRegistrationCheckMilliseconds = due
        lock.unlock()
        return due
    }
}

/// One registration read for the county push: `status` nil when the modem did not answer it.
struct ModemNetworkReading: Equatable, Sendable {
    var status: ModemNetworkStatus?
    var readAtMilliseconds: Int64
    var failure: String?
}
