// The long-running parts of `run` as the services of one ServiceGroup (swift-service-lifecycle):
// its graceful shutdown puts the outputs in their safe state first, then lets the engine owner
// decide what is queued and stop, then ends inputs, ticks and the county side.
import Logging
import ServiceLifecycle
import Synchronization

/// A part of the box that runs until the group shuts down gracefully; then its task is cancelled
/// (every such part ends on cancellation: inputs, ticks, the county API, the push, the live line).
/// Its end, normal or not, ends nothing else: an input that stops is logged by itself and the
/// warnings go on with the others.
struct RuntimeTask: Service, CustomStringConvertible {
    let description: String
    let body: @Sendable () async -> Void

    init(_ description: String, _ body: @escaping @Sendable () async -> Void) {
        self.description = description
        self.body = body
    }

    func run() async throws {
        await cancelWhenGracefulShutdown { await body() }
    }

    var configuration: ServiceGroupConfiguration.ServiceConfiguration {
        .init(service: self, successTerminationBehavior: .ignore, failureTerminationBehavior: .ignore, serviceName: description)
    }
}

/// The engine owner as a service: a graceful shutdown closes its queue (the owner decides what is
/// already on it, then returns); when the owner stops by itself (`--exit-after-scenario`) the whole
/// group shuts down gracefully.
final class EngineOwnerService: Service, CustomStringConvertible, Sendable {
    let owner: EngineOwner
    let queue: EventQueue
    /// Why the owner stopped, for the exit record.
    let reason = Mutex<String?>(nil)
    var description: String { "engine owner" }

    init(owner: EngineOwner, queue: EventQueue) {
        self.owner = owner
        self.queue = queue
    }

    func run() async throws {
        let queue = self.queue
        let stopped = await withTaskCancellationHandler {
            await withGracefulShutdownHandler {
                await owner.run()
            } onGracefulShutdown: {
                Task { await queue.close() }
            }
        } onCancel: {
            Task { await queue.close() }
        }
        reason.withLock { $0 = stopped }
    }

    var configuration: ServiceGroupConfiguration.ServiceConfiguration {
        .init(service: self, successTerminationBehavior: .gracefullyShutdownGroup, failureTerminationBehavior: .gracefullyShutdownGroup, serviceName: description)
    }
}

/// Waits for the group's graceful shutdown and then puts the outputs in their safe state. It is
/// the group's last service, so the first one shut down: the siren stops before anything else
/// winds down. (A signal does this at once as well, on the signal thread; this covers every other
/// way the group shuts down. `RecordingOutputs` enters the safe state once: the second caller
/// waits for the first, and the record says it once.)
final class SafeOutputsService: Service, CustomStringConvertible, Sendable {
    let outputs: RecordingOutputs
    /// Whether the service has put the outputs in their safe state (the group has run).
    let entered = Atomic<Bool>(false)
    var description: String { "outputs' safe state" }

    init(outputs: RecordingOutputs) { self.outputs = outputs }

    func run() async throws {
        // Cancelled (not a graceful shutdown): the outputs go safe all the same.
        try? await gracefulShutdown()
        await outputs.enterSafeState()
        entered.store(true, ordering: .releasing)
    }

    var configuration: ServiceGroupConfiguration.ServiceConfiguration {
        .init(service: self, successTerminationBehavior: .ignore, failureTerminationBehavior: .ignore, serviceName: description)
    }
}

enum RuntimeServiceGroup {
    /// A graceful shutdown that has not ended after this is escalated to cancellation: a part that
    /// ignores the shutdown must not keep the box from saving its state within systemd's stop
    /// timeout. The parts end within one driver call (a GPIO slice, one Modbus transaction) and
    /// the owner decides a bounded queue, so 5 s is ample.
    static let gracefulShutdownMillisecondsMax: Int64 = 5_000
    /// `TimeoutStopSec` in packaging/village-gateway.service, after which systemd sends SIGKILL.
    /// A stop fits in it: the outputs safe first (within `RunCommand.safeStateBudgetMilliseconds`),
    /// the group's graceful shutdown, the output workers' stops (`HardwareOutputs`, one after the
    /// other), and at least `finalSaveMillisecondsMin` for the final snapshot and the outbox on a
    /// slow SD card. A kill past it loses nothing durably recorded (a restart replays the
    /// journal); it costs a longer start. `RuntimeStopBudgetTests` holds the unit to this.
    static let systemdStopTimeoutMilliseconds: Int64 = 20_000
    static let finalSaveMillisecondsMin: Int64 = 5_000

    /// The group, in start order (a graceful shutdown goes in reverse): the parts, then the owner,
    /// then the outputs' safe state. Signals are not the group's own: `SignalWatcher` catches them
    /// from before READY=1 and triggers the graceful shutdown (the group would install its
    /// handlers only once it runs, and a SIGTERM in between would kill the box unsafely).
    static func make(parts: [RuntimeTask], owner: EngineOwnerService, outputs: SafeOutputsService, logger: Logger) -> ServiceGroup {
        var configuration = ServiceGroupConfiguration(
            services: parts.map(\.configuration) + [owner.configuration, outputs.configuration], logger: logger)
        configuration.maximumGracefulShutdownDuration = .milliseconds(gracefulShutdownMillisecondsMax)
        return ServiceGroup(configuration: configuration)
    }
}
