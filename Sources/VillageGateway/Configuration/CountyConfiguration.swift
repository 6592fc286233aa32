// The [county] table of gateway.toml: how the box's reports reach the county. Read by
// `ConfigurationReader+County.swift`; the defaults are the schema's (ConfigurationSchema.swift).
import WarningLogic

/// Everything about the county link: the SL 651 identity beyond `[station] id`, the observation
/// summaries, the outbox's retention, the pull API and the push transports.
struct CountyConfiguration: Sendable, Equatable {
    /// `centre_address`: the county centre's SL 651 address, 1–255.
    var centreAddress = ConfigurationSchema.defaultInteger("county", "centre_address")
    /// `password`: the SL 651 password exactly as configured at the centre, 0–65535.
    var password = UInt16(ConfigurationSchema.defaultInteger("county", "password"))
    /// `summary_every`: an observation summary (routine report; SL 651 timed `32`/hourly `34`)
    /// this often. SL 651 boxes report hourly; 5 min to 1 day.
    var summaryEveryMilliseconds = ConfigurationSchema.defaultDuration("county", "summary_every")
    /// `outbox_max_mb`: the outbox's size limit in MiB (`OutboxLimits.outboxBytesMax`); at it,
    /// routine reports are thinned and a health alarm raised. 1–4096.
    var outboxMegabytesMax = ConfigurationSchema.defaultInteger("county", "outbox_max_mb")
    /// `keep_delivered`: delivered (acknowledged) reports are purged this long after delivery.
    var keepDeliveredMilliseconds = ConfigurationSchema.defaultDuration("county", "keep_delivered")
    /// `[county.api]`: the pull API; nil when the table is absent (no API served).
    var api: CountyAPIConfiguration?
    /// `[county.push]`: JSON over HTTP POST to the county; nil when absent.
    var httpPush: HTTPPushConfiguration?
    /// `[county.sl651]`: SL 651 frames over TCP to a county centre; nil when absent.
    var sl651Push: SL651PushConfiguration?
    /// `[county.sl651]` `hourly` and `displacement`: the SL 651 form of reports, pushed or pulled.
    var sl651 = SL651MappingConfiguration()
    /// `push_window = "22:00-06:00"` (station local time): push only inside it (costly links);
    /// nil pushes whenever the link is up. Alarm reports are pushed at once regardless.
    var pushWindow: DailyWindow?
    /// `link_probe_every`: while the push is failing, a TCP connect (no payload) to the county
    /// endpoint this often; a success ends the backoff. About 300 bytes per probe on IPv4
    /// (handshake and close, ~5 packets): 1 min costs ~432 KB a day, only while down. 10 s – 1 d.
    var linkProbeEveryMilliseconds = ConfigurationSchema.defaultDuration("county", "link_probe_every")
    /// `uplink_interfaces`: the interfaces whose coming up or getting an address (rtnetlink) ends
    /// the push's backoff; a default route appearing does too, on whatever interface.
    var uplinkInterfaces = ConfigurationSchema.defaultTexts("county", "uplink_interfaces")
    static let uplinkInterfacesMax = 8
}

/// `[county.api]`.
struct CountyAPIConfiguration: Sendable, Equatable {
    /// `listen = "0.0.0.0:8651"`: host and port the API listens on.
    var host = CountyAPIConfiguration.listenDefault.host
    var port = CountyAPIConfiguration.listenDefault.port
    static var listenDefault: (host: String, port: Int) {
        parseHostAndPort(ConfigurationSchema.defaultText("county.api", "listen"), portMin: 0) ?? ("0.0.0.0", 0)
    }
    /// `key_file`: the file holding this station's HMAC key (hex, at least 32 bytes = 64 hex
    /// digits), readable by the daemon only. Required: no key, no API (no default credentials).
    var keyFile: String
    /// `max_clock_skew`: a request whose timestamp is further than this from the box's clock is
    /// refused as stale. 30 s – 1 h.
    var clockSkewMillisecondsMax = ConfigurationSchema.defaultDuration("county.api", "max_clock_skew")
}

/// `[county.push]`: JSON batches POSTed to the county.
struct HTTPPushConfiguration: Sendable, Equatable {
    /// `url = "https://county.example.cn/v1/push"`.
    var url: String
    /// `key_file`: the HMAC key the box signs its pushes with (same format as the API's).
    var keyFile: String
    /// `batch_max`: reports per POST, 1–500.
    var batchMax = ConfigurationSchema.defaultInteger("county.push", "batch_max")
}

/// `[county.sl651]`: SL 651 uplink over TCP.
struct SL651PushConfiguration: Sendable, Equatable {
    /// `centre = "10.1.2.3:5005"`: the county centre's host and port.
    var host: String
    var port: Int
    /// `keep_alive_every`: link keep-alive (`2F`) this often while connected; 10 s – 10 min.
    var keepAliveEveryMilliseconds = ConfigurationSchema.defaultDuration("county.sl651", "keep_alive_every")
}

/// A daily span of station-local time; `start > end` wraps past midnight ("22:00-06:00").
struct DailyWindow: Sendable, Equatable {
    var startMinuteOfDay: Int
    var endMinuteOfDay: Int

    /// Whether `minuteOfDay` (0–1439, station local) is inside the window.
    func contains(minuteOfDay: Int) -> Bool {
        if startMinuteOfDay <= endMinuteOfDay {
            return minuteOfDay >= startMinuteOfDay && minuteOfDay < endMinuteOfDay
        }
        return minuteOfDay >= startMinuteOfDay || minuteOfDay < endMinuteOfDay
    }
}
