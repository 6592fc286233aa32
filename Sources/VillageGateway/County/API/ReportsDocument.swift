// The county API's JSON documents (docs/county-api.md, schema version 1): the box's API writes
// them, the HTTP push sends them, `county pull` reads them. One definition for all three.
import Foundation
import WarningLogic

/// The answer to `GET /v1/reports` and the body of a push.
struct ReportsDocument: Codable, Sendable, Equatable {
    static let currentSchema = "village-gateway/reports/1"

    var schema: String
    var station: String
    var after: Int64
    var reports: [WireReport]
    var gaps: [WireGap]
    /// The highest sequence the box has stored.
    var lastSequence: Int64
    /// Reports above the last one returned exist.
    var more: Bool

    enum CodingKeys: String, CodingKey {
        case schema, station, after, reports, gaps, more
        case lastSequence = "last_sequence"
    }

    init(schema: String, station: String, after: Int64, reports: [WireReport], gaps: [WireGap], lastSequence: Int64, more: Bool) {
        self.schema = schema
        self.station = station
        self.after = after
        self.reports = reports
        self.gaps = gaps
        self.lastSequence = lastSequence
        self.more = more
    }

    init(station: String, after: Int64, pull: OutboxPull, lastSequence: Int64, utcOffsetMinutes: Int) throws(OutboxError) {
        self.schema = Self.currentSchema
        self.station = station
        self.after = after
        var reports: [WireReport] = []
        reports.reserveCapacity(pull.reports.count)
        for stored in pull.reports { reports.append(try WireReport(stored, utcOffsetMinutes: utcOffsetMinutes)) }
        self.reports = reports
        self.gaps = pull.gaps.map { WireGap($0, utcOffsetMinutes: utcOffsetMinutes) }
        self.lastSequence = lastSequence
        self.more = (reports.last?.sequence ?? after) < lastSequence
    }

    static func encoder() -> JSONEncoder {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return encoder
    }
}

/// One report on the wire.
struct WireReport: Codable, Sendable, Equatable {
    var sequence: Int64
    /// Station-local time with its offset, e.g. "2026-07-14T03:12:00+08:00".
    var time: String
    /// The same instant as Unix milliseconds, for tools that would rather not parse dates.
    var timeMilliseconds: Int64
    var kind: String
    /// "alarm", "event" or "routine".
    var priority: String
    var exercise: Bool
    /// The report's own JSON object, as stored.
    var payload: JSONValue
    /// Only on a report the box could not read back from its store (docs/county-api.md,
    /// "Damaged reports"): `true`, with the reason; absent on every sound report.
    var damaged: Bool? = nil
    var reason: String? = nil

    /// The kind a damaged report is served as.
    static let damagedKind = "damaged"
    /// How much of a damaged row's stored payload goes to the county, to help whoever repairs it.
    static let damagedPayloadCharactersMax = 256

    enum CodingKeys: String, CodingKey {
        case sequence, time, kind, priority, exercise, payload, damaged, reason
        case timeMilliseconds = "time_ms"
    }

    init(sequence: Int64, time: String, timeMilliseconds: Int64, kind: String, priority: String, exercise: Bool, payload: JSONValue) {
        self.sequence = sequence
        self.time = time
        self.timeMilliseconds = timeMilliseconds
        self.kind = kind
        self.priority = priority
        self.exercise = exercise
        self.payload = payload
    }

    init(_ stored: StoredOutboxReport, utcOffsetMinutes: Int) throws(OutboxError) {
        sequence = stored.sequence
        time = ISO8601.format(stored.report.time, utcOffsetMinutes: utcOffsetMinutes)
        timeMilliseconds = stored.report.time.millisecondsSinceUnixEpoch
        kind = stored.report.kind
        priority = stored.report.priority.description
        exercise = stored.report.exercise
        // The outbox checks every row it reads back; a damaged one is served as what it is, so
        // the county hears of it and its pull goes on past it (never a 503 for every pull).
        if let damage = stored.damage {
            self = Self.damaged(stored, reason: damage, utcOffsetMinutes: utcOffsetMinutes)
            return
        }
        guard let value = JSONValue.parse(Data(stored.report.payload.utf8)) else {
            self = Self.damaged(stored, reason: "stored row damaged: the payload is not JSON", utcOffsetMinutes: utcOffsetMinutes)
            return
        }
        payload = value
    }

    /// A damaged row on the wire: its sequence, `damaged`, the reason; kind `damaged` and
    /// priority `alarm` (someone must look), and in the payload what could still be read.
    static func damaged(_ stored: StoredOutboxReport, reason: String, utcOffsetMinutes: Int) -> WireReport {
        var readable: [String: JSONValue] = ["reason": .string(reason)]
        if !stored.report.kind.isEmpty { readable["stored_kind"] = .string(stored.report.kind) }
        if !stored.report.payload.isEmpty { readable["stored_payload"] = .string(String(stored.report.payload.prefix(damagedPayloadCharactersMax))) }
        var wire = WireReport(
            sequence: stored.sequence, time: ISO8601.format(stored.report.time, utcOffsetMinutes: utcOffsetMinutes),
            timeMilliseconds: stored.report.time.millisecondsSinceUnixEpoch, kind: damagedKind, priority: OutboxPriority.alarm.description,
            exercise: false, payload: .object(readable))
        wire.damaged = true
        wire.reason = reason
        return wire
    }

    /// Back to the outbox's form (the county side stores these).
    func outboxReport() -> OutboxReport? {
        guard let priority = OutboxPriority.allCases.first(where: { $0.description == self.priority }) else { return nil }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        guard let data = try? encoder.encode(payload) else { return nil }
        return OutboxReport(
            time: Timestamp(millisecondsSinceUnixEpoch: timeMilliseconds), kind: kind, priority: priority, exercise: exercise,
            payload: String(decoding: data, as: UTF8.self))
    }
}

/// Reports the box thinned, on the wire.
struct WireGap: Codable, Sendable, Equatable {
    var from: Int64
    var through: Int64
    var count: Int64
    var reason: String
    var recordedAt: String

    enum CodingKeys: String, CodingKey {
        case from, through, count, reason
        case recordedAt = "recorded_at"
    }

    init(from: Int64, through: Int64, count: Int64, reason: String, recordedAt: String) {
        self.from = from
        self.through = through
        self.count = count
        self.reason = reason
        self.recordedAt = recordedAt
    }

    init(_ gap: OutboxGap, utcOffsetMinutes: Int) {
        from = gap.fromSequence
        through = gap.throughSequence
        count = gap.count
        reason = gap.reason
        recordedAt = ISO8601.format(gap.recordedAt, utcOffsetMinutes: utcOffsetMinutes)
    }
}

/// `POST /v1/reports/ack` body and answer.
struct AcknowledgeRequest: Codable, Sendable, Equatable {
    var through: Int64
}

struct AcknowledgeAnswer: Codable, Sendable, Equatable {
    var acknowledged: Int
    var through: Int64
}

/// The county's answer to a push: the sequences it has durably stored.
struct PushAnswer: Codable, Sendable, Equatable {
    var stored: [Int64]
}

/// `POST /v1/warnings` body: a county warning, or its cancellation.
struct CountyWarningRequest: Codable, Sendable, Equatable {
    var id: String
    /// "blue", "yellow", "orange" or "red"; absent when cancelling.
    var level: String?
    var message: String?
    var cancel: Bool?
}

/// Every refusal the API gives, with a reason a county technician can act on.
struct APIErrorAnswer: Codable, Sendable, Equatable {
    var error: String
    var reason: String
}

/// Any JSON value: report payloads travel as objects, whatever their kind's shape.
enum JSONValue: Codable, Sendable, Equatable {
    case null
    case bool(Bool)
    case number(Double)
    case string(String)
    case array([JSONValue])
    case object([String: JSONValue])

    init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if container.decodeNil() {
            self = .null
        } else if let value = try? container.decode(Bool.self) {
            self = .bool(value)
        } else if let value = try? container.decode(Double.self) {
            self = .number(value)
        } else if let value = try? container.decode(String.self) {
            self = .string(value)
        } else if let value = try? container.decode([JSONValue].self) {
            self = .array(value)
        } else {
            self = .object(try container.decode([String: JSONValue].self))
        }
    }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        switch self {
        case .null: try container.encodeNil()
        case .bool(let value): try container.encode(value)
        case .number(let value): try container.encode(value)
        case .string(let value): try container.encode(value)
        case .array(let value): try container.encode(value)
        case .object(let value): try container.encode(value)
        }
    }
}

// MARK: The fast path

// JSONDecoder reads a `JSONValue` by guessing its type, and every wrong guess throws: on a page
// of 500 reports that was most of the county pull's time (54 % of its CPU). The paths that
// handle whole pages go through JSONSerialization instead, which says what each value is.

extension JSONValue {
    /// From what JSONSerialization returns; nil for anything it never returns.
    init?(jsonObject value: Any) {
        switch value {
        case is NSNull: self = .null
        case let text as String: self = .string(text)
        case let number as NSNumber:
            // JSONSerialization gives true and false as NSNumbers of Objective-C type "c" (char),
            // and never any other number as a char.
            if String(cString: number.objCType) == "c" { self = .bool(number.boolValue) } else { self = .number(number.doubleValue) }
        case let array as [Any]:
            var values: [JSONValue] = []
            values.reserveCapacity(array.count)
            for element in array {
                guard let converted = JSONValue(jsonObject: element) else { return nil }
                values.append(converted)
            }
            self = .array(values)
        case let object as [String: Any]:
            var values: [String: JSONValue] = [:]
            values.reserveCapacity(object.count)
            for (key, element) in object {
                guard let converted = JSONValue(jsonObject: element) else { return nil }
                values[key] = converted
            }
            self = .object(values)
        default: return nil
        }
    }

    /// Parses JSON text (an object, array or single value).
    static func parse(_ data: Data) -> JSONValue? {
        guard let object = try? JSONSerialization.jsonObject(with: data, options: [.fragmentsAllowed]) else { return nil }
        return JSONValue(jsonObject: object)
    }
}

/// A reports document that does not follow docs/county-api.md, with the first thing wrong.
struct ReportsDocumentProblem: Error, Equatable, CustomStringConvertible {
    var description: String
}

extension ReportsDocument {
    /// Reads a document as `Decodable` would, field for field, without JSONDecoder's guessing.
    static func decode(_ data: Data) throws(ReportsDocumentProblem) -> ReportsDocument {
        guard let top = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else {
            throw ReportsDocumentProblem(description: "the body is not a JSON object")
        }
        let document = Fields(top, at: "the document")
        var reports: [WireReport] = []
        for (index, element) in try document.array("reports").enumerated() {
            guard let object = element as? [String: Any] else { throw ReportsDocumentProblem(description: "reports[\(index)] is not an object") }
            let fields = Fields(object, at: "reports[\(index)]")
            guard let payload = object["payload"].flatMap(JSONValue.init(jsonObject:)) else {
                throw ReportsDocumentProblem(description: "reports[\(index)] has no JSON payload")
            }
            var report = WireReport(
                sequence: try fields.integer("sequence"), time: try fields.string("time"), timeMilliseconds: try fields.integer("time_ms"),
                kind: try fields.string("kind"), priority: try fields.string("priority"), exercise: try fields.bool("exercise"), payload: payload)
            if object["damaged"] != nil {
                report.damaged = try fields.bool("damaged")
                report.reason = try fields.string("reason")
            }
            reports.append(report)
        }
        var gaps: [WireGap] = []
        for (index, element) in try document.array("gaps").enumerated() {
            guard let object = element as? [String: Any] else { throw ReportsDocumentProblem(description: "gaps[\(index)] is not an object") }
            let fields = Fields(object, at: "gaps[\(index)]")
            gaps.append(WireGap(
                from: try fields.integer("from"), through: try fields.integer("through"), count: try fields.integer("count"),
                reason: try fields.string("reason"), recordedAt: try fields.string("recorded_at")))
        }
        return ReportsDocument(
            schema: try document.string("schema"), station: try document.string("station"), after: try document.integer("after"),
            reports: reports, gaps: gaps, lastSequence: try document.integer("last_sequence"), more: try document.bool("more"))
    }

    private struct Fields {
        let object: [String: Any]
        let place: String

        init(_ object: [String: Any], at place: String) {
            self.object = object
            self.place = place
        }

        func value(_ key: String) throws(ReportsDocumentProblem) -> Any {
            guard let value = object[key] else { throw ReportsDocumentProblem(description: "\(place) has no \"\(key)\"") }
            return value
        }

        func string(_ key: String) throws(ReportsDocumentProblem) -> String {
            guard let text = try value(key) as? String else { throw ReportsDocumentProblem(description: "\(place) \"\(key)\" is not a string") }
            return text
        }

        func integer(_ key: String) throws(ReportsDocumentProblem) -> Int64 {
            guard case .number(let number)? = JSONValue(jsonObject: try value(key)), let integer = Int64(exactly: number) else {
                throw ReportsDocumentProblem(description: "\(place) \"\(key)\" is not a whole number")
            }
            return integer
        }

        func bool(_ key: String) throws(ReportsDocumentProblem) -> Bool {
            guard case .bool(let flag)? = JSONValue(jsonObject: try value(key)) else {
                throw ReportsDocumentProblem(description: "\(place) \"\(key)\" is not true or false")
            }
            return flag
        }

        func array(_ key: String) throws(ReportsDocumentProblem) -> [Any] {
            guard let array = try value(key) as? [Any] else { throw ReportsDocumentProblem(description: "\(place) \"\(key)\" is not an array") }
            return array
        }
    }
}
