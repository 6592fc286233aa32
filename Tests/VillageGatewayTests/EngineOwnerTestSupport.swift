// The example configuration's engine owner on a state directory, built as `run` builds it, for
// the tests that drive the owner directly (re-entrancy, the shell's daemon backend, a full disk).
import Foundation
import Logging
@testable import VillageGateway
import WarningLogic

struct ExampleEngineOwner {
    let gateway: GatewayConfiguration
    let queue: EventQueue
    let published: PublishedStatus
    let owner: EngineOwner

    /// Recovers `directory` (with `reserve`), then `afterRecovery` (e.g. fills the disk), then
    /// builds the owner over `outputs` and starts it at `time`, with no recovered actions.
    static func start(
        directory: String, reserve: DiskReserve? = nil, outputs: any GatewayOutputs, at time: Timestamp, logger: Logger = Logger(label: "test"),
        queue: EventQueue = EventQueue(), stopCondition: (@Sendable (StationStatus, Int) -> String?)? = nil,
        beforeStateBatch: (@Sendable () -> Void)? = nil, afterRecovery: () -> Void = {}
    ) async throws -> ExampleEngineOwner {
        let gateway = try ConfigurationLoader.load(path: ConfigurationFixtures.examplePath)
        let store = StateStore(directory: directory, reserve: reserve)
        let recovery = store.recover(configuration: gateway.engine)
        afterRecovery()
        let published = PublishedStatus(configuration: gateway.engine, board: "sim", stateDirectory: directory, inputs: [])
        let owner = EngineOwner(
            recovery: recovery, store: store, outputs: outputs, queue: queue, notifier: SystemdNotifier(environment: [:]),
            published: published, logger: logger, stopCondition: stopCondition, beforeStateBatch: beforeStateBatch)
        await owner.start(recoveredActions: [], at: time)
        return ExampleEngineOwner(gateway: gateway, queue: queue, published: published, owner: owner)
    }
}
