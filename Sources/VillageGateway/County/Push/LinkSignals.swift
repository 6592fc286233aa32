// Link signals: every hint that the uplink is back (the kernel's rtnetlink view, a reachability
// probe, the modem's registration) wakes the push loops out of their backoff at once; and what the
// uplink is doing (up/down, since when, which signal said so) for `status` and the shell.
import Synchronization
import TimeSeam
import WarningLogic

/// Who said the link may be back.
enum LinkSignalSource: String, Sendable, Equatable {
    /// rtnetlink: an uplink interface went up, got an address, or a default route appeared.
    case kernel
    /// A TCP connect to the county endpoint succeeded while the push was failing.
    case probe
    /// The modem's network registration (+CREG/+CGREG/+CEREG) says registered.
    case modem
    /// The push itself: a delivery succeeded, or an attempt failed.
    case push
}

/// One signal: its source and a line a technician can read ("ppp0 got an address").
struct LinkSignal: Sendable, Equatable {
    var source: LinkSignalSource
    var detail: String
    var time: Timestamp

    var description: String { "\(source.rawValue): \(detail)" }
}

/// The uplink as the push sees it, for `status`, the shell's `outbox` and the outage report.
struct UplinkStatus: Sendable, Equatable {
    /// nil until the first attempt or signal.
    var isUp: Bool?
    var since: Timestamp?
    /// The signal that said so (for "up": the wake-up signal that preceded the delivery, if any).
    var signal: String?
    /// When the next push attempt falls due (nil: none scheduled, e.g. idle and up).
    var nextAttemptAt: Timestamp?
    /// The last wake-up signal, whatever the state.
    var lastSignal: LinkSignal?
}

/// An outage just ended: from the first failure to the first delivery after it.
struct LinkOutage: Sendable, Equatable {
    var from: Timestamp
    var through: Timestamp
    var downReason: String
    var endedBy: String
}

/// The wake-up the push loops wait on together with their backoff sleep, and the uplink's state.
/// A raise bumps a generation counter and resumes every waiter; a loop that read the generation
/// before its attempt sees a raise that came during the attempt, so none is lost.
final class LinkSignals: Sendable {
    /// Waiters are the push loops (two transports) and the probe; more means a programming error
    /// somewhere that forgot to cancel, and the oldest is woken rather than kept forever.
    static let waitersMax = 16

    private struct State {
        var generation: UInt64 = 0
        var nextToken: UInt64 = 0
        var waiters: [(token: UInt64, continuation: CheckedContinuation<Void, Never>)] = []
        var uplink = UplinkStatus()
        /// The first signal since the link went down: the one that ended the outage.
        var signalSinceDown: LinkSignal?
        var downReason = ""
    }

    private let state = Mutex(State())

    init() {}

    var generation: UInt64 { state.withLock { $0.generation } }
    var uplink: UplinkStatus { state.withLock { $0.uplink } }

    /// The link may be back: wake every push loop now (their backoff ends).
    func raise(_ signal: LinkSignal) {
        let woken = state.withLock { state -> [CheckedContinuation<Void, Never>] in
            state.generation &+= 1
            state.uplink.lastSignal = signal
            if state.uplink.isUp != true && state.signalSinceDown == nil { state.signalSinceDown = signal }
            defer { state.waiters.removeAll() }
            return state.waiters.map(\.continuation)
        }
        for continuation in woken { continuation.resume() }
    }

    /// An attempt failed: the uplink is down since now, unless it was already. A signal raised
    /// before this failure did not bring the link back: it is forgotten, so the outage report
    /// names the signal that did (or the retry).
    func markDown(reason: String, at time: Timestamp) {
        state.withLock { state in
            guard state.uplink.isUp != false else {
                state.signalSinceDown = nil
                return
            }
            state.uplink.isUp = false
            state.uplink.since = time
            state.uplink.signal = "\(LinkSignalSource.push.rawValue): \(reason)"
            state.signalSinceDown = nil
            state.downReason = reason
        }
    }

    /// A delivery succeeded: the uplink is up. Returns the outage this ends, if it was down.
    @discardableResult
    func markUp(at time: Timestamp) -> LinkOutage? {
        state.withLock { state in
            guard state.uplink.isUp != true else { return nil }
            let wasDown = state.uplink.isUp == false
            let endedBy = state.signalSinceDown?.description ?? "\(LinkSignalSource.push.rawValue): a retry fell due and was delivered"
            let outage = wasDown ? state.uplink.since.map { LinkOutage(from: $0, through: time, downReason: state.downReason, endedBy: endedBy) } : nil
            state.uplink.isUp = true
            state.uplink.since = time
            state.uplink.signal = wasDown ? endedBy : "\(LinkSignalSource.push.rawValue): delivered"
            state.signalSinceDown = nil
            return outage
        }
    }

    func scheduleNextAttempt(at time: Timestamp?) {
        state.withLock { $0.uplink.nextAttemptAt = time }
    }

    /// Returns once a signal is raised after `generation`, or at once if one already was, or
    /// when the calling task is cancelled.
    func wait(afterGeneration generation: UInt64) async {
        let token = state.withLock { state -> UInt64 in
            state.nextToken &+= 1
            return state.nextToken
        }
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let resumeNow = state.withLock { state -> [CheckedContinuation<Void, Never>] in
                    // Cancellation sets the flag before the handler runs: checked under the lock,
                    // a cancel that came before the waiter was stored is never missed.
                    if state.generation != generation || Task.isCancelled { return [continuation] }
                    var evicted: [CheckedContinuation<Void, Never>] = []
                    if state.waiters.count >= Self.waitersMax { evicted.append(state.waiters.removeFirst().continuation) }
                    state.waiters.append((token, continuation))
                    return evicted
                }
                for waiting in resumeNow { waiting.resume() }
            }
        } onCancel: {
            let cancelled = state.withLock { state -> CheckedContinuation<Void, Never>? in
                guard let index = state.waiters.firstIndex(where: { $0.token == token }) else { return nil }
                return state.waiters.remove(at: index).continuation
            }
            cancelled?.resume()
        }
    }

    /// Runs `attempt` (a bounded connect), abandoning it when a signal is raised after
    /// `generation`: nil then. A connect started while a firewall dropped its SYN waits for the
    /// retransmission; a signal says a fresh one would get through now. The abandoned attempt
    /// runs on to its own timeout and its result is dropped.
    func unlessSignalled<Value: Sendable>(afterGeneration generation: UInt64, _ attempt: @escaping @Sendable () async -> Value) async -> Value? {
        let first = FirstResult<Value>()
        let waiter = Task {
            await self.wait(afterGeneration: generation)
            first.resume(nil)
        }
        let attempting = Task { first.resume(await attempt()) }
        let result = await withTaskCancellationHandler {
            await withCheckedContinuation { first.install($0) }
        } onCancel: {
            first.resume(nil)
        }
        waiter.cancel()
        if result == nil { attempting.cancel() }
        return result
    }

    /// Sleeps `milliseconds` with `sleeper`, ending early when a signal is raised after
    /// `generation`. True when a signal ended it.
    func sleep(milliseconds: Int64, sleeper: any GatewayClock, afterGeneration generation: UInt64) async -> Bool {
        if self.generation != generation { return true }
        return await withTaskGroup(of: Bool.self) { group in
            group.addTask {
                await sleeper.sleep(milliseconds: milliseconds)
                return false
            }
            group.addTask {
                await self.wait(afterGeneration: generation)
                return !Task.isCancelled
            }
            let first = await group.next() ?? false
            group.cancelAll()
            return first
        }
    }
}

/// The first of several racers to finish, handed to one waiting continuation (which may be
/// installed after the winner finished).
private final class FirstResult<Value: Sendable>: Sendable {
    private enum State {
        case empty
        case waiting(CheckedContinuation<Value?, Never>)
        case finished(Value?)
        case taken
    }
    private let state = Mutex(State.empty)

    func install(_ continuation: CheckedContinuation<Value?, Never>) {
        let ready = state.withLock { state -> Value?? in
            switch state {
            case .empty:
                state = .waiting(continuation)
                return nil
            case .finished(let value):
                state = .taken
                return .some(value)
            case .waiting, .taken:
                preconditionFailure("one continuation per race")
            }
        }
        if let ready { continuation.resume(returning: ready) }
    }

    func resume(_ value: Value?) {
        let waiting = state.withLock { state -> CheckedContinuation<Value?, Never>? in
            switch state {
            case .empty:
                state = .finished(value)
                return nil
            case .waiting(let continuation):
                state = .taken
                return continuation
            case .finished, .taken:
                return nil
            }
        }
        waiting?.resume(returning: value)
    }
}

/// (b) While the push is failing, a cheap reachability probe: a TCP connect to each county
/// endpoint, closed at once, no payload, every `everyMilliseconds`. Costs about 5 packets
/// (~300 bytes on IPv4) per endpoint per probe; nothing while the link is up.
enum LinkProbe {
    static func run(
        endpoints: [PushEndpoint], everyMilliseconds: Int64, timeoutMilliseconds: Int64, signals: LinkSignals, clock: any GatewayClock,
        sleeper: any GatewayClock, reachable: @escaping @Sendable (PushEndpoint, Int64) async -> PushLinkError? = TCPReachability.check
    ) async {
        precondition(everyMilliseconds > 0, "a probe period of 0 would spin")
        var probingMilliseconds: Int64 = 0
        while !Task.isCancelled {
            // One probe per period: the time a dropped connect took comes off the wait.
            await sleeper.sleep(milliseconds: max(everyMilliseconds / 10, everyMilliseconds - probingMilliseconds))
            probingMilliseconds = 0
            guard !Task.isCancelled, signals.uplink.isUp == false else { continue }
            let started = monotonicMilliseconds()
            // All endpoints at once (behind a drop each waits its timeout); the first to answer raises.
            await withTaskGroup(of: PushEndpoint?.self) { group in
                for endpoint in endpoints {
                    group.addTask { await reachable(endpoint, timeoutMilliseconds) == nil ? endpoint : nil }
                }
                for await answered in group {
                    guard let answered else { continue }
                    signals.raise(LinkSignal(source: .probe, detail: "\(answered) accepted a TCP connection", time: clock.now()))
                    break
                }
            }
            probingMilliseconds = monotonicMilliseconds() - started
        }
    }
}

/// The county's view of an outage: a report stored when the link returns (an event: it waits
/// behind any alarm, and is never thinned like routine reports).
enum LinkOutageReport {
    static let kind = "linkOutage"

    static func report(_ outage: LinkOutage, reportsWaiting: Int64, utcOffsetMinutes: Int) -> OutboxReport {
        var payload = JSONObjectWriter()
        payload.add("from", string: ISO8601.format(outage.from, utcOffsetMinutes: utcOffsetMinutes))
        payload.add("to", string: ISO8601.format(outage.through, utcOffsetMinutes: utcOffsetMinutes))
        payload.add("outageSeconds", integer: outage.through.milliseconds(since: outage.from) / 1_000)
        payload.add("reportsWaiting", integer: reportsWaiting)
        payload.add("cause", string: outage.downReason)
        payload.add("endedBy", string: outage.endedBy)
        return OutboxReport(
            time: outage.through, kind: kind, priority: .event, exercise: false, payload: payload.text,
            originKey: "\(kind):\(outage.from.millisecondsSinceUnixEpoch)")
    }
}
