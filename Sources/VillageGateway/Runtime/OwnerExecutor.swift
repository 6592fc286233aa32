// The engine owner's own thread: the actor's jobs run there, so its journal, snapshot and outbox
// fsyncs block that thread and never one of the cooperative pool's (two on a two-core board).
import Foundation
import WarningLogic

/// A serial executor on one dedicated thread. Jobs run in the order they were enqueued, one at a
/// time. The thread lives as long as the process (the program has one engine owner; the tests'
/// owners share it), so it is never joined.
final class DedicatedThreadExecutor: SerialExecutor, @unchecked Sendable {
    // @unchecked Sendable: `jobs` is touched only under `condition`'s lock.
    private let condition = NSCondition()
    private var jobs: [UnownedJob] = []
    private var threadIdentifier: pthread_t?

    init(name: String) {
        let thread = Thread { [self] in runJobs() }
        thread.name = name
        thread.start()
    }

    func enqueue(_ job: consuming ExecutorJob) {
        let unowned = UnownedJob(job)
        condition.lock()
        jobs.append(unowned)
        condition.signal()
        condition.unlock()
    }

    func asUnownedSerialExecutor() -> UnownedSerialExecutor {
        UnownedSerialExecutor(ordinary: self)
    }

    /// Whether the caller runs on this executor's thread.
    var isCurrentThread: Bool {
        condition.lock()
        defer { condition.unlock() }
        guard let threadIdentifier else { return false }
        return pthread_equal(threadIdentifier, pthread_self()) != 0
    }

    private func runJobs() {
        condition.lock()
        threadIdentifier = pthread_self()
        condition.unlock()
        while true {
            condition.lock()
            while jobs.isEmpty { condition.wait() }
            let job = jobs.removeFirst()
            condition.unlock()
            job.runSynchronously(on: asUnownedSerialExecutor())
        }
    }
}

/// The answer to a message on the owner's queue: the sender waits until the owner has handled it.
actor OwnerReply {
    private var done = false
    private var waiters: [CheckedContinuation<Void, Never>] = []

    func signal() {
        done = true
        for waiter in waiters { waiter.resume() }
        waiters.removeAll()
    }

    func wait() async {
        if done { return }
        await withCheckedContinuation { waiters.append($0) }
    }
}

/// What changes the engine other than an event, as a message on the owner's one queue, handled
/// between two decisions, never in the middle of one.
enum OwnerCommand: Sendable {
    /// A configuration committed from the shell.
    case reconfigure(EngineConfiguration, reply: OwnerReply)
}
