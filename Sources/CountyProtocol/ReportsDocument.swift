// The county API's JSON documents (docs/county-api.md, contract v1 and v2): the box's API writes
// them, the HTTP push sends them, `village-county pull` reads them. One definition for all three.
import Foundation
import WarningLogic

/// The answer to `GET /v1/reports` and the body of a push.
package struct ReportsDocument: Codable, Sendable, Equatable {
    /// Contract v1 (`/v1/`, and the HTTP push): kinds and payloads in the engine's own encoding.
    /// Served until the sunset stated in docs/county-api.md.
    package static let currentSchema = "village-gateway/reports/1"
    /// Contract v2 (`/v2/`): kinds from `ReportKind`, payloads from `WirePayload`, levels by name.
    package static let schemaVersion2 = "village-gateway/reports/2"

    package var schema: String
    package var station: String
    package var after: Int64
    package var reports: [WireReport]
    package var gaps: [WireGap]
    /// The highest sequence the box has stored.
    package var lastSequence: Int64
    /// Reports above the last one returned exist.
    package var more: Bool

    package enum CodingKeys: String, CodingKey {
        case schema, station, after, reports, gaps, more
        case lastSequence = "last_sequence"
    }

    package init(schema: String, station: String, after: Int64, reports: [WireReport], gaps: [WireGap], lastSequence: Int64, more: Bool) {
        self.schema = schema
        self.station = station
        self.after = after
        self.reports = reports
        self.gaps = gaps
        self.lastSequence = lastSequence
        self.more = more
    }

    package static func encoder() -> JSONEncoder {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return encoder
    }
}

/// One report on the wire.
package struct WireReport: Codable, Sendable, Equatable {
    package var sequence: Int64
    /// Station-local time with its offset, e.g. "2026-07-14T03:12:00+08:00".
    package var time: String
    /// The same instant as Unix milliseconds, for tools that would rather not parse dates.
    package var timeMilliseconds: Int64
    package var kind: String
    /// "alarm", "event" or "routine".
    package var priority: String
    package var exercise: Bool
    /// The report's own JSON object, as stored.
    package var payload: JSONValue
    /// Only on a report the box could not read back from its store (docs/county-api.md,
    /// "Damaged reports"): `true`, with the reason; absent on every sound report.
    package var damaged: Bool? = nil
    package var reason: String? = nil

    /// The kind a damaged report is served as.
    package static let damagedKind = "damaged"
    /// How much of a damaged row's stored payload goes to the county, to help whoever repairs it.
    package static let damagedPayloadCharactersMax = 256

    package enum CodingKeys: String, CodingKey {
        case sequence, time, kind, priority, exercise, payload, damaged, reason
        case timeMilliseconds = "time_ms"
    }

    package init(sequence: Int64, time: String, timeMilliseconds: Int64, kind: String, priority: String, exercise: Bool, payload: JSONValue) {
        self.sequence = sequence
        self.time = time
        self.timeMilliseconds = timeMilliseconds
        self.kind = kind
        self.priority = priority
        self.exercise = exercise
        self.payload = payload
    }

    /// The largest payload a box sends. It stores at most 16 KiB in its own form
    /// (`OutboxLimits.payloadBytesMax`); contract v2's form of the same report has longer names
    /// but never twice the text.
    package static let payloadBytesMax = 32 * 1024

    /// The priorities a report may have, most urgent first (the box's `OutboxPriority`).
    package static let priorities = ["alarm", "event", "routine"]

    /// The payload as JSON text with sorted keys, so the same report received twice compares
    /// equal byte for byte.
    package func payloadText() -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        // A JSONValue is strings, numbers, booleans, arrays and objects: encoding it cannot fail.
        return String(decoding: (try? encoder.encode(payload)) ?? Data("null".utf8), as: UTF8.self)
    }
}

/// Reports the box thinned, on the wire.
package struct WireGap: Codable, Sendable, Equatable {
    package var from: Int64
    package var through: Int64
    package var count: Int64
    package var reason: String
    package var recordedAt: String

    package enum CodingKeys: String, CodingKey {
        case from, through, count, reason
        case recordedAt = "recorded_at"
    }

    package init(from: Int64, through: Int64, count: Int64, reason: String, recordedAt: String) {
        self.from = from
        self.through = through
        self.count = count
        self.reason = reason
        self.recordedAt = recordedAt
    }
}

/// `POST /v1/reports/ack` body and answer.
package struct AcknowledgeRequest: Codable, Sendable, Equatable {
    package var through: Int64

    package init(through: Int64) {
        self.through = through
    }
}

package struct AcknowledgeAnswer: Codable, Sendable, Equatable {
    package var acknowledged: Int
    package var through: Int64

    package init(acknowledged: Int, through: Int64) {
        self.acknowledged = acknowledged
        self.through = through
    }
}

/// The county's answer to a push: the sequences it has durably stored.
package struct PushAnswer: Codable, Sendable, Equatable {
    package var stored: [Int64]

    package init(stored: [Int64]) {
        self.stored = stored
    }
}

/// `POST /v1/warnings` body: a county warning, or its cancellation.
package struct CountyWarningRequest: Codable, Sendable, Equatable {
    package var id: String
    /// "blue", "yellow", "orange" or "red"; absent when cancelling.
    package var level: String?
    package var message: String?
    package var cancel: Bool?

    package init(id: String, level: String? = nil, message: String? = nil, cancel: Bool? = nil) {
        self.id = id
        self.level = level
        self.message = message
        self.cancel = cancel
    }
}

/// Every refusal the API gives, with a reason a county technician can act on.
package struct APIErrorAnswer: Codable, Sendable, Equatable {
    package var error: String
    package var reason: String

    package init(error: String, reason: String) {
        self.error = error
        self.reason = reason
    }
}

/// Any JSON value: report payloads travel as objects, whatever their kind's shape.
package enum JSONValue: Codable, Sendable, Equatable {
    case null
    case bool(Bool)
    case number(Double)
    case string(String)
    case array([JSONValue])
    case object([String: JSONValue])

    package init(from decoder: any Decoder) throws {
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

    package func encode(to encoder: any Encoder) throws {
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
    package init?(jsonObject value: Any) {
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

    /// JSON text of a tree as JSONSerialization takes it (strings, numbers, booleans, NSNull,
    /// arrays and string-keyed dictionaries of them, Swift's or Foundation's), keys in code-point
    /// order, slashes unescaped, numbers written as JSONSerialization writes them; nil for any
    /// other value. Not JSONSerialization's `.sortedKeys`: on Linux it compares keys as a locale
    /// collates them, through ICU, and the first report a box stores that way loads ICU's
    /// collation tables, which then stay resident for good (1.8 MiB of the box's 24, issue 13).
    package static func sortedText(_ value: Any) -> String? {
        guard let tree = JSONValue(jsonObject: value) else { return nil }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        guard let data = try? encoder.encode(tree) else { return nil }
        return String(decoding: data, as: UTF8.self)
    }

    /// Parses JSON text (an object, array or single value).
    package static func parse(_ data: Data) -> JSONValue? {
        guard let object = try? JSONSerialization.jsonObject(with: data, options: [.fragmentsAllowed]) else { return nil }
        return JSONValue(jsonObject: object)
    }
}

/// A reports document that does not follow docs/county-api.md, with the first thing wrong.
package struct ReportsDocumentProblem: Error, Equatable, CustomStringConvertible {
    package var description: String

    package init(description: String) {
        self.description = description
    }
}

extension ReportsDocument {
    /// Reads a document as `Decodable` would, field for field, without JSONDecoder's guessing.
    package static func decode(_ data: Data) throws(ReportsDocumentProblem) -> ReportsDocument {
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
        package let object: [String: Any]
        package let place: String

        package init(_ object: [String: Any], at place: String) {
            self.object = object
            self.place = place
        }

        package func value(_ key: String) throws(ReportsDocumentProblem) -> Any {
            guard let value = object[key] else { throw ReportsDocumentProblem(description: "\(place) has no \"\(key)\"") }
            return value
        }

        package func string(_ key: String) throws(ReportsDocumentProblem) -> String {
            guard let text = try value(key) as? String else { throw ReportsDocumentProblem(description: "\(place) \"\(key)\" is not a string") }
            return text
        }

        package func integer(_ key: String) throws(ReportsDocumentProblem) -> Int64 {
            guard case .number(let number)? = JSONValue(jsonObject: try value(key)), let integer = Int64(exactly: number) else {
                throw ReportsDocumentProblem(description: "\(place) \"\(key)\" is not a whole number")
            }
            return integer
        }

        package func bool(_ key: String) throws(ReportsDocumentProblem) -> Bool {
            guard case .bool(let flag)? = JSONValue(jsonObject: try value(key)) else {
                throw ReportsDocumentProblem(description: "\(place) \"\(key)\" is not true or false")
            }
            return flag
        }

        package func array(_ key: String) throws(ReportsDocumentProblem) -> [Any] {
            guard let array = try value(key) as? [Any] else { throw ReportsDocumentProblem(description: "\(place) \"\(key)\" is not an array") }
            return array
        }
    }
}
