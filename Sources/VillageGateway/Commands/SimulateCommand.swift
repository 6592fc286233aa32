// `village-gateway simulate`: replay a scenario through the daemon's own engine, print the
// timeline of level changes and actions, and optionally draw the chart.
import ArgumentParser
import Foundation
import WarningLogic

struct SimulateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "simulate",
        abstract: "Replay a scenario through the warning engine, as fast as the CPU allows.",
        discussion: """
            The scenario is CSV with the header time,sensor,value. time is ISO-8601 with offset \
            (2020-08-04T03:30:00+08:00); sensor is a sensor id of the configuration; for a rain \
            gauge, value is the rain in mm that fell in the interval ending at time, for other \
            sensors the reading in the sensor's unit, or 'fail' for a failed read. Rows with \
            sensor 'ack' (value: who answered), 'manual' (a level, or none), 'drill' (a level, or \
            stop), 'county' (a level, or cancel) and 'clear' (clear a latched level) inject those \
            events. Lines starting with # are comments. After the last row the clock runs on \
            until the level is back to none with no timer pending, or until --until.
            """
    )

    @Option(name: .long, help: ArgumentHelp("The configuration file (TOML).", valueName: "file"))
    var config: String

    @Option(name: .long, help: ArgumentHelp("The scenario file (CSV: time,sensor,value).", valueName: "file"))
    var scenario: String

    @Option(name: .long, help: "Timeline format: text (for people) or json (one object per line).")
    var format: TimelineFormat = .text

    @Option(name: .long, help: ArgumentHelp("Also draw the replay as an SVG chart into this file.", valueName: "file.svg"))
    var chart: String?

    @Option(name: .long, help: ArgumentHelp("Stop the clock at this ISO-8601 time instead.", valueName: "time"))
    var until: String?

    func validate() throws {
        if let until, ISO8601.parse(until) == nil {
            throw ValidationError("--until '\(until)' is not \(ISO8601.expectedForm)")
        }
    }

    func run() throws {
        let gateway = try loadConfigurationOrExit(path: config)
        let engineConfiguration = gateway.engine
        let loaded: Scenario
        do {
            loaded = try Scenario.load(path: scenario, configuration: engineConfiguration)
        } catch {
            printError(error.description)
            throw ExitCode.failure
        }
        let offset = engineConfiguration.station.utcOffsetMinutes
        let writer = TimelineWriter(format: format, utcOffsetMinutes: offset)
        var output = BufferedOutput()
        if format == .text {
            output.line("Replaying \(scenario) (\(loaded.rows.count) events) for \(engineConfiguration.station.name) (\(engineConfiguration.station.id)) with \(config)")
        }
        var simulator = Simulator(configuration: engineConfiguration)
        simulator.keepsSamples = chart != nil
        var folder = RepeatedBroadcastFolder()
        let result = simulator.run(events: loaded.rows.map(\.event), until: until.flatMap(ISO8601.parse)) { timed in
            switch format {
            case .text: for line in folder.lines(for: timed, writer: writer) { output.line(line) }
            case .json: if let line = writer.line(for: timed) { output.line(line) }
            }
        }
        for line in folder.finish(writer: writer) { output.line(line) }
        let summary = Summary(result: result, rows: loaded.rows.count)
        switch format {
        case .text: output.line(summary.text(utcOffsetMinutes: offset))
        case .json: output.line(summary.json(utcOffsetMinutes: offset))
        }
        output.flush()

        if let chart {
            let input = ChartInput(
                title: "\(engineConfiguration.station.name) (\(engineConfiguration.station.id)) — replay of \(lastPathComponent(scenario))",
                subtitle: "\(ISO8601.format(result.firstTime, utcOffsetMinutes: offset)) to \(ISO8601.format(result.lastTime, utcOffsetMinutes: offset)) · configuration \(lastPathComponent(config)) · peak level \(summary.peakLevel.name)",
                configuration: engineConfiguration,
                result: result,
                hourlyRain: Self.hourlyRain(loaded, configuration: engineConfiguration),
                utcOffsetMinutes: offset)
            do {
                try writeFileAtomically(path: chart, contents: Chart.render(input))
            } catch {
                printError("cannot write the chart to \(chart): \(error)")
                throw ExitCode.failure
            }
        }
    }

    /// Rain per gauge per local hour. A tip at 04:00:00 fell in the hour 03:00–04:00 (rows give the
    /// rain of the interval ending at their time), hence the millisecond taken off.
    static func hourlyRain(_ scenario: Scenario, configuration: EngineConfiguration) -> [(gaugeId: String, hours: [(start: Timestamp, millimeters: Double)])] {
        configuration.sensors.filter { $0.kind == .rainGauge }.compactMap { gauge in
            let micrometersPerTip = gauge.micrometersPerTip ?? 0
            var hours: [(start: Timestamp, millimeters: Double)] = []
            for row in scenario.rows {
                guard case .tips(let sensorId, let count) = row.event.kind, sensorId == gauge.id else { continue }
                let instant = row.event.time.millisecondsSinceUnixEpoch - 1
                let hourStart = Timestamp(millisecondsSinceUnixEpoch: instant - ((instant % Milliseconds.hour) + Milliseconds.hour) % Milliseconds.hour)
                let millimeters = Double(Int64(count) * micrometersPerTip) / 1000
                if let last = hours.last, last.start == hourStart {
                    hours[hours.count - 1].millimeters += millimeters
                } else {
                    hours.append((hourStart, millimeters))
                }
            }
            return hours.isEmpty ? nil : (gauge.id, hours)
        }
    }
}

extension TimelineFormat: ExpressibleByArgument {}

/// What a replay came to, in one paragraph.
struct Summary {
    var rows: Int
    var peakLevel: WarningLevel
    var peakTime: Timestamp?
    var levelChanges: Int
    var smsCount: Int
    var broadcasts: Int
    var result: SimulationResult

    init(result: SimulationResult, rows: Int) {
        self.rows = rows
        self.result = result
        var peak = WarningLevel.none
        var peakTime: Timestamp?
        var changes = 0
        var sms = 0
        var broadcasts = 0
        for timed in result.actions {
            switch timed.action {
            case .levelChanged(let change) where !change.exercise:
                changes += 1
                if change.to > peak { peak = change.to; peakTime = timed.time }
            case .sendSMS: sms += 1
            case .broadcast: broadcasts += 1
            default: break
            }
        }
        self.peakLevel = peak
        self.peakTime = peakTime
        self.levelChanges = changes
        self.smsCount = sms
        self.broadcasts = broadcasts
    }

    func text(utcOffsetMinutes: Int) -> String {
        let peak = peakTime.map { " at \(ISO8601.format($0, utcOffsetMinutes: utcOffsetMinutes))" } ?? ""
        let degraded = result.finalStatus.degraded ? "; some sensor is faulty (degraded)" : ""
        return """
            Summary: \(rows) events; peak level \(peakLevel.name)\(peak); \(levelChanges) level changes, \
            \(broadcasts) broadcasts, \(smsCount) SMS; final level \(result.finalStatus.level.name) at \
            \(ISO8601.format(result.lastTime, utcOffsetMinutes: utcOffsetMinutes))\(degraded). Clock stopped: \(result.endReason).
            """
    }

    func json(utcOffsetMinutes: Int) -> String {
        var object = JSONObjectWriter()
        object.add("time", string: ISO8601.format(result.lastTime, utcOffsetMinutes: utcOffsetMinutes))
        object.add("type", string: "summary")
        object.add("events", integer: Int64(rows))
        object.add("peak_level", string: peakLevel.name)
        if let peakTime { object.add("peak_time", string: ISO8601.format(peakTime, utcOffsetMinutes: utcOffsetMinutes)) }
        object.add("level_changes", integer: Int64(levelChanges))
        object.add("broadcasts", integer: Int64(broadcasts))
        object.add("sms", integer: Int64(smsCount))
        object.add("final_level", string: result.finalStatus.level.name)
        object.add("degraded", bool: result.finalStatus.degraded)
        object.add("end_reason", string: result.endReason)
        return object.text
    }
}

/// The configuration a command runs with; a bad one prints every problem (file, line, key) to
/// standard error and ends the command with exit status 1, before anything else happens.
func loadConfigurationOrExit(path: String) throws -> GatewayConfiguration {
    do {
        return try ConfigurationLoader.load(path: path)
    } catch {
        printError(error.description)
        throw ExitCode.failure
    }
}
