// The pages' shared pieces: escaping, the frame every page sits in (styles inline, no CDN, no
// build step), level words and colours, times and ages in Chinese.
import CountyProtocol
import Foundation
import WarningLogic

package enum HTML {
    /// Text into element content or a quoted attribute.
    package static func escape(_ text: String) -> String {
        var out = ""
        out.reserveCapacity(text.utf8.count)
        for character in text {
            switch character {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&#39;"
            default: out.append(character)
            }
        }
        return out
    }

    /// Seconds between automatic reloads of the overview and a station's page.
    package static let refreshSeconds = 30

    /// The whole document. `refresh` adds the one script: reload unless a form is being filled in.
    package static func page(title: String, user: String?, refresh: Bool, body: String) -> String {
        let script = refresh
            ? """
            <script>
            // Auto-refresh: reload every \(refreshSeconds) s, but never while someone is typing a warning.
            setInterval(function () {
              var a = document.activeElement;
              if (a && (a.tagName === "INPUT" || a.tagName === "TEXTAREA" || a.tagName === "SELECT")) return;
              if (document.querySelector("form[data-busy]")) return;
              location.reload();
            }, \(refreshSeconds * 1000));
            </script>
            """ : ""
        let who = user.map { "<span class=\"who\">\(escape($0)) · <a href=\"/logout\">退出</a></span>" } ?? ""
        return """
            <!DOCTYPE html>
            <html lang="zh-CN">
            <head>
            <meta charset="utf-8">
            <meta name="viewport" content="width=device-width, initial-scale=1">
            <title>\(escape(title))</title>
            <style>\(style)</style>
            </head>
            <body>
            <header><a href="/" class="home">县级山洪预警平台</a> <a href="/map">地图</a> <a href="/warnings">发布县级预警</a> \(who)</header>
            <main>
            \(body)
            </main>
            \(script)
            </body>
            </html>
            """
    }

    static let style = """
        body{font-family:"Noto Sans CJK SC","WenQuanYi Micro Hei","Microsoft YaHei",sans-serif;margin:0;color:#1d2329;background:#f6f7f9;font-size:14px}
        header{background:#1d2b3a;color:#fff;padding:8px 16px}header a{color:#fff;margin-right:16px;text-decoration:none}header .home{font-weight:bold}
        header .who{float:right}main{padding:12px 16px}
        table{border-collapse:collapse;background:#fff;width:100%}th,td{border-bottom:1px solid #dde1e5;padding:4px 6px;text-align:left;vertical-align:top}
        th{background:#eef1f4;position:sticky;top:0}
        .band{display:inline-block;min-width:3.2em;padding:2px 6px;border-radius:3px;color:#fff;font-weight:bold;text-align:center}
        .lv-none{background:#9aa5b1}.lv-blue{background:#1f6fd1}.lv-yellow{background:#e8b800;color:#222}.lv-orange{background:#f07c00}.lv-red{background:#d62728}
        tr.row-red td:first-child{border-left:6px solid #d62728}tr.row-orange td:first-child{border-left:6px solid #f07c00}
        tr.row-yellow td:first-child{border-left:6px solid #e8b800}tr.row-blue td:first-child{border-left:6px solid #1f6fd1}
        tr.row-none td:first-child{border-left:6px solid #d5dadf}
        .counts span{display:inline-block;margin-right:12px;padding:6px 12px;border-radius:4px;color:#fff;font-size:16px}
        .silent{color:#b00020;font-weight:bold}.waiting{color:#b35c00;font-weight:bold}.answered{color:#1b7a35}.fault{color:#b00020}
        .drill{background:#6b4fbb;color:#fff;padding:1px 5px;border-radius:3px}.muted{color:#6b7682}
        .panel{background:#fff;padding:10px;margin:10px 0;border:1px solid #dde1e5}pre{white-space:pre-wrap;word-break:break-all;font-size:12px}
        details{margin:2px 0}button{font-size:14px;padding:4px 12px}.notice{background:#fff4d6;border:1px solid #e8b800;padding:8px;margin:8px 0}
        .error{background:#fde2e2;border:1px solid #d62728;padding:8px;margin:8px 0}
        table.sl651-fields{font-size:12px;margin:4px 0}table.sl651-fields code{word-break:break-all}
        """

    // MARK: Levels

    /// 蓝/黄/橙/红 as the county says them; "无" when no warning.
    package static func levelWord(_ level: WarningLevel) -> String {
        switch level {
        case .none: "无"
        case .blue: "蓝"
        case .yellow: "黄"
        case .orange: "橙"
        case .red: "红"
        }
    }

    package static func band(_ level: WarningLevel) -> String {
        "<span class=\"band lv-\(level.name)\" data-level=\"\(level.name)\">\(levelWord(level))</span>"
    }

    // MARK: Time

    /// The county's own offset for times the county clock made (China: +08:00).
    package static let countyUTCOffsetMinutes = 8 * 60

    /// "2020-08-04 03:30" in the county's offset.
    package static func time(_ milliseconds: Int64) -> String {
        let text = ISO8601.format(Timestamp(millisecondsSinceUnixEpoch: milliseconds), utcOffsetMinutes: countyUTCOffsetMinutes)
        // "2020-08-04T03:30:00+08:00" → "2020-08-04 03:30"
        return String(text.prefix(16)).replacingOccurrences(of: "T", with: " ")
    }

    /// "刚刚", "5 分钟前", "3 小时前", "2 天前".
    package static func age(_ milliseconds: Int64) -> String {
        let seconds = max(0, milliseconds / 1_000)
        switch seconds {
        case ..<60: return "\(seconds) 秒前"
        case ..<3_600: return "\(seconds / 60) 分钟前"
        case ..<(2 * 86_400): return "\(seconds / 3_600) 小时\(seconds % 3_600 / 60 > 0 ? " \(seconds % 3_600 / 60) 分" : "")前"
        default: return "\(seconds / 86_400) 天前"
        }
    }

    /// "25 秒", "3 分 10 秒".
    package static func duration(seconds: Int64) -> String {
        seconds < 60 ? "\(seconds) 秒" : "\(seconds / 60) 分\(seconds % 60 > 0 ? " \(seconds % 60) 秒" : "")"
    }

    /// A cause as the overview shows it: rule ids are the county's own names and stay as they
    /// are; the engine's own causes in words.
    package static func causeWord(_ cause: String) -> String {
        switch cause {
        case "manual": "人工设定"
        case "latch": "锁定保持"
        case "drill": "演练"
        default: cause.hasPrefix("county:") ? "县级预警" + cause.dropFirst("county:".count) : cause
        }
    }

    /// The channel an answer came through, as the box names it (#14: sms, call, shell, api …).
    package static func channelWord(_ channel: String) -> String {
        switch channel {
        case "sms": "短信"
        case "call", "call_in": "来电"
        case "dtmf", "call_out": "回拨按键"
        case "shell": "现场终端"
        case "api": "县级平台"
        case "scenario": "演示脚本"
        default: channel
        }
    }
}
