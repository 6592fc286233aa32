// SIGTERM and SIGINT without a window where they are lost: a handler that writes to a pipe.
import Foundation

/// The write end of the self-pipe, read by the signal handler (only async-signal-safe calls
/// there: `write`). Set once, before the handlers are installed.
nonisolated(unsafe) private var signalPipeWriteDescriptor: Int32 = -1

/// Installs handlers for SIGTERM and SIGINT at once (a dispatch signal source registers its
/// handler later, on another thread: a SIGTERM right after READY=1 would be ignored), and runs
/// `onSignal` on a thread of its own for each signal that arrives.
///
/// Kept beside the runtime's ServiceGroup rather than the group's own `gracefulShutdownSignals`:
/// the group traps signals only once `run()` has started (a dispatch source, after READY=1 and
/// after the outputs were first set), so a SIGTERM in between would take the default action and
/// kill the box with its siren on. `onSignal` triggers the group's graceful shutdown instead,
/// which the group keeps when it comes before `run()`
/// (`RuntimeEndToEndTests.aSIGTERMRightAfterREADYPutsTheOutputsInTheirSafeState`).
enum SignalWatcher {
    static func start(onSignal: @escaping @Sendable (Int32) -> Void) {
        var descriptors: [Int32] = [-1, -1]
        guard pipe(&descriptors) == 0 else { preconditionFailure("cannot create the signal pipe: \(String(cString: strerror(errno)))") }
        let readDescriptor = descriptors[0]
        signalPipeWriteDescriptor = descriptors[1]
        let thread = Thread {
            var number: Int32 = 0
            while true {
                let count = withUnsafeMutableBytes(of: &number) { read(readDescriptor, $0.baseAddress!, MemoryLayout<Int32>.size) }
                if count == MemoryLayout<Int32>.size {
                    onSignal(number)
                } else if count < 0 && errno == EINTR {
                    continue
                } else {
                    return
                }
            }
        }
        thread.name = "signals"
        thread.start()
        for number in [SIGTERM, SIGINT] {
            signal(number) { received in
                var value = received
                _ = withUnsafeBytes(of: &value) { write(signalPipeWriteDescriptor, $0.baseAddress!, MemoryLayout<Int32>.size) }
            }
        }
    }
}
