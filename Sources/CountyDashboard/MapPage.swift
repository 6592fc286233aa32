// A map without tiles: the stations that carry coordinates, placed by them on an SVG (an
// equirectangular projection scaled by the cosine of the mean latitude, which is true enough
// across one county or province) and coloured by level. No network is needed to draw it.
import ChartDrawing
import Foundation
import WarningLogic

package enum MapPage {
    static let widthPixels = 1000.0
    static let heightPixels = 700.0
    static let marginPixels = 40.0

    package static func render(_ states: [StationState], configured: [DashboardStation], user: String?) -> String {
        let places = Dictionary(
            configured.compactMap { station in
                station.latitude.flatMap { latitude in station.longitude.map { (station.id, (latitude, $0)) } }
            }, uniquingKeysWith: { first, _ in first })
        let placed = states.filter { places[$0.id] != nil }
        var body = "<h1>站点分布图</h1>\n"
        guard !placed.isEmpty else {
            body += "<p class=\"notice\">站点清单里没有坐标。给 [[station]] 加上 latitude 和 longitude（十进制度）即可在此显示。</p>"
            return HTML.page(title: "站点分布图", user: user, refresh: true, body: body)
        }
        body += svg(placed, places: places)
        let unplaced = states.count - placed.count
        if unplaced > 0 { body += "<p class=\"muted\">另有 \(unplaced) 站没有坐标，未画出。</p>" }
        return HTML.page(title: "站点分布图", user: user, refresh: true, body: body)
    }

    static func svg(_ placed: [StationState], places: [String: (latitude: Double, longitude: Double)]) -> String {
        let latitudes = placed.compactMap { places[$0.id]?.latitude }
        let longitudes = placed.compactMap { places[$0.id]?.longitude }
        let (south, north) = (latitudes.min() ?? 0, latitudes.max() ?? 0)
        let (west, east) = (longitudes.min() ?? 0, longitudes.max() ?? 0)
        let cosine = cos((south + north) / 2 * .pi / 180)
        // At least about 1 km each way, so that one station or a row of them still draws.
        let spanX = max((east - west) * cosine, 0.01)
        let spanY = max(north - south, 0.01)
        let scale = min((widthPixels - 2 * marginPixels) / spanX, (heightPixels - 2 * marginPixels) / spanY)
        let centreX = (west + east) / 2
        let centreY = (south + north) / 2
        func point(_ place: (latitude: Double, longitude: Double)) -> (Double, Double) {
            (widthPixels / 2 + (place.longitude - centreX) * cosine * scale, heightPixels / 2 - (place.latitude - centreY) * scale)
        }
        var text = """
            <svg xmlns="http://www.w3.org/2000/svg" id="map" width="\(Int(widthPixels))" height="\(Int(heightPixels))" \
            viewBox="0 0 \(Int(widthPixels)) \(Int(heightPixels))" font-family="sans-serif" font-size="12">
            <rect width="100%" height="100%" fill="#f3f6f2" stroke="#c9ced4"/>

            """
        // Quietest first, so a red village is drawn on top of its neighbours.
        for state in placed.sorted(by: { StationState.severityOrder($1, $0) }) {
            guard let place = places[state.id] else { continue }
            let (x, y) = point(place)
            let radius = state.level >= .orange ? 11.0 : 8.0
            let stroke = state.silent ? "#b00020\" stroke-dasharray=\"3 2" : "#333"
            text += "<a href=\"/stations/\(state.id)\"><g class=\"station\" data-station=\"\(state.id)\" data-level=\"\(state.level.name)\">"
                + "<circle cx=\"\(SVGWriter.number(x))\" cy=\"\(SVGWriter.number(y))\" r=\"\(radius)\" fill=\"\(LevelChart.colour(state.level))\" stroke=\"\(stroke)\" stroke-width=\"1.5\"/>"
                + "<text x=\"\(SVGWriter.number(x + radius + 3))\" y=\"\(SVGWriter.number(y + 4))\">\(HTML.escape(state.name))\(state.silent ? "（失联）" : "")</text>"
                + "<title>\(HTML.escape(state.name))：\(state.level.chineseName)</title></g></a>\n"
        }
        text += "<text x=\"10\" y=\"\(Int(heightPixels) - 10)\" fill=\"#6b7682\">北 ↑ · 范围 \(String(format: "%.3f", south))–\(String(format: "%.3f", north))°N，"
            + "\(String(format: "%.3f", west))–\(String(format: "%.3f", east))°E</text>\n</svg>"
        return text
    }
}
