// The voice module: a worker speaks the engine's broadcasts in order, waiting while the module
// is busy, with a bounded queue where the newest announcement always gets in.
import Foundation
import Drivers
import Logging
import WarningLogic

/// What the box speaks through: a text-to-speech module, or an MP3 clip player with a clip
/// number for each configured message.
enum VoiceDevice {
    case textToSpeech(any TextToSpeech)
    /// Clip players cannot say whether they are still playing, so the next clip waits
    /// `clipMillisecondsMax` (the longest recorded announcement).
    case clipPlayer(any ClipPlayer, clipsByMessage: [String: Int], clipMillisecondsMax: Int64)
}

struct VoiceStatus: Equatable, Sendable {
    var lastSpoken: String?
    var queued = 0
    /// Announcements given up after `attemptsMax` failures, or with no clip.
    var failed = 0
    /// Announcements pushed out of a full queue by newer ones.
    var dropped = 0
    /// Drill announcements dropped because a real one came: real warnings pre-empt drills.
    var drillDropped = 0
    var stopsApplied = 0
}

final class VoiceWorker: SteppedWorker {
    /// Announcements waiting for the module. When full, the oldest waiting one is dropped
    /// (loudly): the newest level's message always gets in.
    static let queuedMessagesMax = 4
    static let attemptsMax = 3
    static let retryAfterFailureMilliseconds: Int64 = 2_000
    /// How often a busy module is asked again.
    static let busyPollMilliseconds: Int64 = 500
    /// A module that says "busy" longer than this is stuck: stop it and speak anyway.
    static let busyMillisecondsMax: Int64 = 120_000

    private let lock = NSLock()
    private var queue: [String] = []
    /// The waiting announcements that are a drill's (parallel to `queue`).
    private var queueExercise: [Bool] = []
    private var stopsRequested = 0
    private var published = VoiceStatus()

    private let device: VoiceDevice
    private let logger: Logger
    private var stopsDone = 0
    private var attempts = 0
    private var notBeforeMilliseconds: Int64?
    private var busySinceMilliseconds: Int64?
    private var clipEndsAtMilliseconds: Int64?

    init(device: VoiceDevice, logger: Logger) {
        self.device = device
        self.logger = logger
    }

    // MARK: any thread

    /// Queues `message`; one already waiting is not queued twice (a repeated broadcast). A real
    /// announcement never waits behind more than one drill announcement: real warnings pre-empt
    /// drills, and the one kept is the newest, which is the drill's end when a real warning
    /// ended the drill.
    func request(speak message: String, exercise: Bool = false) {
        lock.lock()
        defer { lock.unlock() }
        guard !queue.contains(message) else { return }
        if !exercise, let newestDrill = queueExercise.lastIndex(of: true) {
            for index in queue.indices.reversed() where queueExercise[index] && index != newestDrill {
                logger.notice("a drill announcement gives way to a real one", metadata: ["dropped": "\(queue[index])"])
                queue.remove(at: index)
                queueExercise.remove(at: index)
                published.drillDropped += 1
            }
        }
        if queue.count >= Self.queuedMessagesMax {
            queueExercise.removeFirst()
            let dropped = queue.removeFirst()
            published.dropped += 1
            logger.critical(
                "voice queue full: an older announcement is dropped for a newer one",
                metadata: ["dropped": "\(dropped)", "limit": "\(Self.queuedMessagesMax)"])
        }
        queue.append(message)
        queueExercise.append(exercise)
        published.queued = queue.count
    }

    /// Stop speaking and forget what waits.
    func requestStop() -> Int {
        lock.lock()
        defer { lock.unlock() }
        queue.removeAll()
        queueExercise.removeAll()
        published.queued = 0
        stopsRequested += 1
        return stopsRequested
    }

    var currentStatus: VoiceStatus {
        lock.lock()
        defer { lock.unlock() }
        return published
    }

    // MARK: the worker's thread

    func step(nowMilliseconds now: Int64) -> Int64? {
        lock.lock()
        let stopWanted = stopsRequested
        lock.unlock()
        if stopWanted > stopsDone {
            stopModule()
            attempts = 0
            notBeforeMilliseconds = nil
            busySinceMilliseconds = nil
            clipEndsAtMilliseconds = nil
            stopsDone = stopWanted
            publish { $0.stopsApplied = stopWanted }
        }
        if let notBefore = notBeforeMilliseconds, now < notBefore { return notBefore }
        notBeforeMilliseconds = nil
        lock.lock()
        let head = queue.first
        lock.unlock()
        guard let message = head else { return nil }
        do throws(VoiceError) {
            if try moduleBusy(now: now) {
                let since = busySinceMilliseconds ?? now
                busySinceMilliseconds = since
                if now - since < Self.busyMillisecondsMax {
                    notBeforeMilliseconds = now + Self.busyPollMilliseconds
                    return notBeforeMilliseconds
                }
                logger.error("voice module busy too long; stopping it to speak the next announcement",
                             metadata: ["busy-ms": "\(now - since)"])
                stopModule()
            }
            busySinceMilliseconds = nil
            try say(message, now: now)
            attempts = 0
            taken(message, spoken: true)
            return now
        } catch .textTooLong(_, let bytesMax) where bytesMax >= 2 * Self.splitUnitsMin {
            // A long warning is spoken in parts rather than not at all (text goes to the module
            // as UTF-16: two bytes per unit).
            let parts = Self.split(message, utf16UnitsMax: bytesMax / 2)
            logger.notice("announcement too long for the module; speaking it in parts", metadata: ["parts": "\(parts.count)"])
            lock.lock()
            if queue.first == message {
                queue.replaceSubrange(0..<1, with: parts)
                queueExercise.replaceSubrange(0..<1, with: Array(repeating: queueExercise[0], count: parts.count))
            }
            published.queued = queue.count
            lock.unlock()
            return now
        } catch {
            attempts += 1
            let permanent: Bool = switch error {
            case .textTooLong, .textNotEncodable, .invalidSetting: true
            default: false
            }
            if permanent || attempts >= Self.attemptsMax {
                logger.critical("announcement not spoken", metadata: ["message": "\(message)", "error": "\(error)", "attempts": "\(attempts)"])
                attempts = 0
                taken(message, spoken: false)
                return now
            }
            logger.error("voice module failed; retrying", metadata: ["error": "\(error)", "attempt": "\(attempts)"])
            notBeforeMilliseconds = now + Self.retryAfterFailureMilliseconds
            return notBeforeMilliseconds
        }
    }

    /// Parts shorter than this are not worth a module frame; below it a too-long text is given up.
    static let splitUnitsMin = 8
    /// Bounds the parts of one announcement (a message that needs more is a configuration mistake).
    static let splitPartsMax = 16

    /// Cuts `text` into parts of at most `utf16UnitsMax` UTF-16 units, after punctuation where
    /// possible, so each part is a phrase a villager can follow.
    static func split(_ text: String, utf16UnitsMax: Int) -> [String] {
        precondition(utf16UnitsMax >= splitUnitsMin, "parts of at least \(splitUnitsMin) units")
        let breaks: Set<Character> = ["，", "。", "；", "！", "？", "、", "：", ",", ".", ";", "!", "?", " "]
        var parts: [String] = []
        var rest = Substring(text)
        while !rest.isEmpty && parts.count < splitPartsMax {
            if rest.utf16.count <= utf16UnitsMax {
                parts.append(String(rest))
                break
            }
            // The longest prefix that fits, cut after its last punctuation if it has one.
            var end = rest.startIndex
            var units = 0
            var lastBreak: Substring.Index?
            for index in rest.indices {
                let characterUnits = rest[index].utf16.count
                if units + characterUnits > utf16UnitsMax { break }
                units += characterUnits
                end = rest.index(after: index)
                if breaks.contains(rest[index]) { lastBreak = end }
            }
            let cut = lastBreak ?? end
            guard cut > rest.startIndex else { break }  // one character longer than a part
            parts.append(String(rest[..<cut]))
            rest = rest[cut...]
        }
        return parts
    }

    private func moduleBusy(now: Int64) throws(VoiceError) -> Bool {
        switch device {
        case .textToSpeech(let module): return try module.isBusy()
        case .clipPlayer: return clipEndsAtMilliseconds.map { now < $0 } ?? false
        }
    }

    private func say(_ message: String, now: Int64) throws(VoiceError) {
        switch device {
        case .textToSpeech(let module):
            try module.speak(message)
        case .clipPlayer(let player, let clips, let clipMilliseconds):
            guard let clip = clips[message] else {
                throw .invalidSetting("no clip is configured for the message \(message.debugDescription)")
            }
            try player.play(clip: clip)
            clipEndsAtMilliseconds = now + clipMilliseconds
        }
    }

    /// Removes `message` from the head (unless a stop already emptied the queue meanwhile).
    private func taken(_ message: String, spoken: Bool) {
        lock.lock()
        if queue.first == message {
            queue.removeFirst()
            queueExercise.removeFirst()
        }
        if spoken { published.lastSpoken = message } else { published.failed += 1 }
        published.queued = queue.count
        lock.unlock()
    }

    private func publish(_ change: (inout VoiceStatus) -> Void) {
        lock.lock()
        change(&published)
        lock.unlock()
    }

    private func stopModule() {
        do throws(VoiceError) {
            switch device {
            case .textToSpeech(let module): try module.stop()
            case .clipPlayer(let player, _, _): try player.stop()
            }
        } catch {
            logger.error("voice module did not take the stop command", metadata: ["error": "\(error)"])
        }
    }

    func finish() { stopModule() }
}
