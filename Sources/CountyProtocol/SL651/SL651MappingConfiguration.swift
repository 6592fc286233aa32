// What the county chooses about the SL 651 form of the box's reports: hourly `34` or timed `32`,
// and the user-defined `FFxx` identifier each displacement sensor is sent under.
import Foundation

/// How one displacement sensor is sent: SL 651 has no identifier for displacement (76H–EFH are
/// reserved, `FFxx` is user-defined) and provinces and vendors pick their own, so the county names it.
package struct SL651DisplacementIdentifier: Sendable, Equatable, CustomStringConvertible {
    /// The `xx` of `FFxx`.
    package var extendedGuide: UInt8
    /// N(digits, decimals), in millimetres.
    package var digits: Int
    package var decimals: Int

    /// Hunan's implementation rules: FF16 horizontal X, FF17 horizontal Y, FF18 vertical, N(8,2) mm,
    /// a negative value led by an `FF` byte.
    package static let hunanFormat = (digits: 8, decimals: 2)
    package static let presets: [(name: String, identifier: SL651DisplacementIdentifier)] = [
        ("hunan-x", SL651DisplacementIdentifier(extendedGuide: 0x16, digits: hunanFormat.digits, decimals: hunanFormat.decimals)),
        ("hunan-y", SL651DisplacementIdentifier(extendedGuide: 0x17, digits: hunanFormat.digits, decimals: hunanFormat.decimals)),
        ("hunan-vertical", SL651DisplacementIdentifier(extendedGuide: 0x18, digits: hunanFormat.digits, decimals: hunanFormat.decimals)),
    ]

    /// What a value may look like, for configuration messages.
    package static let syntaxHint = "\"FF16\" (N(8,2) mm), \"FF16 N(8,2)\", or a preset: \(presets.map { "\"\($0.name)\"" }.joined(separator: ", "))"

    /// Reads "FF16", "FF16 N(8,2)" or a preset name; nil when it is none of these.
    package init?(text: String) {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        if let preset = Self.presets.first(where: { $0.name == trimmed.lowercased() }) {
            self = preset.identifier
            return
        }
        let parts = trimmed.split(separator: " ", omittingEmptySubsequences: true)
        guard (1...2).contains(parts.count), parts[0].count == 4, parts[0].uppercased().hasPrefix("FF"),
              let extended = UInt8(parts[0].dropFirst(2), radix: 16)
        else { return nil }
        var format = Self.hunanFormat
        if parts.count == 2 {
            let inner = parts[1].uppercased()
            guard inner.hasPrefix("N("), inner.hasSuffix(")") else { return nil }
            let numbers = inner.dropFirst(2).dropLast().split(separator: ",").map { Int($0.trimmingCharacters(in: .whitespaces)) }
            guard numbers.count == 2, let digits = numbers[0], let decimals = numbers[1],
                  (1...SL651NumericElement.digitsMax).contains(digits), (0...min(7, digits)).contains(decimals)
            else { return nil }
            format = (digits, decimals)
        }
        self.init(extendedGuide: extended, digits: format.digits, decimals: format.decimals)
    }

    package init(extendedGuide: UInt8, digits: Int, decimals: Int) {
        self.extendedGuide = extendedGuide
        self.digits = digits
        self.decimals = decimals
    }

    /// The element a displacement of this sensor is encoded as (negatives allowed: a slope moves both ways).
    package func element(sensor id: String) -> SL651NumericElement {
        SL651NumericElement(
            guide: 0xFF, extendedGuide: extendedGuide, name: "\(identifierText) displacement of \(id)", unit: "mm", digits: digits,
            decimals: decimals, allowsNegative: true)
    }

    package var identifierText: String { "FF" + SL651.hexByte(extendedGuide) }
    package var description: String { "\(identifierText) N(\(digits),\(decimals))" }
}

/// `[county.sl651]`'s choices about report frames; they hold for the TCP push and the pull API's
/// `?format=sl651` alike (one `SL651FrameMaker`).
package struct SL651MappingConfiguration: Sendable, Equatable {
    /// `hourly = true`: hourly summaries go as hourly report `34` with the hour's twelve 5-minute
    /// rainfalls (F4) and water levels (F5), which many county centres expect every hour;
    /// `false` sends the timed report `32`. Only a 1 h `summary_every` has an hourly report.
    package var hourly = false
    /// `displacement = { slope_x = "hunan-x", crack1 = "FF20 N(6,1)" }`: sensor id → identifier.
    /// A displacement sensor not named here is left out of SL 651 frames (its JSON carries it).
    package var displacement: [String: SL651DisplacementIdentifier] = [:]

    package init(hourly: Bool = false, displacement: [String: SL651DisplacementIdentifier] = [:]) {
        self.hourly = hourly
        self.displacement = displacement
    }
}
