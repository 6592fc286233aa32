// The shell's commands that look at or act on the box: status, sensors, test, log, outbox, time,
// reboot.
import WarningLogic

extension ShellSession {
    func statusText() -> [UInt8] {
        var status = backend.status()
        // The outbox as it is now: the published figure is refreshed by maintenance only.
        if let backlog = backend.outboxBacklog() {
            status.backlog = StatusBacklog(backlog, lastSequence: status.backlog?.lastSequence ?? 0, utcOffsetMinutes: status.utcOffsetMinutes)
        }
        var text = status.humanText() + "\n"
        if status.backlog == nil { text += "Outbox    \(backend.outboxDescription)\n" }
        text += "Supply    not measured on board \(status.board)\n"
        return render(text)
    }

    func startSensors(now: Int64) -> [UInt8] {
        mode = .sensors(nextMilliseconds: now + Self.sensorsRefreshMilliseconds)
        return render("Live readings (any key stops):\n") + sensorsLine()
    }

    func sensorsLine() -> [UInt8] {
        let status = backend.status()
        let units = Dictionary(backend.runningConfiguration().engine.sensors.map { ($0.id, $0.unit) }) { first, _ in first }
        var parts: [String] = []
        for sensor in status.station?.sensors ?? [] {
            var part = sensor.id
            if let tips = sensor.tipsTotal {
                part += " \(tips) tips"
                if let measure = status.station?.measures.first(where: { $0.sensorId == sensor.id }), let value = measure.value {
                    part += ", \(measure.measure.name) \(tomlNumber((value * 10).rounded() / 10)) \(measure.measure.unit)"
                }
            } else if let value = sensor.lastValue {
                // "2 m", not "2m": a technician would read that as minutes.
                part += " \(tomlNumber(value)) \(units[sensor.id] ?? "")"
            } else {
                part += " —"
            }
            if sensor.faulty { part += " FAULTY" }
            parts.append(part)
        }
        let time = status.station.map { ISO8601.format($0.time, utcOffsetMinutes: status.utcOffsetMinutes) } ?? "starting"
        let line = (String(time.dropFirst(11).prefix(8)) + " " + parts.joined(separator: " · ")).truncated(toColumns: Self.columns - 1)
        if ansi { return Array(("\r\u{1B}[K" + line).utf8) }
        return render(line + "\n")
    }

    func test(_ invocation: ShellInvocation) -> [UInt8] {
        let arguments = invocation.arguments
        let now = invocation.now
        let force = arguments.contains("--force")
        let words = arguments.filter { $0 != "--force" }
        guard let what = words.first else { return refuse("write test siren, test lamp COLOUR, test voice TEXT or test sms CONTACT") }
        let status = backend.status()
        if let level = status.station?.level, level > .none, !force {
            return refuse("a real \(level.name) alarm is on and the outputs are warning the village; add --force to test anyway")
        }
        var seconds = Self.testSecondsDefault
        func secondsArgument(_ text: String?) -> String? {
            guard let text else { return nil }
            guard let value = Int(text), Self.testSecondsAllowed.contains(value) else {
                return "SECONDS must be a whole number from \(Self.testSecondsAllowed.lowerBound) to \(Self.testSecondsAllowed.upperBound)"
            }
            seconds = value
            return nil
        }
        let test: OutputTest
        let description: String
        switch what {
        case "siren":
            guard words.count <= 2 else { return refuse("write test siren [SECONDS] [--force]") }
            if let problem = secondsArgument(words.count == 2 ? words[1] : nil) { return refuse(problem) }
            test = .siren
            description = "siren on for \(seconds) s"
        case "lamp":
            guard words.count >= 2, words.count <= 3, let colour = LampColour(rawValue: words[1]) else {
                let colours = LampColour.allCases.map(\.rawValue)
                return refuse("COLOUR is \(colours.dropLast().joined(separator: ", ")) or \(colours.last ?? ""): test lamp COLOUR [SECONDS]")
            }
            if let problem = secondsArgument(words.count == 3 ? words[2] : nil) { return refuse(problem) }
            test = .lamp(colour)
            description = "\(colour.rawValue) lamp on for \(seconds) s"
        case "voice":
            let text = ShellInvocation(arguments: [], line: invocation.line.replacingOccurrences(of: " --force", with: ""), now: now).rest(after: 2)
            guard !text.isEmpty, text.count <= ConfigurationLimits.messageCharactersMax else {
                return refuse("write test voice TEXT (1 to \(ConfigurationLimits.messageCharactersMax) characters)")
            }
            test = .voice(text)
            description = "speaking: \(text)"
        case "sms":
            guard words.count == 2 else { return refuse("write test sms CONTACT (a contact's name or phone)") }
            let contacts = backend.runningConfiguration().engine.contacts
            guard let contact = contacts.first(where: { $0.name == words[1] || $0.phone == words[1] }) else {
                let names = contacts.map(\.name)
                return refuse("no contact \(words[1]); the contacts are " + (names.isEmpty ? "none" : names.joined(separator: ", ")))
            }
            let when = ISO8601.format(backend.now(), utcOffsetMinutes: status.utcOffsetMinutes)
            test = .sms(contact, text: "【测试】\(status.stationName)预警设备短信测试，无需回复 \(when.prefix(16))")
            description = "test SMS to \(contact.name) (\(contact.phone))"
        default:
            return refuse("cannot test \(what); test siren, lamp, voice or sms")
        }
        if let refusal = backend.beginTest(test) { return refuse(refusal) }
        audit("test", change: description + (force ? " (forced during an alarm)" : ""))
        switch test {
        case .siren, .lamp:
            mode = .testing(untilMilliseconds: now + Int64(seconds) * 1_000)
            return render("Testing: \(description) (any key stops).\n")
        case .voice:
            return render("Test started: \(description).\n")
        case .sms(let contact, _):
            let outputs = status.outputs
            mode = .awaitingSMS(SMSWait(
                contact: contact.name, sentBefore: outputs.smsSent, failedBefore: outputs.smsFailed,
                untilMilliseconds: now + Self.smsWaitMillisecondsMax, nextCheckMilliseconds: now + Self.smsCheckMilliseconds))
            return render("Sending: \(description); waiting for the modem (any key stops waiting).\n")
        }
    }

    func finishTest(_ reason: String) -> [UInt8] {
        backend.endTest()
        mode = .command
        return render("\(reason.prefix(1).uppercased() + reason.dropFirst()): the output is back to its safe state.\n") + editor.promptBytes
    }

    /// Whether the test SMS went: the modem's sent or failed count moved, or time is up.
    func checkSMS(_ wait: SMSWait, now: Int64) -> [UInt8] {
        let outputs = backend.status().outputs
        if outputs.smsSent > wait.sentBefore {
            mode = .command
            return render("Test SMS to \(wait.contact): sent.\n") + editor.promptBytes
        }
        if outputs.smsFailed > wait.failedBefore {
            mode = .command
            return render("Test SMS to \(wait.contact): FAILED; log shows the modem's answer.\n") + editor.promptBytes
        }
        if now >= wait.untilMilliseconds {
            mode = .command
            return render("Test SMS to \(wait.contact): no answer from the modem in \(formatDuration(Self.smsWaitMillisecondsMax)); "
                + "it may still be queued (status shows the SMS counts).\n") + editor.promptBytes
        }
        var next = wait
        next.nextCheckMilliseconds = now + Self.smsCheckMilliseconds
        mode = .awaitingSMS(next)
        return []
    }

    func log(_ arguments: [String]) -> [UInt8] {
        var count = Self.logLinesDefault
        if let first = arguments.first {
            guard arguments.count == 1, let value = Int(first), (1...LogRing.linesMax).contains(value) else {
                return refuse("write log [N], N from 1 to \(LogRing.linesMax)")
            }
            count = value
        }
        let lines = backend.logLines(count)
        return render(lines.isEmpty ? "No log lines yet.\n" : lines.joined(separator: "\n") + "\n")
    }

    func outbox() -> [UInt8] {
        guard let backlog = backend.outboxBacklog() else { return render("Outbox: \(backend.outboxDescription)\n") }
        let status = backend.status()
        let offset = status.utcOffsetMinutes
        var text = "Waiting for the county: \(backlog.undelivered) (\(backlog.undeliveredAlarms) alarms, "
            + "\(backlog.undeliveredEvents) events, \(backlog.undeliveredRoutine) routine)\n"
        if let oldest = backlog.oldestUndeliveredTime {
            let age = status.station.map { " (\(DaemonStatus.age(milliseconds: $0.time.milliseconds(since: oldest))))" } ?? ""
            text += "Oldest waiting since \(ISO8601.format(oldest, utcOffsetMinutes: offset))\(age)\n"
        }
        text += "Delivered and kept: \(backlog.delivered); stored \(backlog.storedBytes / 1024) KiB\n"
        if backlog.damaged > 0 {
            text += "Damaged: \(backlog.damaged) (unreadable rows, served to the county as damaged with the reason)\n"
        }
        if let uplink = status.uplink { text += uplink.lines.joined(separator: "\n") + "\n" }
        return render(text)
    }

    func time(_ arguments: [String]) -> [UInt8] {
        let offset = backend.status().utcOffsetMinutes
        guard let first = arguments.first else {
            return render("Box time \(ISO8601.format(backend.now(), utcOffsetMinutes: offset))\n")
        }
        guard first == "set", (2...3).contains(arguments.count) else { return refuse("write time, or time set 2026-11-22 17:40") }
        let typed = arguments.dropFirst().joined(separator: " ")
        let parsed: ISO8601.Parsed
        do {
            parsed = try Self.parseBoxTime(typed, utcOffsetMinutes: offset)
        } catch {
            return refuse("\(typed): \(error.description); write a date and time like 2026-11-22 17:40 (the station's offset is \(ISO8601.formatOffset(offset)))")
        }
        let before = backend.now()
        if let refusal = backend.setTime(parsed.time) { return refuse(refusal) }
        audit("time set", change: "\(ISO8601.format(before, utcOffsetMinutes: offset)) → \(ISO8601.format(parsed.time, utcOffsetMinutes: offset))")
        return render("Box time set to \(ISO8601.format(parsed.time, utcOffsetMinutes: offset)).\n")
    }

    /// `2026-11-22 17:40`, `2026-11-22T17:40:05` or with an offset (`+08:00`, `Z`): without one
    /// the station's offset is meant, as on the village's clocks.
    static func parseBoxTime(_ text: String, utcOffsetMinutes offset: Int) throws(ISO8601.Problem) -> ISO8601.Parsed {
        do {
            return try ISO8601.parseOrExplain(text)
        } catch {
            guard error.description.hasPrefix("the UTC offset is missing") else { throw error }
            return try ISO8601.parseOrExplain(text + ISO8601.formatOffset(offset))
        }
    }

    func reboot(_ arguments: [String]) -> [UInt8] {
        guard arguments == ["now"] else {
            return refuse("write reboot now to restart the box; warnings stop until it is back (about a minute)")
        }
        if let refusal = backend.reboot() { return refuse(refusal) }
        audit("reboot", change: "restart requested")
        mode = .closed
        return render("Restarting the box.\n")
    }
}
