// The outputs of `--board sim`: a siren, lamps, a voice module and a modem that only remember.
import WarningLogic

/// Follows the engine's actions as the real outputs would, minus the hardware: the siren is "on"
/// whenever a pattern other than off is asked for, SMS are sent at once. What it did is seen
/// through `snapshot()` and, with `RecordingOutputs` around it, in the log and `outputs.jsonl`.
actor SimulatedOutputs: GatewayOutputs {
    private var current = OutputSnapshot.safe

    func perform(_ actions: [Action], at time: Timestamp) async {
        for action in actions {
            switch action {
            case .setSiren(let pattern, let exercise):
                current.sirenPattern = pattern.description
                current.sirenOn = pattern != .off
                current.exercise = exercise
            case .setLamp(let colour, let exercise):
                current.lamp = colour?.rawValue
                current.exercise = exercise
            case .broadcast(let message, _):
                current.lastSpoken = message
            case .sendSMS:
                current.smsSent += 1
            case .levelChanged, .enqueueReport:
                break
            }
        }
    }

    func enterSafeState() async {
        current.sirenPattern = SirenPattern.off.description
        current.sirenOn = false
        current.lamp = nil
        current.exercise = false
    }

    func snapshot() async -> OutputSnapshot { current }
}
