// Reads a reports page without building a JSON tree: the fields the county checks are read into
// their types, and each payload is checked as JSON and kept as the exact text the box sent (the
// text it checked and stored), so the county stores it without parsing it into a tree and
// writing it out again (that round trip was a quarter of the pull's time on the county side).

/// A reports page as received, payloads as text.
package struct ReceivedPage: Sendable, Equatable {
    package var schema: String
    package var station: String
    package var after: Int64
    package var reports: [ReceivedReport]
    package var gaps: [WireGap]
    package var lastSequence: Int64
    package var more: Bool

    package init(schema: String, station: String, after: Int64, reports: [ReceivedReport], gaps: [WireGap], lastSequence: Int64, more: Bool) {
        self.schema = schema
        self.station = station
        self.after = after
        self.reports = reports
        self.gaps = gaps
        self.lastSequence = lastSequence
        self.more = more
    }

    /// The same page from a decoded document (payloads written with sorted keys).
    package init(_ document: ReportsDocument) {
        self.init(
            schema: document.schema, station: document.station, after: document.after,
            reports: document.reports.map {
                ReceivedReport(
                    sequence: $0.sequence, time: $0.time, timeMilliseconds: $0.timeMilliseconds, kind: $0.kind, priority: $0.priority,
                    exercise: $0.exercise, payload: $0.payloadText())
            },
            gaps: document.gaps, lastSequence: document.lastSequence, more: document.more)
    }
}

package struct ReceivedReport: Sendable, Equatable {
    package var sequence: Int64
    package var time: String
    package var timeMilliseconds: Int64
    package var kind: String
    package var priority: String
    package var exercise: Bool
    /// A JSON object, exactly as it was in the page.
    package var payload: String

    package init(sequence: Int64, time: String, timeMilliseconds: Int64, kind: String, priority: String, exercise: Bool, payload: String) {
        self.sequence = sequence
        self.time = time
        self.timeMilliseconds = timeMilliseconds
        self.kind = kind
        self.priority = priority
        self.exercise = exercise
        self.payload = payload
    }
}

/// A strict JSON reader for the reports page (RFC 8259 grammar; unknown fields are skipped, as a
/// decoder would). Every problem is thrown as `ReportsDocumentProblem` with where it is.
package struct ReportsPageReader {
    /// Objects and arrays nested deeper than this are refused: a payload is a few levels deep,
    /// and the reader recurses once per level.
    package static let depthMax = 64

    private let bytes: [UInt8]
    private var index = 0

    private init(_ bytes: [UInt8]) { self.bytes = bytes }

    package static func read(_ bytes: [UInt8]) throws(ReportsDocumentProblem) -> ReceivedPage {
        var reader = ReportsPageReader(bytes)
        let page = try reader.document()
        reader.skipSpace()
        guard reader.index == bytes.count else { throw reader.problem("text after the document") }
        return page
    }

    // MARK: The page's structure

    private mutating func document() throws(ReportsDocumentProblem) -> ReceivedPage {
        var schema: String?, station: String?, after: Int64?, last: Int64?, more: Bool?
        var reports: [ReceivedReport]?, gaps: [WireGap]?
        try object("the document") { (reader: inout ReportsPageReader, key: String) throws(ReportsDocumentProblem) in
            switch key {
            case "schema": schema = try reader.string("the document \"schema\"")
            case "station": station = try reader.string("the document \"station\"")
            case "after": after = try reader.integer("the document \"after\"")
            case "last_sequence": last = try reader.integer("the document \"last_sequence\"")
            case "more": more = try reader.bool("the document \"more\"")
            case "reports": reports = try reader.reportList()
            case "gaps": gaps = try reader.gapList()
            default: try reader.skipValue(depth: 1)
            }
        }
        func need<T>(_ value: T?, _ key: String) throws(ReportsDocumentProblem) -> T {
            guard let value else { throw ReportsDocumentProblem(description: "the document has no \"\(key)\"") }
            return value
        }
        return ReceivedPage(
            schema: try need(schema, "schema"), station: try need(station, "station"), after: try need(after, "after"),
            reports: try need(reports, "reports"), gaps: try need(gaps, "gaps"), lastSequence: try need(last, "last_sequence"),
            more: try need(more, "more"))
    }

    private mutating func reportList() throws(ReportsDocumentProblem) -> [ReceivedReport] {
        var reports: [ReceivedReport] = []
        try array("the document \"reports\"") { (reader: inout ReportsPageReader, position: Int) throws(ReportsDocumentProblem) in
            // Made only for a problem's message: a page of 2,000 reports made 16,000 of them.
            var place: String { "reports[\(position)]" }
            var sequence: Int64?, time: String?, timeMilliseconds: Int64?, kind: String?, priority: String?, exercise: Bool?, payload: String?
            try reader.object(place) { (reader: inout ReportsPageReader, key: String) throws(ReportsDocumentProblem) in
                switch key {
                case "sequence": sequence = try reader.integer("\(place) \"sequence\"")
                case "time": time = try reader.string("\(place) \"time\"")
                case "time_ms": timeMilliseconds = try reader.integer("\(place) \"time_ms\"")
                case "kind": kind = try reader.string("\(place) \"kind\"")
                case "priority": priority = try reader.string("\(place) \"priority\"")
                case "exercise": exercise = try reader.bool("\(place) \"exercise\"")
                case "payload":
                    reader.skipSpace()
                    guard reader.peek == UInt8(ascii: "{") else { throw ReportsDocumentProblem(description: "\(place) has no JSON payload") }
                    let start = reader.index
                    try reader.skipValue(depth: 2)
                    payload = String(decoding: reader.bytes[start..<reader.index], as: UTF8.self)
                default: try reader.skipValue(depth: 2)
                }
            }
            func need<T>(_ value: T?, _ key: String) throws(ReportsDocumentProblem) -> T {
                guard let value else {
                    throw ReportsDocumentProblem(description: key == "payload" ? "\(place) has no JSON payload" : "\(place) has no \"\(key)\"")
                }
                return value
            }
            reports.append(ReceivedReport(
                sequence: try need(sequence, "sequence"), time: try need(time, "time"), timeMilliseconds: try need(timeMilliseconds, "time_ms"),
                kind: try need(kind, "kind"), priority: try need(priority, "priority"), exercise: try need(exercise, "exercise"),
                payload: try need(payload, "payload")))
        }
        return reports
    }

    private mutating func gapList() throws(ReportsDocumentProblem) -> [WireGap] {
        var gaps: [WireGap] = []
        try array("the document \"gaps\"") { (reader: inout ReportsPageReader, position: Int) throws(ReportsDocumentProblem) in
            var place: String { "gaps[\(position)]" }
            var from: Int64?, through: Int64?, count: Int64?, reason: String?, recordedAt: String?
            try reader.object(place) { (reader: inout ReportsPageReader, key: String) throws(ReportsDocumentProblem) in
                switch key {
                case "from": from = try reader.integer("\(place) \"from\"")
                case "through": through = try reader.integer("\(place) \"through\"")
                case "count": count = try reader.integer("\(place) \"count\"")
                case "reason": reason = try reader.string("\(place) \"reason\"")
                case "recorded_at": recordedAt = try reader.string("\(place) \"recorded_at\"")
                default: try reader.skipValue(depth: 2)
                }
            }
            guard let from, let through, let count, let reason, let recordedAt else {
                throw ReportsDocumentProblem(description: "\(place) needs from, through, count, reason and recorded_at")
            }
            gaps.append(WireGap(from: from, through: through, count: count, reason: reason, recordedAt: recordedAt))
        }
        return gaps
    }

    // MARK: JSON

    private var peek: UInt8? { index < bytes.count ? bytes[index] : nil }

    private func problem(_ what: String) -> ReportsDocumentProblem {
        ReportsDocumentProblem(description: "not JSON at byte \(index): \(what)")
    }

    private mutating func skipSpace() {
        while index < bytes.count, bytes[index] == 0x20 || bytes[index] == 0x0A || bytes[index] == 0x0D || bytes[index] == 0x09 { index += 1 }
    }

    private mutating func expect(_ byte: UInt8, _ what: String) throws(ReportsDocumentProblem) {
        skipSpace()
        guard peek == byte else { throw problem("expected \(what)") }
        index += 1
    }

    /// `{ "key": value, … }`, handing each key to `member`, which must read the value.
    private mutating func object(
        _ place: @autoclosure () -> String, _ member: (inout ReportsPageReader, String) throws(ReportsDocumentProblem) -> Void
    ) throws(ReportsDocumentProblem) {
        skipSpace()
        guard peek == UInt8(ascii: "{") else { throw ReportsDocumentProblem(description: "\(place()) is not an object") }
        index += 1
        skipSpace()
        if peek == UInt8(ascii: "}") {
            index += 1
            return
        }
        while true {
            let key = try string("a key in \(place())")
            try expect(UInt8(ascii: ":"), "':' after a key")
            try member(&self, key)
            skipSpace()
            guard let next = peek else { throw problem("the text ends inside \(place())") }
            index += 1
            if next == UInt8(ascii: "}") { return }
            guard next == UInt8(ascii: ",") else { throw problem("expected ',' or '}' in \(place())") }
        }
    }

    private mutating func array(
        _ place: @autoclosure () -> String, _ element: (inout ReportsPageReader, Int) throws(ReportsDocumentProblem) -> Void
    ) throws(ReportsDocumentProblem) {
        skipSpace()
        guard peek == UInt8(ascii: "[") else { throw ReportsDocumentProblem(description: "\(place()) is not an array") }
        index += 1
        skipSpace()
        if peek == UInt8(ascii: "]") {
            index += 1
            return
        }
        var position = 0
        while true {
            try element(&self, position)
            position += 1
            skipSpace()
            guard let next = peek else { throw problem("the text ends inside \(place())") }
            index += 1
            if next == UInt8(ascii: "]") { return }
            guard next == UInt8(ascii: ",") else { throw problem("expected ',' or ']' in \(place())") }
        }
    }

    private mutating func string(_ place: @autoclosure () -> String) throws(ReportsDocumentProblem) -> String {
        let (start, end, escaped) = try scanString(place())
        guard escaped else { return String(decoding: bytes[start..<end], as: UTF8.self) }
        return try Self.unescape(bytes[start..<end])
    }

    /// Checks a string and returns where its body is, without making it.
    private mutating func scanString(_ place: @autoclosure () -> String) throws(ReportsDocumentProblem) -> (start: Int, end: Int, escaped: Bool) {
        skipSpace()
        guard peek == UInt8(ascii: "\"") else { throw ReportsDocumentProblem(description: "\(place()) is not a string") }
        index += 1
        let start = index
        var escaped = false
        while true {
            guard index < bytes.count else { throw problem("a string is not closed") }
            let byte = bytes[index]
            if byte == UInt8(ascii: "\"") { break }
            if byte < 0x20 { throw problem("a control character inside a string") }
            if byte == UInt8(ascii: "\\") {
                escaped = true
                index += 1
                guard index < bytes.count else { throw problem("a string is not closed") }
                if bytes[index] == UInt8(ascii: "u") {
                    guard index + 4 < bytes.count, bytes[(index + 1)...(index + 4)].allSatisfy(Self.isHexDigit) else {
                        throw problem("a bad \\u escape")
                    }
                    index += 4
                } else {
                    guard Array(#""\/bfnrt"#.utf8).contains(bytes[index]) else { throw problem("a bad escape") }
                }
            }
            index += 1
        }
        let end = index
        index += 1
        return (start, end, escaped)
    }

    private static func isHexDigit(_ byte: UInt8) -> Bool {
        (0x30...0x39).contains(byte) || (0x41...0x46).contains(byte) || (0x61...0x66).contains(byte)
    }

    private static func unescape(_ body: ArraySlice<UInt8>) throws(ReportsDocumentProblem) -> String {
        var scalars = String.UnicodeScalarView()
        var utf8: [UInt8] = []
        var index = body.startIndex
        func flush() {
            scalars.append(contentsOf: String(decoding: utf8, as: UTF8.self).unicodeScalars)
            utf8.removeAll(keepingCapacity: true)
        }
        func hex(_ at: Int) -> UInt32 {
            body[at...(at + 3)].reduce(0) { value, byte in
                value << 4 | UInt32(byte <= 0x39 ? byte - 0x30 : (byte | 0x20) - 0x61 + 10)
            }
        }
        while index < body.endIndex {
            let byte = body[index]
            guard byte == UInt8(ascii: "\\") else {
                utf8.append(byte)
                index += 1
                continue
            }
            let kind = body[index + 1]
            index += 2
            switch kind {
            case UInt8(ascii: "b"): utf8.append(0x08)
            case UInt8(ascii: "f"): utf8.append(0x0C)
            case UInt8(ascii: "n"): utf8.append(0x0A)
            case UInt8(ascii: "r"): utf8.append(0x0D)
            case UInt8(ascii: "t"): utf8.append(0x09)
            case UInt8(ascii: "u"):
                flush()
                var value = hex(index)
                index += 4
                if (0xD800...0xDBFF).contains(value), index + 5 < body.endIndex, body[index] == UInt8(ascii: "\\"), body[index + 1] == UInt8(ascii: "u") {
                    let low = hex(index + 2)
                    if (0xDC00...0xDFFF).contains(low) {
                        value = 0x10000 + ((value - 0xD800) << 10) + (low - 0xDC00)
                        index += 6
                    }
                }
                guard let scalar = Unicode.Scalar(value) else {
                    throw ReportsDocumentProblem(description: "a \\u escape that is not a character")
                }
                scalars.append(scalar)
            default: utf8.append(kind)
            }
        }
        flush()
        return String(scalars)
    }

    private mutating func integer(_ place: @autoclosure () -> String) throws(ReportsDocumentProblem) -> Int64 {
        skipSpace()
        let start = index
        try number()
        guard let value = Int64(String(decoding: bytes[start..<index], as: UTF8.self)) else {
            throw ReportsDocumentProblem(description: "\(place()) is not a whole number")
        }
        return value
    }

    private mutating func bool(_ place: @autoclosure () -> String) throws(ReportsDocumentProblem) -> Bool {
        skipSpace()
        if bytes[index...].starts(with: "true".utf8) {
            index += 4
            return true
        }
        if bytes[index...].starts(with: "false".utf8) {
            index += 5
            return false
        }
        throw ReportsDocumentProblem(description: "\(place()) is not true or false")
    }

    /// A JSON number: -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?
    private mutating func number() throws(ReportsDocumentProblem) {
        func digits() throws(ReportsDocumentProblem) {
            let start = index
            while index < bytes.count, (0x30...0x39).contains(bytes[index]) { index += 1 }
            guard index > start else { throw problem("a number without digits") }
        }
        if peek == UInt8(ascii: "-") { index += 1 }
        if peek == UInt8(ascii: "0") { index += 1 } else { try digits() }
        if peek == UInt8(ascii: ".") {
            index += 1
            try digits()
        }
        if peek == UInt8(ascii: "e") || peek == UInt8(ascii: "E") {
            index += 1
            if peek == UInt8(ascii: "+") || peek == UInt8(ascii: "-") { index += 1 }
            try digits()
        }
    }

    private mutating func skipValue(depth: Int) throws(ReportsDocumentProblem) {
        guard depth <= Self.depthMax else { throw problem("nested deeper than \(Self.depthMax) levels") }
        skipSpace()
        guard let byte = peek else { throw problem("a value is missing") }
        switch byte {
        case UInt8(ascii: "{"):
            // Keys are checked where they are, not made into strings: a payload has dozens.
            index += 1
            skipSpace()
            if peek == UInt8(ascii: "}") {
                index += 1
                return
            }
            while true {
                _ = try scanString("a key in an object")
                try expect(UInt8(ascii: ":"), "':' after a key")
                try skipValue(depth: depth + 1)
                skipSpace()
                guard let next = peek else { throw problem("the text ends inside an object") }
                index += 1
                if next == UInt8(ascii: "}") { return }
                guard next == UInt8(ascii: ",") else { throw problem("expected ',' or '}' in an object") }
            }
        case UInt8(ascii: "["):
            try array("an array") { (reader: inout ReportsPageReader, _: Int) throws(ReportsDocumentProblem) in try reader.skipValue(depth: depth + 1) }
        case UInt8(ascii: "\""): _ = try scanString("a string")
        case UInt8(ascii: "t"), UInt8(ascii: "f"): _ = try bool("a value")
        case UInt8(ascii: "n"):
            guard bytes[index...].starts(with: "null".utf8) else { throw problem("an unknown word") }
            index += 4
        default: try number()
        }
    }
}
