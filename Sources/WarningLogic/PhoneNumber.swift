// Phone numbers as people and modems write them: +8613800000001, 8613800000001 and 13800000001
// are the same Chinese mobile, and a reply or a caller id must find its contact by any of them.

public enum PhoneNumber {
    /// The longest number kept from outside (E.164 allows 15 digits; a few more for a prefix).
    public static let digitsMax = 20

    /// The form two numbers are compared in: a Chinese number (+86, 0086, 86 before 11 digits, or
    /// bare) as its national digits; any other international number as + and its digits. Spaces,
    /// dashes and brackets are ignored. nil when it is not a phone number at all (an SMS from
    /// "10086" is a number; one from "China Mobile" is not).
    public static func comparable(_ text: String) -> String? {
        var digits = ""
        var international = false
        for (index, character) in text.enumerated() {
            if character == "+" && index == 0 { international = true; continue }
            if character == " " || character == "-" || character == "(" || character == ")" { continue }
            guard character.isASCII, character.isNumber else { return nil }
            digits.append(character)
        }
        guard !digits.isEmpty, digits.count <= digitsMax else { return nil }
        if international {
            return digits.hasPrefix("86") ? String(digits.dropFirst(2)) : "+" + digits
        }
        if digits.hasPrefix("0086") { return String(digits.dropFirst(4)) }
        if digits.hasPrefix("00") { return "+" + digits.dropFirst(2) }
        if digits.hasPrefix("86") && digits.count == 13 { return String(digits.dropFirst(2)) }
        return digits
    }

    public static func same(_ a: String, _ b: String) -> Bool {
        guard let a = comparable(a), let b = comparable(b) else { return false }
        return a == b
    }
}
