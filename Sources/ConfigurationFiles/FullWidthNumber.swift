// Numbers typed on a Chinese keyboard (full-width digits): the configuration reader names them in
// its problems, and the shell's `set` accepts them.
package enum FullWidthNumber {
    /// `３０` → `30`, `－１．５` → `-1.5`; nil when the text is not a number in full-width forms.
    package static func halfWidth(_ text: String) -> String? {
        var result = ""
        var changed = false
        for scalar in text.unicodeScalars {
            switch scalar.value {
            case 0xFF10...0xFF19:
                result.unicodeScalars.append(Unicode.Scalar(scalar.value - 0xFF10 + 0x30)!)
                changed = true
            case 0xFF0E, 0x3002:
                result += "."
                changed = true
            case 0xFF0D:
                result += "-"
                changed = true
            case 0x30...0x39, 0x2E, 0x2D:
                result.unicodeScalars.append(scalar)
            default:
                return nil
            }
        }
        return changed && Double(result) != nil ? result : nil
    }
}
