// A reports page written by hand: each payload's stored text is spliced in as it is, never parsed
// into a tree and written again (that round trip was most of the pull's time on the box). The
// output is what `ReportsDocument.encoder()` writes for the same document: sorted keys, no
// spaces, slashes unescaped.

package enum ReportsPage {
    /// One report of the page; `payload` is JSON text, checked when it was stored.
    package struct Row: Sendable {
        package var sequence: Int64
        package var time: String
        package var timeMilliseconds: Int64
        package var kind: String
        package var priority: String
        package var exercise: Bool
        package var payload: String
        /// Set on a row the box could not read back (docs/county-api.md, "Damaged reports"):
        /// written as `"damaged":true` and `"reason"`, absent on every sound row.
        package var damagedReason: String?

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

    package static func write(
        schema: String, station: String, after: Int64, rows: [Row], gaps: [WireGap], lastSequence: Int64, more: Bool
    ) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(rows.reduce(256) { $0 + $1.payload.utf8.count + 160 })
        out += Array(#"{"after":"#.utf8)
        out += Array(String(after).utf8)
        out += Array(#","gaps":["#.utf8)
        for (index, gap) in gaps.enumerated() {
            if index > 0 { out.append(UInt8(ascii: ",")) }
            out += Array(#"{"count":"#.utf8) + Array(String(gap.count).utf8)
            out += Array(#","from":"#.utf8) + Array(String(gap.from).utf8)
            out += Array(#","reason":"#.utf8)
            appendString(gap.reason, to: &out)
            out += Array(#","recorded_at":"#.utf8)
            appendString(gap.recordedAt, to: &out)
            out += Array(#","through":"#.utf8) + Array(String(gap.through).utf8)
            out.append(UInt8(ascii: "}"))
        }
        out += Array(#"],"last_sequence":"#.utf8)
        out += Array(String(lastSequence).utf8)
        out += Array((more ? #","more":true,"reports":["# : #","more":false,"reports":["#).utf8)
        for (index, row) in rows.enumerated() {
            if index > 0 { out.append(UInt8(ascii: ",")) }
            out += Array((row.damagedReason == nil ? #"{"# : #"{"damaged":true,"#).utf8)
            out += Array((row.exercise ? #""exercise":true,"kind":"# : #""exercise":false,"kind":"#).utf8)
            appendString(row.kind, to: &out)
            out += Array(#","payload":"#.utf8)
            out += Array(row.payload.utf8)
            out += Array(#","priority":"#.utf8)
            appendString(row.priority, to: &out)
            if let reason = row.damagedReason {
                out += Array(#","reason":"#.utf8)
                appendString(reason, to: &out)
            }
            out += Array(#","sequence":"#.utf8) + Array(String(row.sequence).utf8)
            out += Array(#","time":"#.utf8)
            appendString(row.time, to: &out)
            out += Array(#","time_ms":"#.utf8) + Array(String(row.timeMilliseconds).utf8)
            out.append(UInt8(ascii: "}"))
        }
        out += Array(#"],"schema":"#.utf8)
        appendString(schema, to: &out)
        out += Array(#","station":"#.utf8)
        appendString(station, to: &out)
        out.append(UInt8(ascii: "}"))
        return out
    }

    /// A JSON string: quotes, backslashes and control characters escaped, the rest as UTF-8.
    package static func appendString(_ text: String, to out: inout [UInt8]) {
        out.append(UInt8(ascii: "\""))
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "\""): out += [UInt8(ascii: "\\"), UInt8(ascii: "\"")]
            case UInt8(ascii: "\\"): out += [UInt8(ascii: "\\"), UInt8(ascii: "\\")]
            case 0x0A: out += [UInt8(ascii: "\\"), UInt8(ascii: "n")]
            case 0x0D: out += [UInt8(ascii: "\\"), UInt8(ascii: "r")]
            case 0x09: out += [UInt8(ascii: "\\"), UInt8(ascii: "t")]
            case 0x00..<0x20:
                let digits = Array("0123456789abcdef".utf8)
                out += Array(#"\u00"#.utf8) + [digits[Int(byte >> 4)], digits[Int(byte & 0x0F)]]
            default: out.append(byte)
            }
        }
        out.append(UInt8(ascii: "\""))
    }
}
