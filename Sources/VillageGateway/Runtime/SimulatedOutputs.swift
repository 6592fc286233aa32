// The outputs of `--board sim`: a siren, lamps, a voice module and a modem that only remember.
import WarningLogic

/// Follows the engine's actions as the real outputs would, minus the hardware: the siren is "on"
/// whenever a pattern other than off is asked for, SMS are sent at once. What it did is seen
/// through `snapshot()` and, with `RecordingOutputs` around it, in the log and `outputs.jsonl`.
actor SimulatedOutputs: GatewayOutputs {
    private var current = OutputSnapshot.safe
    /// A siren or lamp under test (the shell's `test`), shown over what the engine asked for.
    private var testing: OutputTest?

    func perform(_ actions: [Action], at time: Timestamp) async {
        for action in actions {
            switch action {
            case .setSiren(let pattern, let exercise):
                testing = nil  // the engine's decision wins over a technician's test
                current.sirenPattern = pattern.description
                current.sirenOn = pattern != .off
                current.exercise = exercise
            case .setLamp(let colour, let exercise):
                testing = nil
                current.lamp = colour?.rawValue
                current.exercise = exercise
            case .broadcast(let message, _):
                current.lastSpoken = message
            case .sendSMS:
                current.smsSent += 1
            case .levelChanged, .enqueueReport, .call:
                break
            }
        }
    }

    func enterSafeState() async {
        current.sirenPattern = SirenPattern.off.description
        current.sirenOn = false
        current.lamp = nil
        current.exercise = false
        testing = nil
    }

    func snapshot() async -> OutputSnapshot {
        var shown = current
        switch testing {
        case .siren:
            shown.sirenPattern = "test"
            shown.sirenOn = true
            shown.exercise = true
        case .lamp(let colour):
            shown.lamp = colour.rawValue
            shown.exercise = true
        case .voice, .sms, nil:
            break
        }
        return shown
    }

    func beginTest(_ test: OutputTest, at time: Timestamp) async -> String? {
        switch test {
        case .siren, .lamp: testing = test
        case .voice(let text): current.lastSpoken = text
        case .sms: current.smsSent += 1
        }
        return nil
    }

    func endTest() async {
        testing = nil
    }
}
