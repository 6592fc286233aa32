// The parsed TOML document as plain Swift values, so validation never touches TOMLKit's classes.
import TOMLKit

/// A TOML value. Tables are unordered here (TOMLKit sorts keys); file order comes from the
/// line locator.
package indirect enum TOMLNode: Sendable {
    case table([String: TOMLNode])
    case array([TOMLNode])
    case string(String)
    case integer(Int)
    case float(Double)
    case boolean(Bool)
    /// Dates and times: valid TOML, but no key of ours takes one.
    case dateOrTime(String)

    package init(_ value: TOMLValueConvertible) {
        switch value.type {
        case .table:
            var entries: [String: TOMLNode] = [:]
            if let table = value.table {
                for key in table.keys {
                    if let child = table[key] { entries[key] = TOMLNode(child) }
                }
            }
            self = .table(entries)
        case .array:
            self = .array(value.array.map { array in array.map { TOMLNode($0) } } ?? [])
        case .string: self = .string(value.string ?? "")
        case .int: self = .integer(value.int ?? 0)
        case .double: self = .float(value.double ?? 0)
        case .bool: self = .boolean(value.bool ?? false)
        case .date, .time, .dateTime: self = .dateOrTime(value.debugDescription)
        }
    }

    /// What kind of value this is, in a technician's words.
    package var kindDescription: String {
        switch self {
        case .table: "a table"
        case .array: "a list"
        case .string: "text in quotes"
        case .integer: "a whole number"
        case .float: "a number"
        case .boolean: "true/false"
        case .dateOrTime: "a date or time"
        }
    }

    /// The value as it would be written in TOML, shortened so an error message stays one line.
    package var rendered: String {
        let text = renderedInFull
        let charactersMax = 60
        return text.count > charactersMax ? String(text.prefix(charactersMax - 1)) + "…" : text
    }

    private var renderedInFull: String {
        switch self {
        case .table(let entries):
            let inner = entries.keys.sorted().map { "\(tomlKey($0)) = \(entries[$0]?.renderedInFull ?? "")" }
            return inner.isEmpty ? "{}" : "{ " + inner.joined(separator: ", ") + " }"
        case .array(let elements): return "[" + elements.map(\.renderedInFull).joined(separator: ", ") + "]"
        case .string(let text): return tomlQuoted(text)
        case .integer(let value): return String(value)
        case .float(let value): return tomlNumber(value)
        case .boolean(let value): return value ? "true" : "false"
        case .dateOrTime(let text): return text
        }
    }
}

/// A TOML basic string with the escapes TOML requires.
package func tomlQuoted(_ text: String) -> String {
    var result = "\""
    for scalar in text.unicodeScalars {
        switch scalar {
        case "\"": result += "\\\""
        case "\\": result += "\\\\"
        case "\n": result += "\\n"
        case "\t": result += "\\t"
        case "\r": result += "\\r"
        default:
            if scalar.value < 0x20 || scalar.value == 0x7F {
                let hex = String(scalar.value, radix: 16, uppercase: true)
                result += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            } else {
                result.unicodeScalars.append(scalar)
            }
        }
    }
    return result + "\""
}

/// A key, bare when TOML allows it, quoted otherwise.
package func tomlKey(_ key: String) -> String {
    let isBare = !key.isEmpty && key.unicodeScalars.allSatisfy { scalar in
        (scalar >= "A" && scalar <= "Z") || (scalar >= "a" && scalar <= "z") || (scalar >= "0" && scalar <= "9")
            || scalar == "_" || scalar == "-"
    }
    return isBare ? key : tomlQuoted(key)
}

/// A number as TOML reads it back to the same Double: whole values without ".0" ("35"),
/// others in Swift's shortest round-tripping form ("0.85", "1e-05").
package func tomlNumber(_ value: Double) -> String {
    if value.isNaN { return "nan" }
    if value.isInfinite { return value < 0 ? "-inf" : "inf" }
    // 2^53: beyond it not every whole number is a Double; keep the exponent form there.
    if value == value.rounded(), abs(value) < 9_007_199_254_740_992 {
        return String(Int64(value))
    }
    return String(value)
}
