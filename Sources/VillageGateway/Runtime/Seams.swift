// The seams of the running box: inputs put timestamped events on one bounded queue, one owner
// feeds the engine, and the outputs carry out the engine's actions. Real hardware and the
// simulated board plug in at the same places, so `run --board sim` runs the same program.
import TimeSeam
import WarningLogic

/// The box's time seam is the package's one, `GatewayClock` (TimeSeam): the clock the box stamps
/// events with, and waits in that same time. Real boards read the wall clock at start and then
/// the monotonic one (`SteadyBoxClock`) and wait in real time; `--board sim` runs a scenario's
/// clock, possibly accelerated (`--speed 60`), and a wait on it lasts scenario time (an hour's
/// backoff at 4320x is under a second); tests move clocks by hand and record the waits.
extension GatewayClock {
    /// Now, as the engine's time (the box's clocks count from the Unix epoch).
    func now() -> Timestamp { Timestamp(millisecondsSinceUnixEpoch: nowMilliseconds()) }
}

/// Where every input puts its events: the engine owner's bounded queue. `submit` waits while the
/// queue is full (backpressure) instead of dropping: a dropped tip is lost rain.
protocol EventSink: Sendable {
    func submit(_ event: Event) async
}

/// One input of the box (a rain gauge's GPIO line, a button, a Modbus bus, a scenario): runs until
/// its task is cancelled, putting events on the sink. Errors it cannot recover from are thrown
/// with a message a technician can act on; errors it can (a sensor timing out) become events.
protocol GatewayInput: Sendable {
    /// For logs and `status`: "rain gauge rain1 on gpiochip0 line 17", "RS-485 bus rs485 on /dev/ttyS1".
    var inputDescription: String { get }
    func run(into sink: any EventSink, clock: any GatewayClock) async throws
    /// Health counters for `status` (a bus's requests, timeouts and CRC errors per slave; a rain
    /// gauge's rejected edges). Called from the status server's thread at any time.
    func statusCounters() -> [InputCounter]
}

extension GatewayInput {
    /// Inputs with nothing to count (a scenario) report no counters.
    func statusCounters() -> [InputCounter] { [] }
}

/// One named count an input keeps, as `status` shows it: "slave 3 timeouts" = 12.
struct InputCounter: Codable, Equatable, Sendable {
    var name: String
    var value: Int
}

/// The box's outputs. The engine owner hands over the actions of each decision, in order; the
/// outputs carry them out at their own pace (a siren pattern runs for minutes, an SMS takes
/// seconds), never blocking the engine.
protocol GatewayOutputs: Sendable {
    func perform(_ actions: [Action], at time: Timestamp) async
    /// Siren off, lamps off, speech stopped: on SIGTERM (within one second) and after an output
    /// error.
    func enterSafeState() async
    /// What the outputs show now, for `status` and the tests.
    func snapshot() async -> OutputSnapshot
    /// A technician's test of one output (the shell's `test`), marked as a drill, outside the
    /// engine: nil when started, else why it cannot be (no voice module wired). A decision of
    /// the engine meanwhile overrides the test.
    func beginTest(_ test: OutputTest, at time: Timestamp) async -> String?
    /// Ends a siren or lamp test: the outputs go back to what the engine last asked for
    /// (normally off, their safe state).
    func endTest() async
}

/// What the shell's `test` switches on.
enum OutputTest: Sendable, Equatable {
    case siren
    case lamp(LampColour)
    case voice(String)
    case sms(Contact, text: String)
}

/// What each output is doing, as `status` shows it.
struct OutputSnapshot: Codable, Equatable, Sendable {
    /// The pattern the engine asked for ("off", "continuous", "intermittent 2000ms on/3000ms off").
    var sirenPattern: String
    /// Whether the siren relay is energised at this instant (patterns and the on-time limit switch it).
    var sirenOn: Bool
    var lamp: String?
    var exercise: Bool
    var lastSpoken: String?
    var smsSent: Int
    var smsFailed: Int
    /// SMS waiting for the modem (bounded; see the outputs' limit).
    var smsQueued: Int
    /// Registration, signal, last error; nil without a modem.
    var modem: ModemSnapshot? = nil

    static let safe = OutputSnapshot(
        sirenPattern: "off", sirenOn: false, lamp: nil, exercise: false, lastSpoken: nil, smsSent: 0, smsFailed: 0, smsQueued: 0)
}

/// Where the box's reports are kept for the county: the outbox service (`OutboxService`). The
/// engine owner hands over the engine's reports, the summariser its observation summaries, the
/// technician's shell its audit records.
protocol ReportSink: Sendable {
    /// Returns once the reports are committed to disk, or once storing them has failed: a full or
    /// dead disk never stops the warning logic. The sink logs the failure, keeps the reports in a
    /// bounded buffer and retries; what it still cannot keep it counts and reports as lost.
    func store(_ reports: [OutboxReport]) async
    /// What is waiting for the county, for `status`, the API and the shell; nil when the outbox
    /// cannot be read.
    func backlog() async -> OutboxBacklog?
}
