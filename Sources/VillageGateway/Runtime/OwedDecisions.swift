// What decisions still owe once their outputs are switched: the SMS, calls, level records and
// reports that wait for the decision's record, carried out in decision order behind the writer.
import Synchronization
import WarningLogic

/// One decision's remainder. Carried out once the state writer has written `ticket` (the
/// decision's journal record and snapshot); then snapshot `snapshotNumber` is marked performed.
struct OwedDecision: Sendable {
    var ticket: UInt64
    /// The decision's actions that wait for the record (never the siren, lamps or broadcast).
    var actions: [Action]
    var time: Timestamp
    /// The snapshot that owes these actions (and every earlier decision's still owed), if any.
    var snapshotNumber: UInt64?
    /// Told once this is carried out and its marker written (a reconfigure's sender).
    var reply: OwnerReply?
}

/// The owed decisions, in order, bounded. The owner adds one per decision and puts every action
/// still owed into each snapshot it takes, so a snapshot that supersedes another owes what the
/// other owed: a restart may carry an action out twice, never zero times. One consumer carries
/// them out (`EngineOwner.performOwed`) and removes each when done.
final class OwedDecisions: Sendable {
    /// Decisions waiting for the disk or for their SMS to be handed over. A storm makes a few
    /// decisions a minute; 256 waiting means the disk has stalled for minutes, and then the
    /// owner waits for room rather than hold an unbounded backlog.
    static let decisionsOwedMax = 256

    private struct State {
        var owed: [OwedDecision] = []
        var consumer: CheckedContinuation<OwedDecision?, Never>?
        /// The consumer holds the first entry (it is being carried out).
        var headTaken = false
        var roomWaiters: [CheckedContinuation<Void, Never>] = []
        var idleWaiters: [CheckedContinuation<Void, Never>] = []
        /// Stopping: the consumer takes nothing more; what is left stays owed (in the final snapshot).
        var stopped = false
    }

    private let state = Mutex(State())

    /// Adds a decision's remainder, waiting while `decisionsOwedMax` are owed.
    func add(_ decision: OwedDecision) async {
        while true {
            let outcome = state.withLock { state -> (added: Bool, consumer: CheckedContinuation<OwedDecision?, Never>?) in
                guard state.owed.count < Self.decisionsOwedMax || state.stopped else { return (false, nil) }
                state.owed.append(decision)
                guard !state.stopped, !state.headTaken, let consumer = state.consumer else { return (true, nil) }
                state.consumer = nil
                state.headTaken = true
                return (true, consumer)
            }
            if outcome.added {
                outcome.consumer?.resume(returning: decision)
                return
            }
            await waitForRoom()
        }
    }

    private func waitForRoom() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let room = state.withLock { state in
                if state.owed.count < Self.decisionsOwedMax || state.stopped { return true }
                state.roomWaiters.append(continuation)
                return false
            }
            if room { continuation.resume() }
        }
    }

    /// Every action still owed, oldest first (the one being carried out included): what a
    /// snapshot taken now must owe besides its own decision's.
    func outstandingActions() -> [Action] {
        state.withLock { state in state.owed.flatMap(\.actions) }
    }

    var count: Int { state.withLock { $0.owed.count } }

    /// Whether the box is stopping: what is owed now stays owed, for the final snapshot.
    var isStopped: Bool { state.withLock { $0.stopped } }

    /// The consumer's next decision (it stays owed until `completed()`); nil once stopped.
    func next() async -> OwedDecision? {
        await withCheckedContinuation { (continuation: CheckedContinuation<OwedDecision?, Never>) in
            let ready = state.withLock { state -> (found: Bool, decision: OwedDecision?) in
                precondition(!state.headTaken, "one consumer takes one owed decision at a time")
                if state.stopped { return (true, nil) }
                guard let first = state.owed.first else {
                    state.consumer = continuation
                    return (false, nil)
                }
                state.headTaken = true
                return (true, first)
            }
            if ready.found { continuation.resume(returning: ready.decision) }
        }
    }

    /// The consumer is done with the first decision.
    func completed() {
        let waiters = state.withLock { state -> [CheckedContinuation<Void, Never>] in
            precondition(state.headTaken, "completed() follows next()")
            state.owed.removeFirst()
            state.headTaken = false
            var waiters = state.roomWaiters
            state.roomWaiters.removeAll()
            if state.owed.isEmpty {
                waiters += state.idleWaiters
                state.idleWaiters.removeAll()
            }
            return waiters
        }
        for waiter in waiters { waiter.resume() }
    }

    /// Returns once nothing is owed (or the consumer has stopped).
    func idle() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let done = state.withLock { state in
                if state.owed.isEmpty || state.stopped { return true }
                state.idleWaiters.append(continuation)
                return false
            }
            if done { continuation.resume() }
        }
    }

    /// Shutdown: the consumer finishes the decision in hand and takes no more; the rest stays
    /// owed, for the final snapshot. Waiting adders and idle waiters are let go.
    func stop() {
        let (consumer, waiters) = state.withLock { state -> (CheckedContinuation<OwedDecision?, Never>?, [CheckedContinuation<Void, Never>]) in
            state.stopped = true
            let consumer = state.consumer
            state.consumer = nil
            let waiters = state.roomWaiters + state.idleWaiters
            state.roomWaiters.removeAll()
            state.idleWaiters.removeAll()
            return (consumer, waiters)
        }
        consumer?.resume(returning: nil)
        for waiter in waiters { waiter.resume() }
    }
}
