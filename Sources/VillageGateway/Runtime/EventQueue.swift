// The engine owner's one bounded queue: every input submits here; a full queue makes inputs wait.
import WarningLogic

/// A bounded first-in-first-out queue of events with one consumer (the engine owner).
/// `submit` waits while the queue is full (backpressure): a dropped tip is lost rain, so nothing
/// is ever dropped, except ticks, which carry nothing but the time and are offered, not queued.
actor EventQueue: EventSink {
    /// Events waiting for the engine. A village box sees a few events a second; a burst of 256
    /// is a storm of tips plus every bus answering at once. More than that and inputs wait.
    static let eventsQueuedMax = 256

    /// Each event with the monotonic instant it entered the queue, so the owner can tell how long
    /// a tip took from the queue to the siren (the benchmark's figure).
    struct Queued: Sendable {
        var event: Event
        var enqueuedNanoseconds: Int64
        /// A message for the owner instead of an event (the event is then unused).
        var command: OwnerCommand? = nil
    }

    private var buffer: [Queued?]
    private var head = 0
    private var count = 0
    private var closed = false
    private var waitingSubmitters: [CheckedContinuation<Void, Never>] = []
    private var waitingReceiver: CheckedContinuation<Queued?, Never>?
    /// The most events ever waiting at once: a sign the engine falls behind, shown by `status`.
    private(set) var depthHighWater = 0

    init() {
        buffer = Array(repeating: nil, count: Self.eventsQueuedMax)
    }

    var depth: Int { count }

    func submit(_ event: Event) async {
        while count == Self.eventsQueuedMax && !closed {
            await withCheckedContinuation { waitingSubmitters.append($0) }
        }
        guard !closed else { return }
        enqueue(event)
    }

    /// A message for the owner, behind every event already queued; false when the queue is closed
    /// (the owner's loop has stopped or is stopping).
    func submit(command: OwnerCommand, at time: Timestamp) async -> Bool {
        while count == Self.eventsQueuedMax && !closed {
            await withCheckedContinuation { waitingSubmitters.append($0) }
        }
        guard !closed else { return false }
        enqueue(Queued(event: Event(time: time, kind: .tick), enqueuedNanoseconds: monotonicNanoseconds(), command: command))
        return true
    }

    /// Puts a tick on the queue unless it is full: a busy queue moves time on by itself.
    @discardableResult
    func offerTick(at time: Timestamp) -> Bool {
        guard !closed, count < Self.eventsQueuedMax else { return false }
        enqueue(Event(time: time, kind: .tick))
        return true
    }

    private func enqueue(_ event: Event) {
        enqueue(Queued(event: event, enqueuedNanoseconds: monotonicNanoseconds()))
    }

    private func enqueue(_ queued: Queued) {
        if let receiver = waitingReceiver {
            waitingReceiver = nil
            receiver.resume(returning: queued)
            return
        }
        buffer[(head + count) % Self.eventsQueuedMax] = queued
        count += 1
        depthHighWater = max(depthHighWater, count)
    }

    /// The next event, waiting for one; nil once the queue is closed and empty.
    func next() async -> Event? {
        await nextQueued()?.event
    }

    func nextQueued() async -> Queued? {
        if count > 0 {
            let event = buffer[head]
            buffer[head] = nil
            head = (head + 1) % Self.eventsQueuedMax
            count -= 1
            if !waitingSubmitters.isEmpty { waitingSubmitters.removeFirst().resume() }
            return event
        }
        if closed { return nil }
        precondition(waitingReceiver == nil, "the event queue has one consumer, the engine owner")
        return await withCheckedContinuation { waitingReceiver = $0 }
    }

    /// Shutting down: wakes the consumer (nil) and every waiting input (their events are not
    /// taken; the box is stopping and inputs are cancelled next).
    func close() {
        closed = true
        waitingReceiver?.resume(returning: nil)
        waitingReceiver = nil
        for submitter in waitingSubmitters { submitter.resume() }
        waitingSubmitters.removeAll()
    }
}
