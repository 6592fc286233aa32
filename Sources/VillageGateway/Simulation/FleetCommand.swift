// A fleet of boxes in one process, for Benchmarks/Fleet: N stations, each with its own key, its own
// outbox holding a backlog, and the box's real county API (`CountyAPI`, the same router the daemon
// serves), behind one port. Requests go to the station their signed X-VG-Station header names.
// Hidden: a tool for the fleet benchmark, like `fuzz`; it never runs on a board.
import ArgumentParser
import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import TimeSeam
import WarningLogic

struct FleetCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "fleet",
        abstract: "Serve a simulated fleet of boxes for Benchmarks/Fleet (not for a board).",
        discussion: """
            Writes DIR/stations.toml and DIR/keys/ for `village-county pull`, fills one outbox per \
            station with REPORTS reports (an hour of a storm: observation summaries every minute, \
            level changes), serves every station's county API on 127.0.0.1 (the port in \
            DIR/fleet.port once it is ready) and runs until stopped (SIGTERM or SIGINT).
            """,
        shouldDisplay: false)

    /// A province; past this the descriptors (three per SQLite outbox) run out first.
    static let stationsAllowed = 1...20_000
    static let reportsAllowed = 0...100_000

    @Option(help: ArgumentHelp("The configuration the stations share (their ids are numbered from 9000000000).", valueName: "file"))
    var config: String

    @Option(help: ArgumentHelp("The folder for the outboxes, keys and stations file (created).", valueName: "dir"))
    var directory: String

    @Option(help: ArgumentHelp("Stations in the fleet, \(stationsAllowed.lowerBound)-\(stationsAllowed.upperBound).", valueName: "n"))
    var stations: Int = 2_000

    @Option(help: ArgumentHelp("Reports in each station's backlog, \(reportsAllowed.lowerBound)-\(reportsAllowed.upperBound).", valueName: "n"))
    var reports: Int = 60

    func validate() throws {
        guard Self.stationsAllowed.contains(stations) else { throw ValidationError("--stations \(stations): allowed \(Self.stationsAllowed)") }
        guard Self.reportsAllowed.contains(reports) else { throw ValidationError("--reports \(reports): allowed \(Self.reportsAllowed)") }
    }

    func run() async throws {
        let gateway = try ConfigurationLoader.load(path: config)
        var logger = Logger(label: "fleet")
        logger.logLevel = .warning
        // Three descriptors an outbox (the file, its WAL and shared memory), and the connections.
        var descriptors = rlimit()
        if getrlimit(Int32(RLIMIT_NOFILE.rawValue), &descriptors) == 0, descriptors.rlim_cur < descriptors.rlim_max {
            descriptors.rlim_cur = descriptors.rlim_max
            _ = setrlimit(Int32(RLIMIT_NOFILE.rawValue), &descriptors)
        }
        try FileManager.default.createDirectory(atPath: "\(directory)/keys", withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: "\(directory)/outboxes", withIntermediateDirectories: true)
        // Measures how long the fill really took (a figure printed for the benchmark): the wall.
        let started = ContinuousClock.now
        var responders: [String: RouterResponder<BasicRequestContext>] = [:]
        var stationsFile = ""
        let now = SystemClock().now()
        for index in 0..<stations {
            let id = String(9_000_000_000 + index)
            var engine = gateway.engine
            engine.station.id = id
            engine.station.name = "村\(index)"
            let keyHex = (0..<32).map { _ in String(format: "%02x", UInt8.random(in: 0...255)) }.joined()
            let keyFile = "\(directory)/keys/\(id).hex"
            try (keyHex + "\n").write(toFile: keyFile, atomically: true, encoding: .utf8)
            let outbox = try Outbox(path: "\(directory)/outboxes/\(id).sqlite")
            try Self.fill(outbox, reports: reports, endingAt: now)
            let api = CountyAPI(environment: CountyAPIEnvironment(
                configuration: engine, county: gateway.county, outbox: outbox,
                outboxWriter: OutboxService(outbox: outbox, keepDeliveredMilliseconds: gateway.county.keepDeliveredMilliseconds, logger: logger),
                verifier: RequestVerifier(station: id, key: try SigningKey(hex: keyHex), clockSkewMillisecondsMax: 5 * 60_000),
                events: DiscardingEventSink(), boxClock: SystemClock(), wallClockMilliseconds: { SystemClock().now().millisecondsSinceUnixEpoch },
                status: { nil }, logger: logger))
            responders[id] = api.router().buildResponder()
            stationsFile += "[[station]]\nid = \"\(id)\"\nname = \"村\(index)\"\nurl = \"http://127.0.0.1:PORT\"\nkey_file = \"keys/\(id).hex\"\n\n"
        }
        let filled = ContinuousClock.now - started
        FileHandle.standardError.write(Data("fleet: \(stations) stations with \(reports) reports each ready in \(filled)\n".utf8))
        let directory = self.directory
        let stationsTemplate = stationsFile
        let app = Application(
            responder: FleetResponder(stations: responders),
            configuration: .init(address: .hostname("127.0.0.1", port: 0), serverName: nil, backlog: 4_096),
            onServerRunning: { channel in
                let port = channel.localAddress?.port ?? 0
                try? stationsTemplate.replacingOccurrences(of: "PORT", with: String(port))
                    .write(toFile: "\(directory)/stations.toml", atomically: true, encoding: .utf8)
                try? "\(port)\n".write(toFile: "\(directory)/fleet.port", atomically: true, encoding: .utf8)
            },
            logger: logger)
        try await app.runService()
    }

    /// An hour of one box in a storm: a summary a minute (its rain growing), and a level change
    /// every twentieth report, all in one transaction (the backlog is the input, not measured).
    static func fill(_ outbox: Outbox, reports count: Int, endingAt end: Timestamp) throws {
        var batch: [OutboxReport] = []
        batch.reserveCapacity(count)
        for index in 0..<count {
            let time = end.adding(milliseconds: -Int64(count - index) * 60_000)
            if index % 20 == 19 {
                batch.append(OutboxReport(Report(time: time, kind: .levelChanged(from: .blue, to: .yellow, causes: ["rain-1h"]), exercise: false)))
                continue
            }
            let rain = Double(index % 40) / 2
            let summary = ObservationSummary(
                observedAtMilliseconds: time.millisecondsSinceUnixEpoch, periodMilliseconds: 60_000, level: "blue", supplyVolts: 12.4,
                sensors: [
                    ObservedSensor(id: "rain1", kind: "rain_gauge", faulty: false, rainMillimetersPeriod: rain, rainMillimetersTotal: rain * 3,
                                   rainMillimeters1h: rain * 2, rainMillimeters6h: rain * 5, rainMillimetersToday: rain * 6),
                    ObservedSensor(id: "river1", kind: "water_level", faulty: false, waterLevelMeters: 10.25 + rain / 100),
                ])
            batch.append(ObservationSummariser.report(summary))
        }
        if !batch.isEmpty { _ = try outbox.appendBatch(batch) }
    }
}

/// Hands each request to the router of the station it is signed for; a request for no station
/// of the fleet is answered 404 with the reason, as a wrong address would be.
struct FleetResponder: HTTPResponder {
    let stations: [String: RouterResponder<BasicRequestContext>]

    func respond(to request: Request, context: BasicRequestContext) async throws -> Response {
        let id = HTTPField.Name(RequestSignature.stationHeader).flatMap { request.headers[$0] } ?? ""
        guard let responder = stations[id] else {
            return Response(
                status: .notFound, headers: [.contentType: "text/plain"],
                body: .init(byteBuffer: ByteBuffer(string: "no station \"\(CountyAPI.quoted(id))\" in this fleet\n")))
        }
        return try await responder.respond(to: request, context: context)
    }
}
