// A minimal SVG builder for the level charts: shapes and text, XML-escaped, numbers rounded to
// 0.1 px, with class and data- attributes so a test (or a browser test's CSS selector) can find
// what a shape stands for.
import CountyProtocol

package struct SVGWriter {
    private var body: [String] = []
    package let width: Double
    package let height: Double

    package init(width: Double, height: Double) {
        self.width = width
        self.height = height
    }

    package static func number(_ value: Double) -> String {
        let rounded = (value * 10).rounded() / 10
        return rounded == rounded.rounded() ? String(Int64(rounded)) : String(rounded)
    }

    /// Text as XML carries it: the CAP writer's escaping (entities, and a control character a
    /// parser would refuse made U+FFFD), so a station's name can never break the chart.
    package static func escape(_ text: String) -> String {
        CAPXMLWriter.escaped(text)
    }

    /// ` class="…" data-level="…"`: the names are ours, the values escaped.
    private static func attributes(_ pairs: [(String, String)]) -> String {
        pairs.map { " \($0.0)=\"\(escape($0.1))\"" }.joined()
    }

    package mutating func rect(x: Double, y: Double, width: Double, height: Double, fill: String, stroke: String? = nil, attributes: [(String, String)] = []) {
        let strokeAttribute = stroke.map { " stroke=\"\($0)\"" } ?? ""
        body.append("<rect\(Self.attributes(attributes)) x=\"\(Self.number(x))\" y=\"\(Self.number(y))\" width=\"\(Self.number(width))\" height=\"\(Self.number(height))\" fill=\"\(fill)\"\(strokeAttribute)/>")
    }

    package mutating func line(x1: Double, y1: Double, x2: Double, y2: Double, stroke: String, width: Double, dash: String? = nil, attributes: [(String, String)] = []) {
        let dashAttribute = dash.map { " stroke-dasharray=\"\($0)\"" } ?? ""
        body.append("<line\(Self.attributes(attributes)) x1=\"\(Self.number(x1))\" y1=\"\(Self.number(y1))\" x2=\"\(Self.number(x2))\" y2=\"\(Self.number(y2))\" stroke=\"\(stroke)\" stroke-width=\"\(Self.number(width))\"\(dashAttribute)/>")
    }

    package mutating func polyline(_ points: [(Double, Double)], stroke: String, width: Double, attributes: [(String, String)] = []) {
        let list = points.map { "\(Self.number($0.0)),\(Self.number($0.1))" }.joined(separator: " ")
        body.append("<polyline\(Self.attributes(attributes)) points=\"\(list)\" fill=\"none\" stroke=\"\(stroke)\" stroke-width=\"\(Self.number(width))\" stroke-linejoin=\"round\"/>")
    }

    package mutating func circle(cx: Double, cy: Double, r: Double, fill: String, attributes: [(String, String)] = []) {
        body.append("<circle\(Self.attributes(attributes)) cx=\"\(Self.number(cx))\" cy=\"\(Self.number(cy))\" r=\"\(Self.number(r))\" fill=\"\(fill)\"/>")
    }

    package mutating func text(_ text: String, x: Double, y: Double, size: Double, fill: String = "#111", anchor: String = "start", weight: String = "normal") {
        body.append("<text x=\"\(Self.number(x))\" y=\"\(Self.number(y))\" font-size=\"\(Self.number(size))\" fill=\"\(fill)\" text-anchor=\"\(anchor)\" font-weight=\"\(weight)\">\(Self.escape(text))</text>")
    }

    /// Opens a group (`<g class="panel" data-measure="…">`); every `open` has its `close`.
    package mutating func open(group attributes: [(String, String)]) {
        body.append("<g\(Self.attributes(attributes))>")
    }

    package mutating func close() {
        body.append("</g>")
    }

    /// A file of its own (`simulate --chart`), or, given an element id, an `<svg>` element to put
    /// inline in an HTML page (no XML declaration there).
    package func finish(inlineId: String? = nil) -> String {
        let declaration = inlineId == nil ? "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n" : ""
        let id = inlineId.map { " id=\"\(Self.escape($0))\"" } ?? ""
        return """
            \(declaration)<svg xmlns="http://www.w3.org/2000/svg"\(id) width="\(Self.number(width))" height="\(Self.number(height))" viewBox="0 0 \(Self.number(width)) \(Self.number(height))" font-family="Noto Sans CJK SC, WenQuanYi Micro Hei, Microsoft YaHei, DejaVu Sans, sans-serif">
            \(body.joined(separator: "\n"))
            </svg>

            """
    }
}
