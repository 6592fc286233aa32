// A minimal XML writer for CAP alerts: elements and escaped text, UTF-8, nothing else.
//
// Why not Foundation's XMLDocument/XMLElement (`import FoundationXML`)? On Linux FoundationXML is
// a separate library over libxml2 that the box would have to carry and load only to print ~30
// elements; its output details (attribute quoting, which characters become entities, the
// declaration's wording) differ between corelibs-foundation and Darwin, and it does not refuse
// the characters XML 1.0 cannot carry at all. CAP needs a fixed sequence of simple elements, one
// namespace and no attributes but `xmlns`, so a writer we can read in one screen, whose escaping
// the tests check with a real parser (xmllint), is the smaller risk.

package struct CAPXMLWriter {
    private(set) var text = #"<?xml version="1.0" encoding="UTF-8"?>"# + "\n"
    private var openElements: [String] = []

    /// Opens `<name>` (with `xmlns` on the root only); names are ours, never user text.
    package mutating func open(_ name: String, namespace: String? = nil) {
        indent()
        text += "<" + name
        if let namespace { text += " xmlns=\"" + Self.escaped(namespace) + "\"" }
        text += ">\n"
        openElements.append(name)
    }

    package mutating func close() {
        guard let name = openElements.popLast() else {
            preconditionFailure("CAPXMLWriter.close() without an open element")
        }
        indent()
        text += "</" + name + ">\n"
    }

    /// `<name>value</name>`, the value escaped.
    package mutating func element(_ name: String, _ value: String) {
        indent()
        text += "<" + name + ">" + Self.escaped(value) + "</" + name + ">\n"
    }

    /// The finished document; every element must be closed.
    package var document: String {
        precondition(openElements.isEmpty, "CAPXMLWriter: unclosed elements \(openElements)")
        return text
    }

    private mutating func indent() {
        text += String(repeating: "  ", count: openElements.count)
    }

    /// Text safe inside an element or a double- or single-quoted attribute.
    /// - `&`, `<`, `>`, `"`, `'` become entities (`>` too, so `]]>` can never appear).
    /// - CR becomes `&#xD;`: a parser turns a literal CR (or CR LF) into LF, so a message's CR
    ///   would otherwise silently change. TAB and LF pass through.
    /// - Characters XML 1.0 cannot carry even as a reference (other C0 controls, U+FFFE, U+FFFF)
    ///   become U+FFFD: a broadcast text with a stray control byte must still give a valid alert
    ///   rather than one the county's parser refuses as a whole.
    /// - Everything else, Chinese included, passes through as UTF-8.
    package static func escaped(_ value: String) -> String {
        var out = ""
        out.reserveCapacity(value.utf8.count)
        for scalar in value.unicodeScalars {
            switch scalar {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&apos;"
            case "\r": out += "&#xD;"
            case "\t", "\n": out.unicodeScalars.append(scalar)
            default:
                if scalar.value < 0x20 || scalar.value == 0xFFFE || scalar.value == 0xFFFF {
                    out += "\u{FFFD}"
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        return out
    }
}
