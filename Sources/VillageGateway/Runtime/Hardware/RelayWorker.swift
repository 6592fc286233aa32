// The siren and lamp relays: one worker owns the GPIO outputs, runs the siren pattern on its
// own clock and lights exactly the lamp the engine asked for.
import Foundation
import Drivers
import Logging
import WarningLogic

/// What the relay worker shows (read by `snapshot`).
struct RelayStatus: Equatable, Sendable {
    var sirenPattern: SirenPattern = .off
    var sirenOn = false
    var lamp: LampColour?
    var exercise = false
    /// Relay writes that failed (each put every relay back into its safe state).
    var relayFailures = 0
    /// Rests forced by the siren's maximum on-time.
    var sirenRests = 0
    /// Safe-state requests carried out (`enterSafeState` waits for its own).
    var safeStatesApplied = 0
}

final class RelayWorker: SteppedWorker {
    /// After a failed relay write every relay is left safe for this long, then the engine's
    /// wish is tried again: a transient fault must not silence a red alarm for good.
    static let retryAfterFailureMilliseconds: Int64 = 5_000

    // The mailbox: written by `perform`/`enterSafeState` on any thread, read by the worker.
    private let lock = NSLock()
    private var requestedPattern: SirenPattern = .off
    private var requestedLamp: LampColour?
    private var requestedExercise = false
    private var safeStatesRequested = 0
    private var published = RelayStatus()

    // Owned by the worker's thread.
    private let siren: (any GPIOOutput)?
    private let lamps: [LampColour: any GPIOOutput]
    private var schedule: SirenSchedule
    private var safeStatesDone = 0
    private var retryAtMilliseconds: Int64?
    private var lampsApplied: LampColour?? = .some(nil)
    private var failures = 0
    private let logger: Logger

    init(siren: (any GPIOOutput)?, lamps: [LampColour: any GPIOOutput], sirenMaxOnMilliseconds: Int64, sirenRestMilliseconds: Int64, logger: Logger) {
        self.siren = siren
        self.lamps = lamps
        self.logger = logger
        schedule = SirenSchedule(maxOnMilliseconds: sirenMaxOnMilliseconds, restMilliseconds: sirenRestMilliseconds)
    }

    // MARK: any thread

    func request(siren pattern: SirenPattern, exercise: Bool) {
        lock.lock()
        requestedPattern = pattern
        requestedExercise = exercise
        lock.unlock()
    }

    func request(lamp: LampColour?, exercise: Bool) {
        lock.lock()
        requestedLamp = lamp
        requestedExercise = exercise
        lock.unlock()
    }

    /// Siren off and lamps off until the engine asks again; returns the request's number.
    func requestSafeState() -> Int {
        lock.lock()
        defer { lock.unlock() }
        requestedPattern = .off
        requestedLamp = nil
        requestedExercise = false
        safeStatesRequested += 1
        return safeStatesRequested
    }

    var status: RelayStatus {
        lock.lock()
        defer { lock.unlock() }
        return published
    }

    // MARK: the worker's thread

    func step(nowMilliseconds now: Int64) -> Int64? {
        lock.lock()
        let pattern = requestedPattern
        let lamp = requestedLamp
        let exercise = requestedExercise
        let safeWanted = safeStatesRequested
        lock.unlock()

        if safeWanted > safeStatesDone {
            schedule.set(.off, at: now)
            allSafe()
            lampsApplied = .some(nil)
            retryAtMilliseconds = nil
            safeStatesDone = safeWanted
        }
        schedule.set(pattern, at: now)
        schedule.advance(to: now)
        if let retryAt = retryAtMilliseconds, now < retryAt {
            publish(exercise: exercise)
            return min(retryAt, schedule.nextChangeMilliseconds ?? retryAt)
        }
        retryAtMilliseconds = nil
        do throws(GPIOError) {
            if let siren, siren.isOn != schedule.relayOn {
                try siren.set(on: schedule.relayOn)
            }
            if lampsApplied != .some(lamp) {
                try light(lamp)
                lampsApplied = .some(lamp)
            }
        } catch {
            failures += 1
            logger.critical(
                "relay write failed; every relay is back in its safe state, retrying soon",
                metadata: ["error": "\(error)", "retry-in-ms": "\(Self.retryAfterFailureMilliseconds)"])
            allSafe()
            lampsApplied = nil  // unknown: write them all again on retry
            retryAtMilliseconds = now + Self.retryAfterFailureMilliseconds
        }
        publish(exercise: exercise)
        return [schedule.nextChangeMilliseconds, retryAtMilliseconds].compactMap { $0 }.min()
    }

    /// Others off first, then the one asked for: never two colours at once.
    private func light(_ lamp: LampColour?) throws(GPIOError) {
        if let lamp, lamps[lamp] == nil {
            logger.error("no relay for the requested lamp; all lamps off", metadata: ["lamp": "\(lamp.rawValue)"])
        }
        for colour in LampColour.allCases where colour != lamp {
            if let output = lamps[colour], output.isOn { try output.set(on: false) }
        }
        if let lamp, let output = lamps[lamp], !output.isOn { try output.set(on: true) }
    }

    private func allSafe() {
        siren?.returnToSafeState()
        for colour in LampColour.allCases { lamps[colour]?.returnToSafeState() }
    }

    private func publish(exercise: Bool) {
        var status = RelayStatus()
        status.sirenPattern = schedule.pattern
        status.sirenOn = siren?.isOn ?? false
        status.lamp = LampColour.allCases.first { lamps[$0]?.isOn == true }
        status.exercise = exercise
        status.relayFailures = failures
        status.sirenRests = schedule.restCount
        status.safeStatesApplied = safeStatesDone
        lock.lock()
        published = status
        lock.unlock()
    }

    func finish() {
        allSafe()
        lock.lock()
        published.sirenOn = siren?.isOn ?? false
        published.lamp = nil
        lock.unlock()
    }
}
