// The pages of sending a county warning: the form, the confirmation, the boxes' answers; and
// the login page.
import Foundation
import WarningLogic

package enum WarningPages {
    static func form(_ stations: [DashboardStation], chosen: [String], problem: String?, user: String?) -> String {
        var body = "<h1>发布县级预警</h1>\n"
        if let problem { body += "<p class=\"error\" id=\"problem\">\(HTML.escape(problem))</p>" }
        guard !stations.isEmpty else {
            body += "<p class=\"notice\">没有站点清单（serve --stations FILE），无法签名发送。</p>"
            return HTML.page(title: "发布县级预警", user: user, refresh: false, body: body)
        }
        var generator = SystemRandomNumberGenerator()
        // The county server's wall clock, by design: an id a person reads, not a box's time.
        let suggestedId = "county-\(HTML.time(Int64(Date().timeIntervalSince1970 * 1_000)).filter(\.isNumber))-\(UInt16.random(in: 0...UInt16.max, using: &generator))"
        body += """
            <form method="post" action="/warnings/confirm" id="warning-form" class="panel">
            <p>预警编号 <input name="id" value="\(HTML.escape(suggestedId))" size="40" maxlength="64"></p>
            <p>等级
            <label><input type="radio" name="level" value="blue"> \(HTML.band(.blue))</label>
            <label><input type="radio" name="level" value="yellow"> \(HTML.band(.yellow))</label>
            <label><input type="radio" name="level" value="orange"> \(HTML.band(.orange))</label>
            <label><input type="radio" name="level" value="red"> \(HTML.band(.red))</label></p>
            <p>广播消息（可空，最多 200 字）<br><textarea name="message" rows="3" cols="60" maxlength="200"></textarea></p>
            <p>发往：</p>
            <div style="columns:3">

            """
        for station in stations {
            let checked = chosen.contains(station.id) ? " checked" : ""
            body += "<label style=\"display:block\"><input type=\"checkbox\" name=\"station\" value=\"\(station.id)\"\(checked)> "
                + "\(HTML.escape(station.name)) <span class=\"muted\">\(station.id)</span></label>\n"
        }
        body += """
            </div>
            <p><button type="submit" name="action" value="warn" id="warn">下一步：确认</button>
            <button type="submit" name="action" value="cancel" id="cancel-warning">取消此编号的预警…</button></p>
            </form>
            """
        return HTML.page(title: "发布县级预警", user: user, refresh: false, body: body)
    }

    static func confirmation(_ warning: PendingWarning, token: String, stations: [DashboardStation], user: String?) -> String {
        let names = stations.filter { warning.stations.contains($0.id) }.map { "\(HTML.escape($0.name))（\($0.id)）" }
        let what = warning.cancel
            ? "取消县级预警 <b>\(HTML.escape(warning.id))</b>"
            : "发布县级预警 <b>\(HTML.escape(warning.id))</b>：\(HTML.band(warning.level ?? .none)) \(warning.level?.chineseName ?? "")"
        var body = "<h1>请确认</h1><div class=\"notice\" id=\"confirmation\"><p>您（\(HTML.escape(warning.user))）将向以下 \(names.count) 个站\(what)。</p>"
        if let message = warning.message { body += "<p>广播：\(HTML.escape(message))</p>" }
        body += "<p>" + names.joined(separator: "、") + "</p>"
        body += "<p>盒子收到后会立即按此等级鸣警报、广播。此操作会记入审计日志。</p></div>"
        body += """
            <form method="post" action="/warnings/send" id="confirm-form">
            <input type="hidden" name="token" value="\(token)">
            <button type="submit" id="confirm">确认发送</button> <a href="/warnings">返回修改</a>
            </form>
            """
        return HTML.page(title: "请确认", user: user, refresh: false, body: body)
    }

    static func result(_ warning: PendingWarning, deliveries: [WarningDelivery], stations: [DashboardStation], recorded: Bool, user: String?) -> String {
        let names = Dictionary(stations.map { ($0.id, $0.name) }, uniquingKeysWith: { first, _ in first })
        let accepted = deliveries.filter(\.accepted).count
        var body = "<h1>发送结果</h1><p id=\"summary\">预警 \(HTML.escape(warning.id))：\(accepted)/\(deliveries.count) 个站已接受。</p>"
        if !recorded { body += "<p class=\"error\">发送结果没能写入审计日志，请查看服务日志。</p>" }
        body += "<table id=\"deliveries\"><thead><tr><th>站</th><th>结果</th></tr></thead><tbody>"
        for delivery in deliveries {
            body += "<tr data-station=\"\(delivery.station)\" data-accepted=\"\(delivery.accepted)\"><td>\(HTML.escape(names[delivery.station] ?? delivery.station))</td>"
                + "<td class=\"\(delivery.accepted ? "answered" : "fault")\">\(HTML.escape(delivery.detail))</td></tr>"
        }
        body += "</tbody></table><p><a href=\"/\">回到总览</a></p>"
        return HTML.page(title: "发送结果", user: user, refresh: false, body: body)
    }
}

package enum LoginPage {
    static func render(problem: String?) -> String {
        var body = "<h1>登录</h1>"
        if let problem { body += "<p class=\"error\">\(HTML.escape(problem))</p>" }
        body += """
            <form method="post" action="/login" class="panel" id="login">
            <p>用户名 <input name="user" autocomplete="username"></p>
            <p>密码 <input name="password" type="password" autocomplete="current-password"></p>
            <p><button type="submit">登录</button></p>
            </form>
            """
        return HTML.page(title: "登录", user: nil, refresh: false, body: body)
    }
}
