// The county pull API (docs/county-api.md) on Hummingbird: reports in JSON, SL 651 and CAP,
// acknowledgements, status and county warnings; every request signed, bounded and answered in words.
import ConnectionGuard
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdCore
import Logging
import NIOCore
import ServiceLifecycle
import TimeSeam
import WarningLogic

/// What the API needs from the box; everything is injected so the tests can drive it.
struct CountyAPIEnvironment: Sendable {
    var configuration: EngineConfiguration
    var county: CountyConfiguration
    /// Read here; written only through `outboxWriter` (the outbox's one writer thread).
    var outbox: Outbox
    var outboxWriter: any OutboxWriting
    var verifier: RequestVerifier
    /// Where county warnings go (the engine owner's queue).
    var events: any EventSink
    /// The box's clock (scenario time under --board sim): stamps county warnings.
    var boxClock: any GatewayClock
    /// Real Unix time in milliseconds: request timestamps are checked against it.
    var wallClockMilliseconds: @Sendable () -> Int64
    /// The daemon's status for GET /v1/status; nil before the first decision.
    var status: @Sendable () -> DaemonStatus?
    var logger: Logger
}

/// The routes and their answers. `router()` is what the server (and HummingbirdTesting) runs.
struct CountyAPI: Sendable {
    /// A request body larger than this is refused (413) before it is read further: the largest
    /// legitimate body is a warning with a 500-character message, well under 4 KiB.
    static let requestBodyBytesMax = 16 * 1024
    /// Reports per page (docs: default 500 and v1's maximum).
    static let reportsPerPageMax = 500
    /// v2 lets a county ask for larger pages: fewer round trips and commits for a long backlog.
    /// 2 000 reports of at most 16 KiB of payload each stay within the puller's answer limit.
    static let reportsPerPageMaxV2 = 2_000
    /// County warning ids: short, printable, as they appear in logs and reports.
    static let warningIdCharactersMax = 64
    static let lastSequenceHeader = HTTPField.Name("X-VG-Last-Sequence")!
    /// `Accept` is read this far: longer is no media type a county client sends.
    static let acceptCharactersMax = 1_024
    /// Text from the request quoted back in a refusal is cut to this, with control characters
    /// shown as "?", so a refusal never carries a stranger's megabyte or terminal escapes.
    static let quotedCharactersMax = 64

    static func quoted(_ text: some StringProtocol) -> String {
        let scalars = text.unicodeScalars.prefix(quotedCharactersMax).map { $0.properties.generalCategory == .control ? "?" : Character($0) }
        return String(scalars) + (text.unicodeScalars.count > quotedCharactersMax ? "…" : "")
    }

    let environment: CountyAPIEnvironment

    func router() -> Router<BasicRequestContext> {
        let router = Router()
        // v2 differs from v1 only in the JSON reports page (kinds, payloads); the rest is the same.
        for contract in Contract.allCases {
            let prefix = "/\(contract.rawValue)"
            router.get("\(prefix)/reports") { request, _ in await self.signed(request) { _ in try self.reports(request, contract: contract) } }
            router.post("\(prefix)/reports/ack") { request, _ in await self.signed(request) { body in try await self.acknowledge(body) } }
            router.get("\(prefix)/status") { request, _ in await self.signed(request) { _ in try self.status() } }
            router.post("\(prefix)/warnings") { request, _ in await self.signed(request) { body in try await self.warning(body) } }
        }
        return router
    }

    // MARK: Signing, sizes and refusals

    /// A refusal with a status and a reason, answered as `APIErrorAnswer`.
    struct Refusal: Error {
        var status: HTTPResponse.Status
        var error: String
        var reason: String

        static func badRequest(_ reason: String) -> Refusal { Refusal(status: .badRequest, error: "bad request", reason: reason) }
    }

    /// An answer before it is signed: the body is kept as bytes so its signature can cover it.
    struct Answer {
        var status: HTTPResponse.Status
        var headers: HTTPFields
        var body: [UInt8]
    }

    /// Reads the body (bounded), verifies the signature over it, then runs `handler`. A refused
    /// request reaches no handler, so it changes nothing. Every answer to a request with a
    /// well-formed nonce is signed (`X-VG-Response-Signature`), refusals included, so the county
    /// can tell the box's answers from anything else on the path.
    private func signed(_ request: Request, _ handler: ([UInt8]) async throws -> Answer) async -> Response {
        var request = request
        let headers = request.headers
        let nonces = HTTPField.Name(RequestSignature.nonceHeader).map { headers[values: $0] } ?? []
        let nonce = nonces.count == 1 && RequestSignature.isWellFormedNonce(nonces[0]) ? nonces[0] : nil
        let body: [UInt8]
        do {
            body = Array(buffer: try await request.collectBody(upTo: Self.requestBodyBytesMax))
        } catch {
            return sign(Self.refuse(Refusal(
                status: .contentTooLarge, error: "request too large",
                reason: "the body is over \(Self.requestBodyBytesMax) bytes, the most this API accepts")), nonce: nonce)
        }
        let refusal = environment.verifier.verify(
            method: request.method.rawValue, pathAndQuery: request.head.path ?? request.uri.description,
            headerValues: { name in HTTPField.Name(name).map { headers[values: $0] } ?? [] }, body: body,
            nowMilliseconds: environment.wallClockMilliseconds())
        if let refusal {
            environment.logger.warning("county API: refused \(request.method.rawValue) \(request.uri.path): \(refusal.reason)")
            if let seconds = refusal.retryAfterSeconds {
                var answer = Self.refuse(Refusal(status: .tooManyRequests, error: "too many requests", reason: refusal.reason))
                answer.headers[.retryAfter] = String(seconds)
                return sign(answer, nonce: nonce)
            }
            return sign(Self.refuse(Refusal(status: .unauthorized, error: "unauthorized", reason: refusal.reason)), nonce: nonce)
        }
        do {
            return sign(try await handler(body), nonce: nonce)
        } catch let refusal as Refusal {
            return sign(Self.refuse(refusal), nonce: nonce)
        } catch let error as OutboxError {
            environment.logger.error("county API: \(error.description)")
            return sign(Self.refuse(Refusal(status: .serviceUnavailable, error: "outbox unavailable", reason: error.description)), nonce: nonce)
        } catch {
            environment.logger.error("county API: \(error)")
            return sign(Self.refuse(Refusal(status: .internalServerError, error: "internal error", reason: "\(error)")), nonce: nonce)
        }
    }

    /// The response, with the answer's signature when the request had a nonce to tie it to.
    private func sign(_ answer: Answer, nonce: String?) -> Response {
        var headers = answer.headers
        if let nonce, let name = HTTPField.Name(RequestSignature.responseSignatureHeader) {
            headers[name] = environment.verifier.responseSignature(nonce: nonce, status: Int(answer.status.code), body: answer.body)
        }
        return Response(status: answer.status, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: answer.body)))
    }

    static func refuse(_ refusal: Refusal) -> Answer {
        json(APIErrorAnswer(error: refusal.error, reason: refusal.reason), status: refusal.status)
    }

    static func json(_ value: some Encodable, status: HTTPResponse.Status = .ok) -> Answer {
        // Our documents are plain structs of strings and numbers; encoding them cannot fail.
        let data = (try? ReportsDocument.encoder().encode(value)) ?? Data(#"{"error":"internal error","reason":"encoding failed"}"#.utf8)
        return Answer(status: status, headers: [.contentType: "application/json"], body: Array(data))
    }

    // MARK: GET /v1/reports

    enum Format: String, CaseIterable {
        case json, sl651, cap
    }

    /// The contract versions served, by path prefix (docs/county-api.md says until when v1 is).
    enum Contract: String, CaseIterable, Sendable {
        case v1, v2
    }

    func reports(_ request: Request, contract: Contract = .v1) throws -> Answer {
        let query = request.uri.queryParameters
        for (name, _) in query where !["after", "limit", "format"].contains(String(name)) {
            throw Refusal.badRequest("unknown query parameter \"\(Self.quoted(name))\"; allowed: after, limit, format")
        }
        for name in ["after", "limit", "format"] where query[values: name[...]].count > 1 {
            throw Refusal.badRequest("\(name) is given \(query[values: name[...]].count) times; give it once")
        }
        var after: Int64 = 0
        if let text = query["after"] {
            guard let value = OutsideNumber.decimal(text, in: 0...OutsideLimits.sequenceMax) else {
                throw Refusal.badRequest("after=\(Self.quoted(text)): must be a sequence number, digits only, 0 to \(OutsideLimits.sequenceMax) (0 for everything)")
            }
            after = value
        }
        var limit = Self.reportsPerPageMax
        let limitMax = contract == .v1 ? Self.reportsPerPageMax : Self.reportsPerPageMaxV2
        if let text = query["limit"] {
            guard let value = OutsideNumber.decimal(text, in: 1...Int64(limitMax)) else {
                throw Refusal.badRequest("limit=\(Self.quoted(text)): must be 1 to \(limitMax)")
            }
            limit = Int(value)
        }
        let format = try Self.format(query: query["format"].map(String.init), accept: request.headers[values: .accept].joined(separator: ","))
        let outbox = environment.outbox
        let pull = try outbox.reports(after: after, limit: limit)
        let last = try outbox.lastSequence()
        let station = environment.configuration.station
        let rangeEnd = pull.reports.count == limit ? (pull.reports.last?.sequence ?? after) : last
        switch format {
        case .json:
            let page = Self.page(station: station, after: after, pull: pull, lastSequence: last, contract: contract)
            var headers: HTTPFields = [.contentType: "application/json", Self.lastSequenceHeader: String(rangeEnd)]
            // The JSON page reads no payload: only the rows the outbox could not read back are named.
            headers.append(contentsOf: DamagedReports.headerFields(pull.reports.compactMap(DamagedReports.Row.init)))
            return Answer(status: .ok, headers: headers, body: page)
        case .sl651:
            let (lines, damaged) = try sl651Frames(pull.reports)
            let text = lines.map { $0 + "\n" }.joined()
            var headers: HTTPFields = [.contentType: "text/plain; charset=utf-8", Self.lastSequenceHeader: String(rangeEnd)]
            headers.append(contentsOf: DamagedReports.headerFields(damaged))
            return Answer(status: .ok, headers: headers, body: Array(text.utf8))
        case .cap:
            let (alerts, damaged) = try capAlerts(pull.reports)
            guard !alerts.isEmpty else {
                // A multipart body needs at least one part: no alert in the range is 204.
                return Answer(status: .noContent, headers: [Self.lastSequenceHeader: String(rangeEnd)], body: [])
            }
            let boundary = "vg-cap-" + UUID().uuidString.lowercased()
            var text = ""
            for alert in alerts {
                text += "--\(boundary)\r\nContent-Type: application/cap+xml; charset=utf-8\r\n\r\n\(alert)\r\n"
            }
            text += "--\(boundary)--\r\n"
            var headers: HTTPFields = [.contentType: "multipart/mixed; boundary=\(boundary)", Self.lastSequenceHeader: String(rangeEnd)]
            headers.append(contentsOf: DamagedReports.headerFields(damaged))
            return Answer(status: .ok, headers: headers, body: Array(text.utf8))
        }
    }

    /// The JSON page, each payload's stored text spliced in (v1: the box's form; v2: the form made
    /// at append, or made now for a report stored before the outbox kept it). A damaged row is
    /// served as what it is (kind `damaged`, with the reason), so the county's pull goes past it.
    /// `more` is the push's own (it sends by priority); a pull's follows from the sequences.
    static func page(station: StationIdentity, after: Int64, pull: OutboxPull, lastSequence: Int64, contract: Contract, more: Bool? = nil) -> [UInt8] {
        var rows: [ReportsPage.Row] = []
        rows.reserveCapacity(pull.reports.count)
        for stored in pull.reports {
            let report = stored.report
            if let damage = stored.damage {
                rows.append(damagedRow(stored, reason: damage, station: station))
                continue
            }
            let kind: String
            let payload: String
            switch contract {
            case .v1:
                kind = report.kind
                payload = report.payload
            case .v2:
                kind = ReportKind.wireName(boxName: report.kind)
                if let wire = stored.wirePayload {
                    payload = wire
                } else {
                    do {
                        payload = try WirePayload.make(boxKind: report.kind, boxPayload: report.payload)
                    } catch {
                        // Checked when stored: failing now means the row was damaged since.
                        rows.append(damagedRow(stored, reason: "stored row damaged: \(error.description)", station: station))
                        continue
                    }
                }
            }
            rows.append(ReportsPage.Row(
                sequence: stored.sequence, time: ISO8601.format(report.time, utcOffsetMinutes: station.utcOffsetMinutes),
                timeMilliseconds: report.time.millisecondsSinceUnixEpoch, kind: kind, priority: report.priority.description,
                exercise: report.exercise, payload: payload))
        }
        return ReportsPage.write(
            schema: contract == .v1 ? ReportsDocument.currentSchema : ReportsDocument.schemaVersion2, station: station.id, after: after,
            rows: rows, gaps: pull.gaps.map { WireGap($0, utcOffsetMinutes: station.utcOffsetMinutes) }, lastSequence: lastSequence,
            more: more ?? ((rows.last?.sequence ?? after) < lastSequence))
    }

    /// A damaged row on the wire, the same in v1 and v2 (`WireReport.damaged`).
    private static func damagedRow(_ stored: StoredOutboxReport, reason: String, station: StationIdentity) -> ReportsPage.Row {
        let wire = WireReport.damaged(stored, reason: reason, utcOffsetMinutes: station.utcOffsetMinutes)
        var row = ReportsPage.Row(
            sequence: wire.sequence, time: wire.time, timeMilliseconds: wire.timeMilliseconds, kind: wire.kind, priority: wire.priority,
            exercise: wire.exercise, payload: wire.payloadText())
        row.damagedReason = reason
        return row
    }

    /// `?format=` wins over `Accept`; JSON when neither asks for another.
    static func format(query: String?, accept: String?) throws(Refusal) -> Format {
        if let query {
            guard let format = Format(rawValue: query) else {
                throw Refusal.badRequest("format=\(quoted(query)): must be json, sl651 or cap")
            }
            return format
        }
        // Each media range up to its first ";" (parameters and q-values are not weighed). A range
        // may be empty (`Accept: ;;;` or `,,`): it then names nothing, and JSON is the answer.
        let accepted = (accept ?? "").prefix(acceptCharactersMax).lowercased().split(separator: ",").map {
            ($0.split(separator: ";", maxSplits: 1, omittingEmptySubsequences: false).first ?? "").trimmingCharacters(in: .whitespaces)
        }
        for type in accepted {
            switch type {
            case "application/json": return .json
            case "text/plain": return .sl651
            case "application/cap+xml": return .cap
            default: continue
            }
        }
        return .json
    }

    /// The SL 651 frames of the reports that have a form, and the damaged rows among them: those
    /// the outbox could not read back, and those of a kind with a form whose content cannot be
    /// read (the format has no way to say so but the `X-VG-Damaged` header).
    private func sl651Frames(_ reports: [StoredOutboxReport]) throws -> (lines: [String], damaged: [DamagedReports.Row]) {
        let maker: SL651FrameMaker
        do {
            maker = try SL651FrameMaker(configuration: environment.configuration, county: environment.county, outbox: environment.outbox, logger: environment.logger)
        } catch {
            throw Refusal(status: .internalServerError, error: "internal error", reason: error.description)
        }
        let sendTime = try SL651ReportMapping.localTime(environment.boxClock.now(), utcOffsetMinutes: maker.utcOffsetMinutes, keepSeconds: true)
        var latest: ObservationSummary?
        var lines: [String] = []
        var damaged: [DamagedReports.Row] = []
        for stored in reports {
            // Only a kind with a form is read: the rest of the page costs no parse.
            let content = stored.damage == nil && SL651ReportMapping.hasFrame(kind: stored.report.kind) ? stored.content : nil
            if let reason = stored.damage ?? content?.damage {
                damaged.append(DamagedReports.Row(stored, reason: reason))
                continue
            }
            guard let content else { continue }
            let frame = maker.frame(
                for: stored, content: content, serialNumber: SL651FrameMaker.serialNumber(forSequence: stored.sequence), sendTime: sendTime,
                latestObservation: latest)
            if let summary = content.observationSummary { latest = summary }
            if let frame { lines.append(frame.map(SL651.hexByte).joined()) }
        }
        return (lines, damaged)
    }

    /// The CAP alerts of the reports, and the damaged rows, each of which is an alert of its own
    /// (`DamagedReports.capAlert`): those the outbox could not read back, and the engine's
    /// reports whose content cannot be read.
    private func capAlerts(_ reports: [StoredOutboxReport]) throws -> (alerts: [String], damaged: [DamagedReports.Row]) {
        let configuration = environment.configuration
        var alerts: [String] = []
        var damaged: [DamagedReports.Row] = []
        for stored in reports {
            // Only the engine's reports have a CAP form; summaries and the box's records are not read.
            guard stored.damage != nil || ReportKind(boxName: stored.report.kind)?.isEngineKind == true else { continue }
            let kind: Report.Kind
            switch stored.content {
            case .engine(let engineKind):
                kind = engineKind
            case .damaged(let reason):
                let row = DamagedReports.Row(stored, reason: reason)
                damaged.append(row)
                alerts.append(DamagedReports.capAlert(for: row, station: configuration.station).xml)
                continue
            case .observationSummary, .boxRecord:
                continue
            }
            let report = Report(time: stored.report.time, kind: kind, exercise: stored.report.exercise)
            var hazards: Set<CAPHazard> = []
            var instruction: String?
            if case .levelChanged(_, let to, let causes) = kind {
                hazards = CAPHazard.hazards(causes: causes, rules: configuration.rules, combinedRules: configuration.combinedRules)
                instruction = configuration.outputs[to]?.message
            }
            do {
                if let alert = try CAPAlertWriter.alert(
                    for: report, sequenceNumber: stored.sequence, station: configuration.station, hazards: hazards, instruction: instruction)
                {
                    alerts.append(alert.xml)
                }
            } catch {
                throw Refusal(status: .internalServerError, error: "internal error", reason: error.description)
            }
        }
        return (alerts, damaged)
    }

    // MARK: POST /v1/reports/ack

    func acknowledge(_ body: [UInt8]) async throws -> Answer {
        guard let request = try? JSONDecoder().decode(AcknowledgeRequest.self, from: Data(body)) else {
            throw Refusal.badRequest("the body must be {\"through\": SEQ} with SEQ the highest sequence the county has stored")
        }
        let last = try environment.outbox.lastSequence()
        guard request.through >= 0, request.through <= last else {
            throw Refusal.badRequest("through \(request.through) is beyond the last sequence \(last) (or negative); acknowledge only what you pulled")
        }
        let marked = try await environment.outboxWriter.acknowledge(through: request.through, at: environment.boxClock.now())
        return Self.json(AcknowledgeAnswer(acknowledged: marked, through: request.through))
    }

    // MARK: GET /v1/status

    func status() throws -> Answer {
        guard var status = environment.status() else {
            throw Refusal(status: .serviceUnavailable, error: "starting", reason: "the box has not made its first decision yet; ask again in a few seconds")
        }
        let backlog = try environment.outbox.backlog
        let last = try environment.outbox.lastSequence()
        status.backlog = StatusBacklog(backlog, lastSequence: last, utcOffsetMinutes: status.utcOffsetMinutes)
        return Self.json(status)
    }

    // MARK: POST /v1/warnings

    /// The answer to an accepted warning or cancellation: it is on the engine's queue.
    struct WarningAnswer: Codable, Equatable {
        var submitted: String
        var id: String
    }

    func warning(_ body: [UInt8]) async throws -> Answer {
        let event = try Self.warningEvent(body, at: environment.boxClock.now())
        await environment.events.submit(event)
        switch event.kind {
        case .countyCancel(let id): return Self.json(WarningAnswer(submitted: "cancel", id: id), status: .accepted)
        case .countyWarning(let id, _, _): return Self.json(WarningAnswer(submitted: "warning", id: id), status: .accepted)
        default: preconditionFailure("warningEvent makes only county events")
        }
    }

    /// Checks a warning body and makes its event; every refusal says what is accepted.
    static func warningEvent(_ body: [UInt8], at time: Timestamp) throws(Refusal) -> Event {
        let shape = #"{"id": "...", "level": "blue|yellow|orange|red", "message": "..."} or {"id": "...", "cancel": true}"#
        guard case .object(let fields)? = try? JSONDecoder().decode(JSONValue.self, from: Data(body)) else {
            throw .badRequest("the body must be a JSON object: \(shape)")
        }
        if let unknown = fields.keys.sorted().first(where: { !["id", "level", "message", "cancel"].contains($0) }) {
            throw .badRequest("unknown field \"\(unknown)\"; the body is \(shape)")
        }
        guard case .string(let id)? = fields["id"] else { throw .badRequest("\"id\" is missing or not text; the body is \(shape)") }
        guard !id.isEmpty, id.count <= warningIdCharactersMax, id.unicodeScalars.allSatisfy({ $0.value > 0x20 && $0.value != 0x7F }) else {
            throw .badRequest("\"id\" must be 1 to \(warningIdCharactersMax) characters without spaces or control characters")
        }
        var cancel = false
        if let value = fields["cancel"] {
            guard case .bool(let flag) = value else { throw .badRequest("\"cancel\" must be true or false") }
            cancel = flag
        }
        if cancel {
            guard fields["level"] == nil, fields["message"] == nil else {
                throw .badRequest("a cancellation has only \"id\" and \"cancel\": true; remove \"level\" and \"message\"")
            }
            return Event(time: time, kind: .countyCancel(id: id))
        }
        guard case .string(let levelName)? = fields["level"] else {
            throw .badRequest("\"level\" is missing or not text: one of blue, yellow, orange, red (to end a warning send \"cancel\": true)")
        }
        guard let level = WarningLevel(name: levelName), level != .none else {
            throw .badRequest("\"level\": \"\(levelName)\" must be blue, yellow, orange or red (to end a warning send \"cancel\": true)")
        }
        var message: String?
        if let value = fields["message"] {
            guard case .string(let text) = value else { throw .badRequest("\"message\" must be text") }
            guard text.count <= ConfigurationLimits.messageCharactersMax else {
                throw .badRequest("\"message\" has \(text.count) characters; at most \(ConfigurationLimits.messageCharactersMax)")
            }
            message = text.isEmpty ? nil : text
        }
        return Event(time: time, kind: .countyWarning(id: id, level: level, text: message))
    }
}

/// The outbox's backlog as `status` and GET /v1/status show it.
struct StatusBacklog: Codable, Sendable, Equatable {
    var undeliveredAlarms: Int64
    var undeliveredEvents: Int64
    var undeliveredRoutine: Int64
    var undelivered: Int64
    var delivered: Int64
    var storedBytes: Int64
    var oldestUndelivered: String?
    /// The same instant in milliseconds, so `status` can say how long it has waited.
    var oldestUndeliveredMilliseconds: Int64?
    var lastSequence: Int64
    /// Rows the box cannot read back (served as `damaged`, docs/county-api.md).
    var damaged: Int64

    init(_ backlog: OutboxBacklog, lastSequence: Int64, utcOffsetMinutes: Int) {
        undeliveredAlarms = backlog.undeliveredAlarms
        undeliveredEvents = backlog.undeliveredEvents
        undeliveredRoutine = backlog.undeliveredRoutine
        undelivered = backlog.undelivered
        delivered = backlog.delivered
        storedBytes = backlog.storedBytes
        oldestUndelivered = backlog.oldestUndeliveredTime.map { ISO8601.format($0, utcOffsetMinutes: utcOffsetMinutes) }
        oldestUndeliveredMilliseconds = backlog.oldestUndeliveredTime?.millisecondsSinceUnixEpoch
        self.lastSequence = lastSequence
        damaged = backlog.damaged
    }
}

/// Runs the API until cancelled; its failure is logged and never reaches the warning logic.
enum CountyAPIServer {
    static let portFileName = "api.port"
    /// Request heads: one header at most 8 KiB, all together 16 KiB, at most 64 of them. A signed
    /// county request has about ten short headers.
    static let headerFieldBytesMax = 8 * 1024
    static let headerListBytesMax = 16 * 1024
    static let headerFieldsMax = 64
    /// At shutdown a request in flight may finish within this; then it is cut. The daemon puts
    /// its outputs in their safe state only after every task has ended, so this stays short.
    static let shutdownGraceMillisecondsMax: Int64 = 500

    /// Serves on `host:port` (port 0: any free port); the bound port is written to
    /// `STATE_DIR/api.port` and logged, so tests and scripts can find it.
    /// `registry`: the tests pass their own to watch the open connections (its limits are used
    /// as given).
    static func run(
        _ api: CountyAPI, host: String, port: Int, stateDirectory: String, limits: APIConnectionLimits = .standard,
        registry given: APIConnectionRegistry? = nil
    ) async {
        let logger = api.environment.logger
        let descriptorLimit = ProcessDescriptors.limit()
        let fitted = limits.fitted(descriptorLimit: descriptorLimit, descriptorsOpen: ProcessDescriptors.open())
        if fitted.connectionsMax < limits.connectionsMax {
            logger.warning(
                "county API: at most \(fitted.connectionsMax) connections (not \(limits.connectionsMax)): the descriptor limit is \(descriptorLimit) and \(APIConnectionLimits.descriptorsReservedForBox) stay reserved for the box; raise LimitNOFILE= in the unit")
        }
        let registry = given ?? APIConnectionRegistry(limits: fitted)
        let server = HTTPServerBuilder.http1(configuration: HTTP1Channel.Configuration(
            additionalChannelHandlers: [APIConnectionGuard(registry: registry)], idleTimeout: nil,
            httpDecoderConfiguration: .init(
                maxHeaderFieldSize: headerFieldBytesMax, maxHeaderListSize: headerListBytesMax, maxHeaderFieldCount: headerFieldsMax)))
        let app = Application(
            router: api.router(),
            server: server,
            configuration: .init(address: .hostname(host, port: port), serverName: nil, backlog: fitted.backlog),
            onServerRunning: { channel in
                let bound = channel.localAddress?.port ?? port
                do {
                    try writeFileAtomically(path: "\(stateDirectory)/\(portFileName)", contents: "\(bound)\n")
                } catch {
                    logger.error("county API: cannot write \(stateDirectory)/\(portFileName): \(error)")
                }
                logger.notice("county API listening on \(formatHostAndPort(host, bound))")
            },
            logger: logger)
        // The caller's cancellation (SIGTERM) becomes a graceful shutdown: stop accepting, close
        // idle connections, let a request in flight finish, and cut the rest after a bound.
        // Cancelling the server outright drops connections still queued for it, which NIO traps on.
        var configuration = ServiceGroupConfiguration(services: [app], logger: logger)
        configuration.maximumGracefulShutdownDuration = .milliseconds(shutdownGraceMillisecondsMax)
        let group = ServiceGroup(configuration: configuration)
        let runner = Task { try await group.run() }
        let result = await withTaskCancellationHandler {
            await runner.result
        } onCancel: {
            Task { await group.triggerGracefulShutdown() }
        }
        switch result {
        case .success, .failure(is CancellationError): break
        case .failure(let error):
            logger.critical("county API stopped: \(error); the county cannot pull until the daemon restarts. Warnings continue.")
        }
    }
}
