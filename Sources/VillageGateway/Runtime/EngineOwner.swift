// The one owner of the engine: takes events off the queue, makes them durable, decides, acts.
import Foundation
import Logging
import WarningLogic

/// Owns the `Engine` and the order of things. For each event: `handle` → the siren, lamps and
/// broadcast switched at once → the journal record and (when the decision changes an output)
/// a snapshot handed to the state writer → the rest of the decision (SMS, calls, level records,
/// reports) owed until the writer has them on the disk → one log line. The owner never waits for
/// the disk: the writer batches what the decisions hand it (group commit), and the owed rest is
/// carried out in order by `performOwed` behind it.
///
/// One message at a time, to the end: events and commands (`reconfigure`) come off the one
/// queue and are handled by `run` in order, never suspending for a decision's SMS or its disk
/// writes. Every snapshot owes what earlier decisions still owe, so a crash at any moment loses
/// no owed action. The actor runs on a thread of its own (`DedicatedThreadExecutor`), and the
/// writer on another, so no fsync ever blocks the cooperative pool.
actor EngineOwner {
    /// The thread every owner's jobs run on (the program has one owner).
    static let executor = DedicatedThreadExecutor(name: "engine-owner")

    nonisolated var unownedExecutor: UnownedSerialExecutor { Self.executor.asUnownedSerialExecutor() }

    /// Whether the owner's code runs on its own thread (for the test that holds it off the pool).
    func runsOnItsOwnThread() -> Bool { Self.executor.isCurrentThread }

    /// A snapshot at least this often (box time), so a restart replays little journal.
    static let snapshotIntervalMilliseconds: Int64 = 10 * Milliseconds.minute
    /// And after this many journal records, so a long quiet spell of readings stays bounded.
    static let journalRecordsPerSnapshotMax = 2_000

    private var engine: Engine
    /// The journal and snapshots, written on the writer's thread in batches.
    private let writer: StateWriter
    /// What decisions still owe once their outputs are switched, carried out behind the writer.
    private let owed = OwedDecisions()
    /// Whether `run`'s loop is taking messages.
    private var loopRunning = false
    /// Journal records handed to the writer since the last snapshot.
    private var journalRecordsSinceSnapshot = 0
    private let outputs: any GatewayOutputs
    private let queue: EventQueue
    private let logger: Logger
    private let notifier: SystemdNotifier
    private let published: PublishedStatus
    private let utcOffsetMinutes: Int
    private var sequence: UInt64
    private var snapshotNumber: UInt64
    private var eventsAtLastTime: [Event]
    private var engineTime: Timestamp?
    private var lastSnapshotTime: Timestamp?
    private var lastWatchdogMilliseconds: Int64 = 0
    private var counters = RuntimeCounters()
    private var lastOutputs = OutputSnapshot.safe
    /// After each event: a reason to stop (the sim's scenario is over), or nil to go on.
    private let stopCondition: (@Sendable (StationStatus, _ queueDepth: Int) -> String?)?
    /// Where the decisions' reports go (the outbox service); nil when there is no outbox.
    private let reportSink: (any ReportSink)?
    /// Told the status after each event (the observation summariser); must not block.
    private var statusObserver: (@Sendable (StationStatus) -> Void)?

    init(
        recovery: Recovery, store: sending StateStore, outputs: any GatewayOutputs, queue: EventQueue, notifier: SystemdNotifier,
        published: PublishedStatus, logger: Logger,
        stopCondition: (@Sendable (StationStatus, Int) -> String?)? = nil, reportSink: (any ReportSink)? = nil,
        beforeStateBatch: (@Sendable () -> Void)? = nil
    ) {
        self.reportSink = reportSink
        self.engine = recovery.engine
        self.journalRecordsSinceSnapshot = store.journalRecords
        let writer = StateWriter(
            store: store, logger: logger, utcOffsetMinutes: recovery.engine.configuration.station.utcOffsetMinutes, beforeBatch: beforeStateBatch)
        self.writer = writer
        self.outputs = outputs
        self.queue = queue
        self.notifier = notifier
        self.published = published
        self.logger = logger
        self.utcOffsetMinutes = recovery.engine.configuration.station.utcOffsetMinutes
        self.sequence = recovery.lastSequence
        self.snapshotNumber = recovery.snapshotNumber
        self.eventsAtLastTime = recovery.eventsAtLastTime
        let time = recovery.engine.status().time
        self.engineTime = time.millisecondsSinceUnixEpoch == 0 ? nil : time
        self.lastNotedTime = self.engineTime
        self.stopCondition = stopCondition
        Task.detached { [owed] in await Self.performOwed(owed, writer: writer, outputs: outputs, reportSink: reportSink) }
    }

    deinit {
        owed.stop()
        writer.close()
    }

    /// Brings the outputs to what the recovered state demands (relays come up off after a
    /// reboot: a restored red sounds again at once) and carries out what was decided but maybe
    /// not done before the stop. The state is saved first, like every decision.
    func start(recoveredActions: [Action], at now: Timestamp) async {
        // Start and finish are the owner's first and last acts, outside `run`'s loop; while the
        // loop runs, everything that changes the engine is a message on its queue.
        precondition(!loopRunning, "start comes before run")
        let actions = engine.currentOutputs() + recoveredActions
        let status = engine.status()
        logger.notice("""
            resumed at level \(status.level.name)\(status.causes.isEmpty ? "" : " (causes: \(status.causes.joined(separator: ", ")))")\
            \(status.latchedLevel.map { "; latched \($0.name)" } ?? ""); outputs set to match
            """)
        await carryOut(actions, at: max(engineTime ?? now, now))
        await publish(status)
    }

    /// Takes events until the queue is closed (shutdown) or the stop condition holds. At the stop
    /// condition (a sim run's end) every owed action is carried out before it returns; at a
    /// shutdown `finish` keeps what is still owed in the final snapshot instead.
    func run() async -> String {
        precondition(!loopRunning, "the owner has one loop")
        loopRunning = true
        defer { loopRunning = false }
        while let queued = await queue.nextQueued() {
            if let command = queued.command {
                await handle(command)
            } else {
                await process(queued.event, enqueuedNanoseconds: queued.enqueuedNanoseconds)
            }
            pingWatchdogIfDue()
            let status = engine.status()
            let depth = await queue.depth
            await publish(status, queueDepth: depth)
            statusObserver?(status)
            // Asked twice: the depth above was read before the condition looks at the scenario's
            // progress, and an input may queue its last events in between (the player marks the
            // scenario finished only once they are queued). With that stale depth a sim run
            // stopped with tips still waiting (level none instead of red, 1 run in 10 under
            // load); a stop holds only if it still holds with the depth read after.
            if stopCondition?(status, depth) != nil, let reason = stopCondition?(status, await queue.depth) {
                await owed.idle()
                await writer.flush()
                return reason
            }
        }
        return "shutdown requested"
    }

    private func process(_ event: Event, enqueuedNanoseconds: Int64) async {
        if event.kind == .tick, let engineTime, event.time <= engineTime { return }
        // Time-based rules happen at their own instants, not at the next tick's: step through
        // every wake-up the engine asked for before this event (as `simulate` does).
        while let wakeup = engine.nextWakeup(), wakeup < event.time {
            await decide(Event(time: wakeup, kind: .tick), journaled: false)
        }
        await decide(event, journaled: event.kind != .tick, enqueuedNanoseconds: enqueuedNanoseconds)
    }

    /// Tips, people and the county are on the disk before they are acted on; readings are
    /// appended without fsync (the next reading supersedes a lost one, and an SD card lives
    /// longer without eight fsyncs a second).
    static func mustSync(_ event: Event) -> Bool {
        switch event.kind {
        case .tick, .reading, .readFailure: false
        case .tips, .manual, .countyWarning, .countyCancel, .acknowledge, .reply, .callEnded, .clearLatch, .drillStart, .drillStop: true
        }
    }

    /// Sound first, record after. The siren, lamps and broadcast are switched from the decision
    /// at once; the event's journal record and the snapshot go to the writer; the SMS, the level
    /// record and the reports are owed until the writer has them on the disk. A power cut between
    /// the two loses the event (it was in flight either way) and a restart sets the outputs from
    /// the recovered level. SMS wait for the record on purpose: a restart may send one twice,
    /// never zero times.
    private func decide(_ event: Event, journaled: Bool, enqueuedNanoseconds: Int64? = nil) async {
        let actions = engine.handle(event)
        let time = max(engineTime ?? event.time, event.time)
        let immediate = actions.filter(Self.isImmediate)
        if !immediate.isEmpty {
            await outputs.perform(immediate, at: time)
            if let enqueuedNanoseconds, let latencyObserver, immediate.contains(where: Self.switchesSirenOn) {
                // Queue → decision → siren handed to its relay worker: what a villager waits for.
                await latencyObserver(monotonicNanoseconds() - enqueuedNanoseconds, event)
            }
        }
        if journaled {
            sequence += 1
            writer.submit(.record(.event(sequence: sequence, event: event), sync: Self.mustSync(event)))
            journalRecordsSinceSnapshot += 1
        }
        engineTime = time
        StateStore.note(event, appliedAt: time, previousTime: &lastNotedTime, into: &eventsAtLastTime)
        counters.eventsHandled += 1
        let outward = actions.contains(where: RecordingOutputs.isOutward)
        let snapshotDue = lastSnapshotTime.map { time.milliseconds(since: $0) >= Self.snapshotIntervalMilliseconds } ?? true
            || journalRecordsSinceSnapshot >= Self.journalRecordsPerSnapshotMax
            || writer.currentCounters.journalBytes >= StateStore.journalBytesMax / 2
        // The snapshot owes every action of the decision, the ones already switched included
        // (switching them again after a restart changes nothing).
        let owingSnapshot = outward || snapshotDue ? takeSnapshot(owing: outward ? actions : []) : nil
        await owe(actions.filter { !Self.isImmediate($0) }, at: time, snapshot: owingSnapshot)
        guard !actions.isEmpty else { return }
        counters.decisions += 1
        // A decision that only repeats the broadcast (every few minutes while a level holds) is
        // routine; level changes, sirens, SMS and reports are what a technician looks for.
        let onlyBroadcasts = actions.allSatisfy { if case .broadcast = $0 { true } else { false } }
        logger.log(level: onlyBroadcasts ? .info : .notice, "\(decisionLine(event, actions, at: time))")
    }

    /// Switches the outputs among `actions` at once and owes the rest behind a snapshot that owes
    /// all of them (the start, a reconfigure).
    private func carryOut(_ actions: [Action], at time: Timestamp, reply: OwnerReply? = nil) async {
        let immediate = actions.filter(Self.isImmediate)
        if !immediate.isEmpty { await outputs.perform(immediate, at: time) }
        let owingSnapshot = takeSnapshot(owing: actions)
        await owe(actions.filter { !Self.isImmediate($0) }, at: time, snapshot: owingSnapshot, reply: reply)
    }

    /// Hands a snapshot to the writer; it owes `actions` and every action still owed by earlier
    /// decisions. Returns its number when it owes anything (to be marked performed).
    @discardableResult
    private func takeSnapshot(owing actions: [Action]) -> UInt64? {
        snapshotNumber += 1
        // Dead readings and tips waiting for their compaction would be written, read back and
        // kept in memory twice over (about 90 KB a snapshot for 8 sensors polled every second).
        engine.compactHistory()
        let pendingActions = owed.outstandingActions() + actions
        let snapshot = Snapshot(
            formatVersion: Snapshot.currentFormatVersion, snapshotNumber: snapshotNumber, sequence: sequence, state: engine.state,
            eventsAtLastTime: eventsAtLastTime, pendingActions: pendingActions)
        writer.submit(.snapshot(snapshot, engineTime: engineTime))
        lastSnapshotTime = engineTime
        journalRecordsSinceSnapshot = 0
        return pendingActions.isEmpty ? nil : snapshotNumber
    }

    /// The rest of a decision, carried out once everything handed to the writer so far is written.
    private func owe(_ actions: [Action], at time: Timestamp, snapshot: UInt64?, reply: OwnerReply? = nil) async {
        guard !actions.isEmpty || snapshot != nil || reply != nil else { return }
        await owed.add(OwedDecision(ticket: writer.lastTicket, actions: actions, time: time, snapshotNumber: snapshot, reply: reply))
    }

    /// The owed decisions' consumer, on the pool (it only waits; the writer and the outbox fsync
    /// on threads of their own): each decision's rest once its record is written, then the
    /// marker that its snapshot's actions are carried out. Outputs first (the SMS must not wait
    /// for SQLite), then the reports, stored before the marker; a repeat after a restart is
    /// ignored by origin key.
    static func performOwed(_ owed: OwedDecisions, writer: StateWriter, outputs: any GatewayOutputs, reportSink: (any ReportSink)?) async {
        while let decision = await owed.next() {
            await writer.durable(through: decision.ticket)
            // Stopping: the outputs are (or are about to be) in their safe state and would refuse
            // the SMS; it stays owed, in the final snapshot, for the restart to send.
            if owed.isStopped { return }
            if !decision.actions.isEmpty {
                await outputs.perform(decision.actions, at: decision.time)
                let reports = decision.actions.compactMap { action -> OutboxReport? in
                    if case .enqueueReport(let report) = action { return OutboxReport(report) }
                    return nil
                }
                if !reports.isEmpty, let reportSink { await reportSink.store(reports) }
            }
            // Stopped while carrying it out: the outputs may have refused part of it, so it is
            // not marked; the restart carries it out again (twice, never zero times).
            if owed.isStopped { return }
            if let number = decision.snapshotNumber {
                let marker = writer.submit(.record(.performed(snapshotNumber: number), sync: false), waitForRoom: false)
                if decision.reply != nil { await writer.durable(through: marker) }
            }
            await decision.reply?.signal()
            owed.completed()
        }
    }

    /// What is switched from the decision before anything is written: the outputs that warn.
    static func isImmediate(_ action: Action) -> Bool {
        switch action {
        case .setSiren, .setLamp, .broadcast: true
        // A call, like an SMS, waits for the record: a restart may ring twice, never zero times.
        case .sendSMS, .call, .levelChanged, .enqueueReport: false
        }
    }

    static func switchesSirenOn(_ action: Action) -> Bool {
        if case .setSiren(let pattern, _) = action { return pattern != .off }
        return false
    }

    /// Told how long an input took from the queue to a siren switched on (for the benchmark).
    private var latencyObserver: (@Sendable (_ nanoseconds: Int64, _ event: Event) async -> Void)?

    func observeSirenLatency(_ observer: @escaping @Sendable (_ nanoseconds: Int64, _ event: Event) async -> Void) {
        latencyObserver = observer
    }

    private var lastNotedTime: Timestamp?

    func observeStatus(_ observer: @escaping @Sendable (StationStatus) -> Void) {
        statusObserver = observer
    }

    /// A configuration committed from the shell, applied without a restart. The engine is
    /// rebuilt keeping what still applies (`Engine(configuration:restoring:)`: sensor histories
    /// by id, levels, latch, 叫应, drill; sensors no longer configured are dropped, new ones start
    /// empty). Levels stay as they were until the engine decides again, so it decides at once
    /// with the new rules; the outputs follow the new `[outputs]` of the level; and a snapshot
    /// is written right away, so a restart never replays earlier events under the new rules.
    nonisolated func reconfigure(_ configuration: EngineConfiguration) async {
        let reply = OwnerReply()
        if await !queue.submit(command: .reconfigure(configuration, reply: reply), at: Timestamp(millisecondsSinceUnixEpoch: 0)) {
            // The loop has stopped (shutdown, or a test that drove it to the end): nothing else
            // is deciding, so the owner applies it itself.
            await applyReconfigure(configuration, reply: reply)
        }
        // Told once the new configuration's snapshot is on the disk and its outputs carried out.
        await reply.wait()
    }

    private func handle(_ command: OwnerCommand) async {
        switch command {
        case .reconfigure(let configuration, let reply):
            await applyReconfigure(configuration, reply: reply)
        }
    }

    private func applyReconfigure(_ configuration: EngineConfiguration, reply: OwnerReply) async {
        engine = Engine(configuration: configuration, restoring: engine.state)
        if let engineTime { await decide(Event(time: engineTime, kind: .tick), journaled: false) }
        await carryOut(engine.currentOutputs(), at: engineTime ?? engine.status().time, reply: reply)
        let status = engine.status()
        logger.notice("configuration applied without a restart: level \(status.level.name), \(configuration.rules.count) rules, \(configuration.sensors.count) sensors")
        await publish(status, queueDepth: await queue.depth)
    }

    /// Shutdown, before the outputs go to their safe state: decisions' SMS and reports not yet
    /// carried out stay owed (the final snapshot owes them) instead of being refused by outputs
    /// that are already safe and then marked as done.
    nonisolated func stopCarryingOut() {
        owed.stop()
    }

    /// The final save on shutdown: the next start replays nothing and carries out what is still
    /// owed (the outputs are in their safe state by now, so owed SMS wait for the restart).
    func finish() async {
        precondition(!loopRunning, "finish comes after run has returned")
        owed.stop()
        takeSnapshot(owing: [])
        await writer.flush()
        writer.close()
    }

    /// Returns once every decision so far is carried out and on the disk (for tests and tools).
    func settle() async {
        await owed.idle()
        await writer.flush()
    }

    private func pingWatchdogIfDue() {
        guard let interval = notifier.watchdogIntervalMilliseconds else { return }
        let now = monotonicMilliseconds()
        if now - lastWatchdogMilliseconds >= interval {
            notifier.notify("WATCHDOG=1")
            lastWatchdogMilliseconds = now
        }
    }

    private func publish(_ status: StationStatus, queueDepth: Int = 0) async {
        // The outputs carry out a decision at their own pace (a broadcast over the voice
        // module's line, an SMS over the modem's): read what they do now, not what they did
        // when the last decision was handed over.
        lastOutputs = await outputs.snapshot()
        var counters = self.counters
        counters.queueDepth = queueDepth
        counters.queueDepthHighWater = await queue.depthHighWater
        counters.journalSequence = sequence
        let written = writer.currentCounters
        counters.journalRecordsSinceSnapshot = written.journalRecords
        counters.journalBytesSinceSnapshot = written.journalBytes
        counters.snapshotsWritten = written.snapshotsWritten
        counters.lastSnapshotBytes = written.lastSnapshotBytes
        counters.lastSnapshotTime = written.lastSnapshotTime
        counters.stateWriteFailures = written.stateWriteFailures
        counters.stateWritesQueued = written.writesQueued
        counters.stateWritesQueuedHighWater = written.writesQueuedHighWater
        counters.decisionsOwed = owed.count
        published.update(station: status, outputs: lastOutputs, counters: counters)
    }

    // MARK: The decision's log line

    private func decisionLine(_ event: Event, _ actions: [Action], at time: Timestamp) -> String {
        var parts: [String] = []
        var reports = 0
        var sms: [String] = []
        for action in actions {
            switch action {
            case .levelChanged(let change):
                parts.append("\(change.exercise ? "drill level" : "level") \(change.from.name) → \(change.to.name) (causes: \(change.causes.isEmpty ? "none" : change.causes.joined(separator: ", ")))")
            case .setSiren(let pattern, _): parts.append("siren \(pattern)")
            case .setLamp(let colour, _): parts.append("lamp \(colour?.rawValue ?? "off")")
            case .broadcast: parts.append("broadcast")
            case .sendSMS(let message): sms.append(message.contact.name)
            case .call(let call): parts.append("call \(call.contact.name)")
            case .enqueueReport: reports += 1
            }
        }
        if !sms.isEmpty { parts.append("SMS to \(sms.joined(separator: ", "))") }
        if reports > 0 { parts.append("\(reports) report\(reports == 1 ? "" : "s")") }
        return "decision at \(ISO8601.format(time, utcOffsetMinutes: utcOffsetMinutes)) on \(Self.describe(event.kind)): \(parts.joined(separator: "; "))"
    }

    static func describe(_ kind: Event.Kind) -> String {
        switch kind {
        case .tick: "time passing"
        case .tips(let sensor, let count): "\(count) tip\(count == 1 ? "" : "s") of \(sensor)"
        case .reading(let sensor, let value): "\(sensor) reading \(value)"
        case .readFailure(let sensor, let reason): "\(sensor) read failure (\(reason))"
        case .manual(let level, let by): "manual level \(level.name) by \(by)"
        case .countyWarning(let id, let level, _): "county warning \(id) at \(level.name)"
        case .countyCancel(let id): "county cancelling \(id)"
        case .acknowledge(let by, let channel): "acknowledgement by \(by)\(channel.map { " (\($0.rawValue))" } ?? "")"
        case .reply(let phone, let channel, let text): "\(channel.rawValue) answer from \(phone)\(text.isEmpty ? "" : ": \(text.prefix(40))")"
        case .callEnded(let phone, let reached, _): "call to \(phone) \(reached ? "picked up" : "not picked up")"
        case .clearLatch(let by): "latch cleared by \(by)"
        case .drillStart(let level, let by, let force): "\(level.name) drill started by \(by)\(force == true ? " (forced over a real blue)" : "")"
        case .drillStop(let by): "drill stopped by \(by)"
        }
    }
}

/// The daemon's own counters, for `status`.
struct RuntimeCounters: Codable, Equatable, Sendable {
    var eventsHandled = 0
    var decisions = 0
    var stateWriteFailures = 0
    var queueDepth = 0
    var queueDepthHighWater = 0
    var journalSequence: UInt64 = 0
    var journalRecordsSinceSnapshot = 0
    var journalBytesSinceSnapshot = 0
    var snapshotsWritten = 0
    var lastSnapshotBytes = 0
    var lastSnapshotTime: Timestamp?
    /// Journal records and snapshots waiting for the state writer (group commit), and the most ever.
    var stateWritesQueued = 0
    var stateWritesQueuedHighWater = 0
    /// Decisions whose SMS, level records or reports wait for their record to be written.
    var decisionsOwed = 0
}
