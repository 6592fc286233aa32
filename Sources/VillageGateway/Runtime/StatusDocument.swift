// `village-gateway status --json`: the status as a documented, versioned document (`status/1`,
// docs/status.md), written by hand so a refactor of the Swift types never changes the wire.
import WarningLogic

/// One JSON value, written by hand: names for levels and measures, plain millisecond numbers,
/// and numbers with the decimals the sensor resolves.
indirect enum StatusJSON {
    case object([(String, StatusJSON)])
    case array([StatusJSON])
    case string(String)
    case integer(Int64)
    /// A number with a fixed count of decimals (`62.0`, `2.000`).
    case number(Double, decimals: Int)
    case bool(Bool)
    case null

    static func optional(_ text: String?) -> StatusJSON { text.map(StatusJSON.string) ?? .null }
    static func milliseconds(_ time: Timestamp?) -> StatusJSON { time.map { .integer($0.millisecondsSinceUnixEpoch) } ?? .null }
    static func level(_ level: WarningLevel?) -> StatusJSON { level.map { .string($0.name) } ?? .null }

    var text: String {
        switch self {
        case .object(let members): "{" + members.map { JSONObjectWriter.quote($0.0) + ":" + $0.1.text }.joined(separator: ",") + "}"
        case .array(let elements): "[" + elements.map(\.text).joined(separator: ",") + "]"
        case .string(let value): JSONObjectWriter.quote(value)
        case .integer(let value): String(value)
        case .number(let value, let decimals): value.isFinite ? DaemonStatus.fixed(value, decimals: decimals) : "null"
        case .bool(let value): value ? "true" : "false"
        case .null: "null"
        }
    }
}

extension DaemonStatus {
    static let documentSchema = "status/1"

    /// The `status/1` document (docs/status.md). Adding a member keeps the version; renaming or
    /// removing one, or changing its meaning, makes `status/2`.
    func document() -> StatusJSON {
        var members: [(String, StatusJSON)] = [
            ("schema", .string(Self.documentSchema)),
            ("station", .object([("id", .string(stationId)), ("name", .string(stationName)), ("utc_offset", .string(ISO8601.formatOffset(utcOffsetMinutes)))])),
            ("board", .string(board)),
            ("pid", .integer(Int64(pid))),
            ("state_dir", .string(stateDirectory)),
            ("uptime_s", .integer(uptimeSeconds)),
            ("time_ms", .milliseconds(station?.time)),
            ("level", .string(station?.level.name ?? "none")),
            ("causes", .array((station?.causes ?? []).map(StatusJSON.string))),
            ("drill_level", .level(station?.drillLevel)),
            ("output_level", .string(station?.outputLevel.name ?? "none")),
            ("latched_level", .level(station?.latchedLevel)),
            ("lower_at_ms", .milliseconds(station?.lowerAt)),
            ("acknowledgement_deadline_ms", .milliseconds(station?.acknowledgementDeadline)),
            ("degraded", .bool(station?.degraded ?? false)),
        ]
        // The 叫应 in progress: who answered, how and after how long, and who is still waited for.
        members.append(("acknowledgement", station?.acknowledgement.map { answer in
            .object([
                ("level", .string(answer.level.name)),
                ("exercise", .bool(answer.exercise)),
                ("requested_ms", .milliseconds(answer.requestedAt)),
                ("complete", .bool(answer.complete)),
                ("next_round_ms", .milliseconds(answer.deadline)),
                ("answered", .array(answer.answered.map { answered in
                    .object([
                        ("by", .string(answered.by)),
                        ("channel", .string(answered.channel.rawValue)),
                        ("time_ms", .milliseconds(answered.time)),
                        ("after_s", .integer(max(0, answered.time.milliseconds(since: answer.requestedAt)) / 1_000)),
                    ])
                })),
                ("waiting", .array(answer.waiting.map(StatusJSON.string))),
            ])
        } ?? .null))
        members.append(("rules", .array((station?.measures ?? []).map { measure in
            .object([
                ("rule", .string(measure.ruleId)),
                ("sensor", .string(measure.sensorId)),
                ("measure", .string(measure.measure.name)),
                ("unit", .string(measure.measure.unit)),
                ("value", measure.value.map { .number($0, decimals: decimals(of: measure)) } ?? .null),
                ("level_met", .string(measure.levelMet.name)),
                ("thresholds", .object(measure.thresholds.defined.map { ($0.level.name, .number($0.value, decimals: decimals(of: measure))) })),
            ])
        })))
        members.append(("sensors", .array((station?.sensors ?? []).map { sensor in
            let detail = sensorDetails.first { $0.id == sensor.id }
            return .object([
                ("id", .string(sensor.id)),
                ("kind", .optional(detail?.kind)),
                ("unit", .optional(detail?.unit)),
                ("faulty", .bool(sensor.faulty)),
                ("fault_reason", .optional(sensor.faultReason)),
                ("value", sensor.lastValue.map { .number($0, decimals: decimals(ofSensor: sensor.id)) } ?? .null),
                ("time_ms", .milliseconds(sensor.lastTime)),
                ("read_failures", .integer(Int64(sensor.readFailuresConsecutive))),
                ("tips", sensor.tipsTotal.map(StatusJSON.integer) ?? .null),
            ])
        })))
        members.append(("outputs", .object([
            ("siren", .string(outputs.sirenPattern)),
            ("siren_on", .bool(outputs.sirenOn)),
            ("lamp", .optional(outputs.lamp)),
            ("exercise", .bool(outputs.exercise)),
            ("last_spoken", .optional(outputs.lastSpoken)),
            ("sms_sent", .integer(Int64(outputs.smsSent))),
            ("sms_failed", .integer(Int64(outputs.smsFailed))),
            ("sms_queued", .integer(Int64(outputs.smsQueued))),
        ])))
        members.append(("modem", outputs.modem.map { modem in
            .object([
                ("port", .string(modem.port)),
                ("model", .string(modem.model)),
                ("open", .bool(modem.open)),
                ("registration", .optional(modem.registration)),
                ("data", .optional(modem.data)),
                ("signal_dbm", modem.signalDBm.map { .integer(Int64($0)) } ?? .null),
                ("last_error", .optional(modem.lastError)),
                ("opens", .integer(Int64(modem.opens))),
                ("failures", .integer(Int64(modem.failures))),
                ("answers_received", .integer(Int64(modem.answersReceived))),
                ("calls_made", .integer(Int64(modem.callsMade))),
            ])
        } ?? .null))
        members.append(("inputs", .array(inputs.map { input in
            let counters = inputCounters.first { $0.input == input }?.counters ?? []
            return .object([("description", .string(input)), ("counters", .object(counters.map { ($0.name, .integer(Int64($0.value))) }))])
        })))
        members.append(("queue", .object([
            ("depth", .integer(Int64(counters.queueDepth))),
            ("limit", .integer(Int64(queueLimit))),
            ("depth_most", .integer(Int64(counters.queueDepthHighWater))),
            ("events_handled", .integer(Int64(counters.eventsHandled))),
            ("decisions", .integer(Int64(counters.decisions))),
        ])))
        members.append(("state", .object([
            ("journal_sequence", .integer(Int64(counters.journalSequence))),
            ("records_since_snapshot", .integer(Int64(counters.journalRecordsSinceSnapshot))),
            ("snapshots_written", .integer(Int64(counters.snapshotsWritten))),
            ("write_failures", .integer(Int64(counters.stateWriteFailures))),
            ("writes_waiting", .integer(Int64(counters.stateWritesQueued))),
            ("writes_waiting_most", .integer(Int64(counters.stateWritesQueuedHighWater))),
            ("decisions_owed", .integer(Int64(counters.decisionsOwed))),
        ])))
        members.append(("outbox", backlog.map { backlog in
            .object([
                ("waiting", .integer(backlog.undelivered)),
                ("waiting_alarms", .integer(backlog.undeliveredAlarms)),
                ("waiting_events", .integer(backlog.undeliveredEvents)),
                ("waiting_routine", .integer(backlog.undeliveredRoutine)),
                ("delivered_kept", .integer(backlog.delivered)),
                ("stored_bytes", .integer(backlog.storedBytes)),
                ("oldest_waiting", .optional(backlog.oldestUndelivered)),
                ("oldest_waiting_ms", backlog.oldestUndeliveredMilliseconds.map { .integer($0) } ?? .null),
                ("last_sequence", .integer(backlog.lastSequence)),
            ])
        } ?? .null))
        members.append(("uplink", uplink.map { uplink in
            .object([
                ("state", .string(uplink.state)),
                ("since", .optional(uplink.since)),
                ("signal", .optional(uplink.signal)),
                ("next_attempt", .optional(uplink.nextAttempt)),
            ])
        } ?? .null))
        return .object(members)
    }
}
