// A report's SL 651 form on the station page: the frame the box would send for it, built by the
// same mapping the box runs (CountyProtocol's SL651ReportMapping) from what the county holds,
// shown in hex and field by field (address, function code, serial, time, each element with its
// identifier and value), so a duty officer can hold it against what the provincial centre got.
import CountyProtocol
import Foundation
import WarningLogic

package enum SL651View {
    /// One field of the frame: where it is, its bytes, what it is and what it says.
    package struct Field: Sendable, Equatable {
        package var offset: Int
        package var bytes: [UInt8]
        package var name: String
        /// The identifier guide of an element (one byte, or `0xFFxx`); nil for the frame's own fields.
        package var guide: Int?
        /// The value as text: decimal numbers as sent ("12.2", "-1.234"), ZT as "0x…", F4/F5 as a
        /// list with "-" where a slot is invalid, times as digits (YYMMDDhhmm[ss]).
        package var value: String
        /// What the value means to a person (unit, level bits), in Chinese.
        package var meaning: String
    }

    /// The centre address and password of a box the county does not know otherwise: gateway.toml's
    /// defaults ([county] centre_address = 1, password = 0).
    static let defaultCentreAddress = 1
    static let defaultPassword: UInt16 = 0

    /// The serial number the box sends a report with: its sequence folded into 1…65535, as the
    /// box's SL651FrameMaker derives it (so the same report always carries the same serial).
    static func serialNumber(forSequence sequence: Int64) -> UInt16 {
        UInt16((max(1, sequence) - 1) % 65_535 + 1)
    }

    /// The box's own form of a v2 report the county holds, for the kinds with an SL 651 form.
    static func content(_ report: StoredReport) -> ReportContent? {
        switch report.kind {
        case "observation_summary":
            // v2 is the box's summary with its keys in snake_case; read back into the box's type.
            // Not Foundation's convertFromSnakeCase: it capitalizes "millimeters1h" as "Millimeters1H".
            let decoder = JSONDecoder()
            decoder.keyDecodingStrategy = .custom { path in
                let words = (path.last?.stringValue ?? "").split(separator: "_", omittingEmptySubsequences: false)
                let camel = words.enumerated().map { index, word in index == 0 ? String(word) : word.prefix(1).uppercased() + word.dropFirst() }.joined()
                return CamelKey(stringValue: camel)
            }
            return (try? decoder.decode(ObservationSummary.self, from: Data(report.payload.utf8))).map(ReportContent.observationSummary)
        case "level_changed":
            return StationPage.engineKind(report).map(ReportContent.engine)
        default:
            return nil
        }
    }

    /// The frame for `report`, or nil when its kind has no SL 651 form. `reports` are the
    /// station's, oldest first: a level change carries the newest summary before it, as the box's
    /// outbox look-up does, and the summaries' rules say which are water-level rules (ZT bit 2).
    static func frame(_ report: StoredReport, reports: [StoredReport]) -> Result<[UInt8], SL651ReportMapping.Problem>? {
        guard let content = content(report) else { return nil }
        let earlier = reports.last { $0.kind == "observation_summary" && $0.sequence < report.sequence }
        let latestObservation = earlier.flatMap { Self.content($0)?.observationSummary }
        let waterLevelRules = Set((latestObservation?.rules ?? []).filter { Measure(name: $0.measure)?.sensorKind == .waterLevel }.map(\.id))
        let time = Timestamp(millisecondsSinceUnixEpoch: report.timeMilliseconds)
        let offset = (try? ISO8601.parseOrExplain(report.time))?.utcOffsetMinutes ?? HTML.countyUTCOffsetMinutes
        do {
            let identity: SL651StationIdentity
            let sendTime: SL651LocalTime
            do {
                identity = try SL651StationIdentity(
                    centreAddress: defaultCentreAddress, stationAddress: try SL651StationAddress(digits: report.station), password: defaultPassword)
                // The box fills in the moment it sends; the county shows the report's own time.
                sendTime = try SL651ReportMapping.localTime(time, utcOffsetMinutes: offset, keepSeconds: true)
            } catch {
                throw SL651ReportMapping.Problem(description: "report \(report.sequence) has no SL 651 header: \(error)")
            }
            guard let frame = try SL651ReportMapping.frame(
                content, sequence: report.sequence, time: time, exercise: report.exercise, identity: identity,
                serialNumber: serialNumber(forSequence: report.sequence), sendTime: sendTime, utcOffsetMinutes: offset,
                latestObservation: latestObservation, waterLevelRules: waterLevelRules)
            else { return nil }
            return .success(frame)
        } catch let problem as SL651ReportMapping.Problem {
            return .failure(problem)
        } catch {
            return .failure(SL651ReportMapping.Problem(description: "\(error)"))
        }
    }

    /// The frame split into its fields by SL 651-2014's layout (HEX/BCD mode, single packet).
    package static func fields(_ frame: [UInt8]) -> [Field] {
        var fields: [Field] = []
        var at = 0
        func take(_ count: Int, _ name: String, guide: Int? = nil, value: ([UInt8]) -> String, meaning: ([UInt8]) -> String = { _ in "" }) {
            let bytes = Array(frame[min(at, frame.count)..<min(at + count, frame.count)])
            fields.append(Field(offset: at, bytes: bytes, name: name, guide: guide, value: value(bytes), meaning: meaning(bytes)))
            at += count
        }
        guard frame.count >= SL651.frameOverheadBytes else { return [] }
        let bodyLength = (Int(frame[11]) << 8 | Int(frame[12])) & 0x0FFF
        let bodyEnd = min(SL651.headerBytes + 1 + bodyLength, frame.count - 3)
        take(2, "帧起始符", value: hex)
        take(1, "中心站地址", value: { String($0[0]) })
        take(5, "遥测站地址", value: digits)
        take(2, "密码", value: hex, meaning: { "十进制 \(Int($0[0]) << 8 | Int($0[1]))" })
        take(1, "功能码", value: hex, meaning: { functionWord($0[0]) })
        take(2, "上下行标识及长度", value: hex, meaning: { "上行（\($0[0] >> 4)），正文 \((Int($0[0]) << 8 | Int($0[1])) & 0x0FFF) 字节" })
        take(1, "报文起始符 STX", value: hex)
        take(2, "流水号", value: { String(Int($0[0]) << 8 | Int($0[1])) })
        take(6, "发报时间", value: digits, meaning: timeWord)
        take(7, "遥测站地址标识符 F1F1 与地址", guide: 0xF1, value: { digits(Array($0.dropFirst(2))) })
        take(1, "遥测站分类码", value: hex, meaning: { $0[0] == 0x48 ? "河道站" : $0[0] == 0x50 ? "雨量站" : "" })
        take(7, "观测时间标识符 F0F0 与时间", guide: 0xF0, value: { digits(Array($0.dropFirst(2))) }, meaning: { timeWord(Array($0.dropFirst(2))) })
        while at + 2 <= bodyEnd {
            if frame[at] == 0xF0 && frame[at + 1] == 0xF0 {
                take(7, "观测时间 F0F0（其后要素的时间）", guide: 0xF0, value: { digits(Array($0.dropFirst(2))) }, meaning: { timeWord(Array($0.dropFirst(2))) })
                continue
            }
            let extended = frame[at] == 0xFF
            let identifierCount = extended ? 2 : 1
            guard at + identifierCount < bodyEnd else { break }
            let definition = frame[at + identifierCount]
            let guide = extended ? 0xFF00 | Int(frame[at + 1]) : Int(frame[at])
            let valueCount = Int(definition >> 3)
            guard valueCount > 0, at + identifierCount + 1 + valueCount <= bodyEnd else { break }
            let decimals = Int(definition & 0x07)
            take(identifierCount + 1 + valueCount, elementWord(guide), guide: guide,
                 value: { elementValue(guide, Array($0.suffix(valueCount)), decimals: decimals) },
                 meaning: { elementMeaning(guide, Array($0.suffix(valueCount)), decimals: decimals) })
        }
        if at < bodyEnd { take(bodyEnd - at, "无法按要素拆分的正文", value: hex) }
        take(1, "报文结束符", value: hex, meaning: { $0[0] == 0x03 ? "ETX：报文结束" : $0[0] == 0x17 ? "ETB：后续还有包" : "" })
        take(2, "校验码 CRC", value: hex)
        return fields
    }

    static func hex(_ bytes: [UInt8]) -> String {
        bytes.map { ($0 < 16 ? "0" : "") + String($0, radix: 16, uppercase: true) }.joined()
    }

    /// BCD bytes as their digits.
    static func digits(_ bytes: [UInt8]) -> String {
        bytes.map { "\($0 >> 4)\($0 & 0x0F)" }.joined()
    }

    /// "2508041030" or "250804103000" as "2025-08-04 10:30[:00]".
    static func timeWord(_ bytes: [UInt8]) -> String {
        let text = Array(digits(bytes))
        guard text.count >= 10 else { return "" }
        func pair(_ index: Int) -> String { String(text[index * 2...index * 2 + 1]) }
        return "20\(pair(0))-\(pair(1))-\(pair(2)) \(pair(3)):\(pair(4))" + (text.count >= 12 ? ":\(pair(5))" : "")
    }

    static func functionWord(_ code: UInt8) -> String {
        switch code {
        case 0x32: "定时报"
        case 0x33: "加报报（事件即发）"
        case 0x34: "小时报"
        default: SL651FunctionCode(rawValue: code).description
        }
    }

    /// The element names of SL 651-2014's table C.1 the box sends.
    static func elementWord(_ guide: Int) -> String {
        switch guide {
        case 0x20: "20 PJ 当前降水量"
        case 0x26: "26 PT 降水量累计值"
        case 0x1A: "1A P1 1 小时时段降水量"
        case 0x1D: "1D P6 6 小时时段降水量"
        case 0x1F: "1F PD 日降水量"
        case 0x39: "39 Z 瞬时河道水位"
        case 0x38: "38 VT 电源电压"
        case 0x45: "45 ZT 遥测站状态及报警信息"
        case 0xF4: "F4 1 小时内每 5 分钟时段雨量"
        case 0xF5: "F5 1 小时内 5 分钟间隔相对水位"
        case 0xFF00...0xFFFF: "FF\(hex([UInt8(guide & 0xFF)])) 自定义要素（位移）"
        default: hex([UInt8(guide & 0xFF)]) + " 要素"
        }
    }

    static func elementValue(_ guide: Int, _ value: [UInt8], decimals: Int) -> String {
        switch guide {
        case 0x45:
            return "0x" + hex(value)
        case 0xF4:
            return value.map { $0 == 0xFF ? "-" : String($0) }.joined(separator: ",")
        case 0xF5:
            var slots: [String] = []
            for index in stride(from: 0, to: value.count - 1, by: 2) {
                let centimeters = Int(value[index]) << 8 | Int(value[index + 1])
                slots.append(centimeters == 0xFFFF ? "-" : String(centimeters))
            }
            return slots.joined(separator: ",")
        default:
            if value.allSatisfy({ $0 == 0xFF }) { return "-" }
            // A leading FF byte marks a negative number (SL 651's sign convention).
            let negative = value.first == 0xFF
            var number = digits(negative ? Array(value.dropFirst()) : value)
            while number.count <= decimals { number = "0" + number }
            var whole = String(number.dropLast(decimals))
            while whole.count > 1 && whole.hasPrefix("0") { whole.removeFirst() }
            return (negative ? "-" : "") + whole + (decimals > 0 ? "." + number.suffix(decimals) : "")
        }
    }

    static func elementMeaning(_ guide: Int, _ value: [UInt8], decimals: Int) -> String {
        switch guide {
        case 0x20, 0x26, 0x1A, 0x1D, 0x1F: return "毫米"
        case 0x39: return "米"
        case 0x38: return "伏"
        case 0xF4: return "每格 0.1 毫米，- 为无效"
        case 0xF5: return "每格厘米，- 为无效"
        case 0xFF00...0xFFFF: return "毫米"
        case 0x45:
            let bits = value.reduce(UInt32(0)) { $0 << 8 | UInt32($1) }
            let level = WarningLevel.allCases.first { UInt32($0.rawValue) == (bits >> SL651ReportMapping.levelShift) & 0x7 } ?? .none
            var words = ["预警等级 \(level.chineseName)"]
            if bits & SL651ReportMapping.bitExercise != 0 { words.append("演练") }
            if bits & SL651ReportMapping.bitDegraded != 0 { words.append("有传感器故障") }
            if bits & SL651ReportMapping.bitWaterLevelAlarm != 0 { words.append("水位超限") }
            if bits & SL651ReportMapping.bitWaterLevelMeterFault != 0 { words.append("水位计故障") }
            return words.joined(separator: "，") + "（第 16–20 位为本系统自用的保留位）"
        default: return ""
        }
    }

    /// The `<details>` of a report's SL 651 form, or "" when its kind has none.
    static func html(_ report: StoredReport, reports: [StoredReport]) -> String {
        guard let result = frame(report, reports: reports) else { return "" }
        switch result {
        case .failure(let problem):
            return "<details class=\"sl651\"><summary>SL 651</summary><p class=\"fault\">\(HTML.escape(problem.description))</p></details>"
        case .success(let frame):
            let fields = fields(frame)
            var text = "<details class=\"sl651\"><summary>SL 651</summary><pre class=\"sl651-hex\">\(fields.map { hex($0.bytes) }.joined(separator: " "))</pre>"
            text += "<table class=\"sl651-fields\"><thead><tr><th>位置</th><th>字节</th><th>字段</th><th>值</th><th>含义</th></tr></thead><tbody>"
            for field in fields {
                let guide = field.guide.map { " data-guide=\"\($0)\"" } ?? ""
                text += "<tr\(guide)><td>\(field.offset)</td><td><code>\(hex(field.bytes))</code></td><td>\(HTML.escape(field.name))</td>"
                    + "<td class=\"value\">\(HTML.escape(field.value))</td><td>\(HTML.escape(field.meaning))</td></tr>"
            }
            text += "</tbody></table><p class=\"muted\">按盒子的映射由县里收到的报告重建：流水号按报告编号折算（与盒子相同）；"
                + "发报时间取报告时间（盒子实际发送时填发送时刻）；中心站地址 \(defaultCentreAddress)、密码 \(defaultPassword) 与定时报 32 取 gateway.toml 的默认值"
                + "（盒子若设了别的，或开了 hourly，这几处会不同）。</p></details>"
            return text
        }
    }
}

/// A decoding key made from a v2 key (`CodingKey` needs a concrete type).
private struct CamelKey: CodingKey {
    var stringValue: String
    var intValue: Int? { nil }
    init(stringValue: String) { self.stringValue = stringValue }
    init?(intValue: Int) { nil }
}
