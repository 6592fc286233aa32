// `village-county serve`: the dashboard's routes on Hummingbird. Pages are read from the store on
// each request (nothing cached, so a refresh shows the last pull); warnings go out only after a
// confirmation page, and each one is audited with who sent it.
import ConnectionGuard
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdCore
import Logging
import NIOCore
import ServiceLifecycle
import Synchronization
import WarningLogic

package struct DashboardOptions: Sendable {
    package var silentAfterMilliseconds: Int64 = 15 * 60_000
    /// nil: no login (loopback only; the serve command enforces it).
    package var users: [String: PasswordHash]?
    package var auditPath: String
    package var stations: [DashboardStation] = []

    package init(auditPath: String) {
        self.auditPath = auditPath
    }
}

package final class Dashboard: Sendable {
    package static let sessionCookie = "vg_dashboard"
    /// Form bodies are a few fields; a warning to every station of a province is about 30 KiB.
    static let formBytesMax = 256 * 1024
    /// Confirmations waiting for their click; older or more are dropped (asked again).
    static let pendingMax = 64
    static let pendingLifetimeMilliseconds: Int64 = 10 * 60_000
    /// A warning's id as the box accepts it (the box's `warningIdCharactersMax`).
    static let warningIdCharactersMax = 64
    static let messageCharactersMax = 200

    package let store: any DashboardStore
    package let options: DashboardOptions
    let sessions = Sessions()
    let audit: AuditLog
    let sender: CountyWarningSender
    let clock: @Sendable () -> Int64
    let logger: Logger
    private let pending = Mutex([String: (warning: PendingWarning, createdAtMilliseconds: Int64)]())

    package init(store: any DashboardStore, options: DashboardOptions, logger: Logger, clock: @escaping @Sendable () -> Int64) throws(DashboardConfigurationError) {
        self.store = store
        self.options = options
        self.logger = logger
        self.clock = clock
        audit = try AuditLog(path: options.auditPath)
        sender = CountyWarningSender()
    }

    // MARK: Routes

    package func router() -> Router<BasicRequestContext> {
        let router = Router()
        router.get("/") { request, _ in await self.page(request) { user in try await self.overview(user: user) } }
        router.get("/map") { request, _ in await self.page(request) { user in try await self.map(user: user) } }
        router.get("/stations/:id") { request, context in
            let id = context.parameters.get("id") ?? ""
            return await self.page(request) { user in try await self.station(id, user: user) }
        }
        router.get("/warnings") { request, _ in
            let chosen = request.uri.queryParameters.get("station").map { [$0] } ?? []
            return await self.page(request) { user in self.html(WarningPages.form(self.options.stations, chosen: chosen, problem: nil, user: user)) }
        }
        router.post("/warnings/confirm") { request, _ in
            let form = await Self.form(request)
            return await self.page(request) { user in self.confirm(form, user: user) }
        }
        router.post("/warnings/send") { request, _ in
            let form = await Self.form(request)
            return await self.page(request) { user in await self.send(form, user: user) }
        }
        router.get("/login") { _, _ in self.html(LoginPage.render(problem: nil)) }
        router.post("/login") { request, _ in await self.login(await Self.form(request)) }
        router.get("/logout") { request, _ in
            if let token = request.cookies[Self.sessionCookie]?.value { self.sessions.close(token: token) }
            return Response(status: .seeOther, headers: [.location: "/login", .setCookie: "\(Self.sessionCookie)=; Path=/; Max-Age=0"])
        }
        router.get("/healthz") { _, _ in "ok\n" }
        return router
    }

    /// Runs `body` for a known user (or anyone, when there is no login), and turns a store
    /// failure into a page that says what is wrong instead of a bare 500.
    func page(_ request: Request, _ body: (String?) async throws -> Response) async -> Response {
        var user: String?
        if options.users != nil {
            guard let token = request.cookies[Self.sessionCookie]?.value, let known = sessions.user(token: token, nowMilliseconds: clock()) else {
                return Response(status: .seeOther, headers: [.location: "/login"])
            }
            user = known
        }
        do {
            return try await body(user)
        } catch {
            logger.error("dashboard: \(request.uri.path): \(error)")
            return html(
                HTML.page(title: "出错", user: user, refresh: true, body: "<p class=\"error\">读取县级数据库失败：\(HTML.escape("\(error)"))</p>"),
                status: .internalServerError)
        }
    }

    func html(_ text: String, status: HTTPResponse.Status = .ok) -> Response {
        Response(
            status: status,
            headers: [.contentType: "text/html; charset=utf-8", .cacheControl: "no-store", HTTPField.Name("Content-Security-Policy")!: Self.contentSecurityPolicy],
            body: .init(byteBuffer: ByteBuffer(string: text)))
    }

    /// Nothing from elsewhere: the page works on a county LAN with no internet, and a payload
    /// a box sent cannot load anything even if escaping were ever wrong.
    static let contentSecurityPolicy = "default-src 'self'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src 'self' data:; form-action 'self'"

    // MARK: Pages

    package func overviewStates() async throws -> [StationState] {
        let snapshot = try await store.overview()
        return OverviewPage.states(snapshot, configured: options.stations, nowMilliseconds: clock(), silentAfterMilliseconds: options.silentAfterMilliseconds)
    }

    func overview(user: String?) async throws -> Response {
        let states = try await overviewStates()
        return html(OverviewPage.render(states, nowMilliseconds: clock(), silentAfterMilliseconds: options.silentAfterMilliseconds, user: user))
    }

    func map(user: String?) async throws -> Response {
        html(MapPage.render(try await overviewStates(), configured: options.stations, user: user))
    }

    func station(_ id: String, user: String?) async throws -> Response {
        guard let snapshot = try await store.station(id, windowMilliseconds: StationPage.windowMilliseconds) else {
            return html(HTML.page(title: "无此站", user: user, refresh: false, body: "<p class=\"error\">县级数据库里没有站 \(HTML.escape(id))。</p>"), status: .notFound)
        }
        let configured = options.stations.first { $0.id == id }
        let state = StationStateBuilder.state(
            row: snapshot.row, latest: snapshot.latest, callReports: snapshot.calls, sensorHealth: snapshot.sensorHealth, displayName: configured?.name,
            nowMilliseconds: clock(), silentAfterMilliseconds: options.silentAfterMilliseconds)
        return html(StationPage.render(snapshot, state: state, configured: configured, nowMilliseconds: clock(), user: user))
    }

    // MARK: Warnings

    /// Checks the form and shows what will be sent, with a one-time token for the send.
    func confirm(_ form: [String: [String]], user: String?) -> Response {
        let stations = form["station"] ?? []
        let cancel = form["action"]?.first == "cancel"
        let id = (form["id"]?.first ?? "").trimmingCharacters(in: .whitespaces)
        let message = (form["message"]?.first ?? "").trimmingCharacters(in: .whitespacesAndNewlines)
        let level = form["level"]?.first.flatMap(WarningLevel.init(name:))
        var problem: String?
        if stations.isEmpty { problem = "请至少选择一个站。" }
        let known = Set(options.stations.map(\.id))
        if let unknown = stations.first(where: { !known.contains($0) }) { problem = "站 \(unknown) 不在站点清单里。" }
        if id.isEmpty || id.count > Self.warningIdCharactersMax || id.unicodeScalars.contains(where: { $0.value <= 0x20 || $0.value == 0x7F }) {
            problem = "预警编号须为 1 至 \(Self.warningIdCharactersMax) 个字符，不含空格。"
        }
        if !cancel && (level == nil || level == WarningLevel.none) { problem = "请选择蓝、黄、橙或红色。" }
        if message.count > Self.messageCharactersMax { problem = "消息最多 \(Self.messageCharactersMax) 个字。" }
        if let problem {
            return html(WarningPages.form(options.stations, chosen: stations, problem: problem, user: user), status: .badRequest)
        }
        let warning = PendingWarning(
            id: id, level: cancel ? nil : level, message: message.isEmpty ? nil : message, cancel: cancel, stations: stations, user: user ?? "本机")
        var generator = SystemRandomNumberGenerator()
        let token = hexText((0..<16).map { _ in UInt8.random(in: 0...255, using: &generator) })
        let now = clock()
        pending.withLock { pending in
            pending = pending.filter { now - $0.value.createdAtMilliseconds < Self.pendingLifetimeMilliseconds }
            if pending.count >= Self.pendingMax, let oldest = pending.min(by: { $0.value.createdAtMilliseconds < $1.value.createdAtMilliseconds })?.key {
                pending[oldest] = nil
            }
            pending[token] = (warning, now)
        }
        return html(WarningPages.confirmation(warning, token: token, stations: options.stations, user: user))
    }

    func send(_ form: [String: [String]], user: String?) async -> Response {
        let token = form["token"]?.first ?? ""
        let now = clock()
        let taken = pending.withLock { pending -> PendingWarning? in
            guard let entry = pending.removeValue(forKey: token), now - entry.createdAtMilliseconds < Self.pendingLifetimeMilliseconds else { return nil }
            return entry.warning
        }
        // The same person who confirmed must send: a token is not a pass for someone else.
        guard let warning = taken, warning.user == (user ?? "本机") else {
            return html(WarningPages.form(options.stations, chosen: [], problem: "确认已过期或无效，请重新填写。", user: user), status: .badRequest)
        }
        let targets = options.stations.filter { warning.stations.contains($0.id) }
        var auditFailure: String?
        do {
            try audit.append(auditFields(warning, stage: "confirmed", at: now))
        } catch {
            // Nothing is sent that is not on record.
            auditFailure = error.description
        }
        if let auditFailure {
            logger.error("dashboard: \(auditFailure); warning \(warning.id) not sent")
            return html(
                HTML.page(title: "未发送", user: user, refresh: false, body: "<p class=\"error\">审计记录写不进去，预警没有发送：\(HTML.escape(auditFailure))</p>"),
                status: .internalServerError)
        }
        let deliveries = await sender.send(warning, to: targets, nowMilliseconds: clock)
        var fields = auditFields(warning, stage: "sent", at: clock())
        fields["results"] = deliveries.map { ["station": $0.station, "accepted": $0.accepted, "detail": $0.detail] as [String: Any] }
        var recorded = true
        do { try audit.append(fields) } catch {
            recorded = false
            logger.error("dashboard: \(error)")
        }
        for delivery in deliveries {
            logger.notice("dashboard: warning \(warning.id) by \(warning.user) to \(delivery.station): \(delivery.accepted ? "accepted" : "NOT accepted") \(delivery.detail)")
        }
        return html(WarningPages.result(warning, deliveries: deliveries, stations: options.stations, recorded: recorded, user: user))
    }

    func auditFields(_ warning: PendingWarning, stage: String, at milliseconds: Int64) -> [String: Any] {
        var fields: [String: Any] = [
            "stage": stage, "at_ms": milliseconds, "at": HTML.time(milliseconds), "user": warning.user, "id": warning.id,
            "stations": warning.stations, "cancel": warning.cancel,
        ]
        if let level = warning.level { fields["level"] = level.name }
        if let message = warning.message { fields["message"] = message }
        return fields
    }

    // MARK: Login

    func login(_ form: [String: [String]]) async -> Response {
        guard let users = options.users else { return Response(status: .seeOther, headers: [.location: "/"]) }
        let now = clock()
        guard sessions.mayTry(nowMilliseconds: now) else {
            return html(LoginPage.render(problem: "错误次数过多，请一分钟后再试。"), status: .tooManyRequests)
        }
        let name = form["user"]?.first ?? ""
        let password = form["password"]?.first ?? ""
        // PBKDF2 takes a while on purpose; off the event loop so other pages keep answering.
        let matches = await Task.detached { users[name]?.matches(password: password) ?? false }.value
        guard matches else {
            sessions.recordFailure(nowMilliseconds: now)
            logger.warning("dashboard: failed login for \(name)")
            return html(LoginPage.render(problem: "用户名或密码不对。"), status: .unauthorized)
        }
        let token = sessions.open(user: name, nowMilliseconds: now)
        logger.notice("dashboard: \(name) logged in")
        return Response(
            status: .seeOther,
            headers: [.location: "/", .setCookie: "\(Self.sessionCookie)=\(token); Path=/; HttpOnly; SameSite=Strict; Max-Age=\(Sessions.lifetimeMilliseconds / 1_000)"])
    }

    // MARK: Forms

    /// An `application/x-www-form-urlencoded` body: each name with all its values, in order.
    static func form(_ request: Request) async -> [String: [String]] {
        guard let buffer = try? await request.body.collect(upTo: formBytesMax) else { return [:] }
        return parseForm(String(buffer: buffer))
    }

    package static func parseForm(_ text: String) -> [String: [String]] {
        var fields: [String: [String]] = [:]
        for pair in text.split(separator: "&") {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            func decode(_ part: Substring) -> String {
                part.replacingOccurrences(of: "+", with: " ").removingPercentEncoding ?? ""
            }
            guard let name = parts.first.map(decode), !name.isEmpty else { continue }
            fields[name, default: []].append(parts.count > 1 ? decode(parts[1]) : "")
        }
        return fields
    }

    // MARK: Running

    /// The dashboard's connection limits: a county office has a few screens, each browser opening
    /// up to six connections; a slow or idle client (or many) must not hold the server's descriptors.
    /// The overview reloads every `HTML.refreshSeconds`, on a new connection if its old one idled out.
    package static let connectionLimits: APIConnectionLimits = {
        var limits = APIConnectionLimits.standard
        limits.connectionsMax = 64
        limits.headerTimeoutMilliseconds = 10_000
        // A form is at most `formBytesMax`; on a LAN that takes well under a second.
        limits.bodyTimeoutMilliseconds = 10_000
        limits.idleTimeoutMilliseconds = 15_000
        return limits
    }()
    /// Header fields and their sizes: a browser sends a dozen lines and one session cookie.
    static let headerFieldBytesMax = 8 * 1024
    static let headerListBytesMax = 32 * 1024
    static let headerFieldsMax = 64

    /// Serves until cancelled; `onListening` gets the bound port (port 0: any free one).
    /// `registry`: the tests pass their own to watch the open connections (its limits are used).
    package func run(
        host: String, port: Int, registry given: APIConnectionRegistry? = nil, onListening: @escaping @Sendable (Int) -> Void
    ) async throws {
        let registry = given ?? APIConnectionRegistry(limits: Self.connectionLimits)
        let server = HTTPServerBuilder.http1(configuration: HTTP1Channel.Configuration(
            additionalChannelHandlers: [APIConnectionGuard(registry: registry)], idleTimeout: nil,
            httpDecoderConfiguration: .init(
                maxHeaderFieldSize: Self.headerFieldBytesMax, maxHeaderListSize: Self.headerListBytesMax, maxHeaderFieldCount: Self.headerFieldsMax)))
        let app = Application(
            router: router(),
            server: server,
            configuration: .init(address: .hostname(host, port: port), serverName: nil, backlog: registry.limits.backlog),
            onServerRunning: { channel in onListening(channel.localAddress?.port ?? port) },
            logger: logger)
        // SIGTERM, SIGINT or the caller's cancellation (the tests') stop it gracefully: stop
        // accepting, let a page in flight finish, cut the rest after a bound. Cancelling the server
        // outright drops connections still queued for it, which NIO traps on (as the box's API).
        var configuration = ServiceGroupConfiguration(services: [app], gracefulShutdownSignals: [.sigterm, .sigint], logger: logger)
        configuration.maximumGracefulShutdownDuration = .milliseconds(Self.shutdownGraceMillisecondsMax)
        let group = ServiceGroup(configuration: configuration)
        let runner = Task { try await group.run() }
        try await withTaskCancellationHandler {
            try await runner.value
        } onCancel: {
            Task { await group.triggerGracefulShutdown() }
        }
    }

    /// A page being drawn when the server is stopped gets this long to finish.
    static let shutdownGraceMillisecondsMax: Int64 = 2_000
}
