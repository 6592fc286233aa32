// The county side of `run`: the tasks that store summaries, keep the outbox and serve the pull API,
// kept here so RunCommand only wires them in.
import Foundation
import Logging
import TimeSeam
import WarningLogic

enum CountyRuntime {
    /// Outbox care (retry, purge, size limit, the backlog `status` shows) this often, wall time.
    static let maintenanceEveryMilliseconds: Int64 = 30_000

    /// Stores the summaries the owner's loop handed over, until cancelled.
    static func storeSummaries(_ feed: SummaryFeed, into sink: any ReportSink) async {
        for await summary in feed.summaries {
            await sink.store([ObservationSummariser.report(summary)])
        }
    }

    /// Runs the outbox's maintenance and publishes its backlog, until cancelled.
    static func maintain(_ service: OutboxService, clock: any GatewayClock, published: PublishedStatus, utcOffsetMinutes: Int) async {
        while !Task.isCancelled {
            await service.maintain(at: clock.now())
            if let backlog = await service.backlog(), let last = try? service.outbox.lastSequence() {
                published.updateBacklog(StatusBacklog(backlog, lastSequence: last, utcOffsetMinutes: utcOffsetMinutes))
            }
            // Wall time by design: it bounds the disk work a scenario at 86400x would otherwise
            // multiply; what is kept or dropped is decided by the box's time above.
            await SystemClock().sleep(milliseconds: maintenanceEveryMilliseconds)
        }
    }

    /// The pull API for `[county.api]`, or nil (logged critical with what to do) when its key
    /// cannot be loaded or there is no outbox: the box never serves without its key.
    static func api(
        gateway: GatewayConfiguration, configurationFile: String, stateDirectory: String, service: OutboxService?, events: any EventSink,
        clock: any GatewayClock, published: PublishedStatus, logger: Logger
    ) -> (api: CountyAPI, host: String, port: Int)? {
        guard let settings = gateway.county.api else { return nil }
        guard let service else {
            logger.critical("county API not started: there is no outbox to serve (see the outbox error above). Warnings continue.")
            return nil
        }
        let keyPath = resolve(settings.keyFile, besides: configurationFile)
        let key: SigningKey
        do {
            key = try SigningKey.load(path: keyPath)
        } catch {
            logger.critical("county API not started: \(error.description). Warnings continue; the county cannot pull until the key is fixed and the daemon restarted.")
            return nil
        }
        let station = gateway.engine.station
        let wallClockMilliseconds: @Sendable () -> Int64 = { SystemClock().now().millisecondsSinceUnixEpoch }
        let verifier = RequestVerifier.withJournal(
            station: station.id, key: key, clockSkewMillisecondsMax: settings.clockSkewMillisecondsMax, stateDirectory: stateDirectory,
            nowMilliseconds: wallClockMilliseconds(), logger: logger)
        let environment = CountyAPIEnvironment(
            configuration: gateway.engine, county: gateway.county, outbox: service.outbox, outboxWriter: service,
            verifier: verifier,
            events: events, boxClock: clock, wallClockMilliseconds: wallClockMilliseconds,
            status: {
                let status = published.report()
                return status.station == nil ? nil : status
            },
            logger: logger)
        return (CountyAPI(environment: environment), settings.host, settings.port)
    }

    /// The push for `[county.push]` / `[county.sl651]`, or nil when neither is configured or it
    /// cannot start (logged critical with what to fix): warnings and the pull API go on without it.
    static func push(
        gateway: GatewayConfiguration, configurationFile: String, service: OutboxService?, registration: (any NetworkRegistrationProbe)?,
        clock: any GatewayClock, logger: Logger, sl651Commands: SL651CommandSources = .none
    ) -> PushService? {
        var county = gateway.county
        guard county.httpPush != nil || county.sl651Push != nil else { return nil }
        guard let service else {
            logger.critical("county push not started: there is no outbox to push from (see the outbox error above). Warnings continue.")
            return nil
        }
        if let keyFile = county.httpPush?.keyFile { county.httpPush?.keyFile = resolve(keyFile, besides: configurationFile) }
        var frames: SL651FrameBuilder?
        if county.sl651Push != nil {
            do {
                let maker = try SL651FrameMaker(configuration: gateway.engine, county: county, outbox: service.outbox, logger: logger)
                frames = { stored, serial, sendTime in maker.frame(for: stored, serialNumber: serial, sendTime: sendTime) }
            } catch {
                logger.critical("county SL 651 push not started: \(error.description). Warnings continue.")
                county.sl651Push = nil
                if county.httpPush == nil { return nil }
            }
        }
        do {
            return try PushService(
                outbox: service.outbox, writer: service, configuration: county, station: gateway.engine.station, clock: clock, logger: logger,
                registration: registration, sl651Frames: frames, sl651Commands: sl651Commands)
        } catch {
            logger.critical("county push not started: \(error.description). Warnings continue; the county can still pull.")
            return nil
        }
    }

    /// (Issue 18) Watches the kernel's view of the uplink (rtnetlink) until cancelled: an uplink
    /// interface up, an address, a default route appearing ends the push's backoff at once.
    /// A box where rtnetlink cannot be opened still pushes (probe and retry timer), logged.
    static func watchKernelLink(_ push: PushService, interfaces: [String], clock: any GatewayClock, logger: Logger) async {
        let signals = push.signals
        let watcher: RouteNetlinkWatcher
        do {
            watcher = try RouteNetlinkWatcher.start(interfaceNames: interfaces) { detail in
                signals.raise(LinkSignal(source: .kernel, detail: detail, time: clock.now()))
            }
        } catch {
            logger.error("county push: the kernel's link changes cannot be watched (\(error.description)); the probe and the retry timer still notice a returning link")
            return
        }
        logger.info("county push: watching rtnetlink for \(interfaces.joined(separator: ", ")) and the default route")
        while !Task.isCancelled { await SystemClock().sleep(milliseconds: Milliseconds.hour) }  // parked until cancelled
        watcher.stop()
    }

    /// (Issue 18) The modem's registration: when its +CREG/+CGREG/+CEREG reports (turned on at
    /// modem start), or the minute's read, say it is registered for data again, the push's
    /// backoff ends at once. A box without a modem has no such signal.
    static func watchModemRegistration(signals: LinkSignals, outputs: HardwareOutputs, clock: any GatewayClock) {
        outputs.observeModemNetworkReturn { detail in
            signals.raise(LinkSignal(source: .modem, detail: detail, time: clock.now()))
        }
    }

    /// What the centre's SL 651 commands are answered from: the summariser's current values (37H),
    /// the outbox's stored summaries (38H), and the box's clock setter (4AH; it refuses on the
    /// simulated board and on a board with an RTC, and the refusal is logged with the step).
    static func sl651CommandSources(summaries feed: SummaryFeed, service: OutboxService?, clockSetter: any BoxClockSetting, logger: Logger) -> SL651CommandSources {
        SL651CommandSources(
            current: { feed.current() },
            summaries: { from, through, limit in
                guard let outbox = service?.outbox else { return [] }
                do {
                    return try outbox.reports(kind: ObservationSummary.kind, from: from, through: through, limit: limit).compactMap { stored in
                        let content = stored.content
                        if let damage = content.damage {
                            logger.error("SL 651 time-range query: report \(stored.sequence) is left out, it is damaged: \(damage)")
                        }
                        return content.observationSummary
                    }
                } catch {
                    logger.error("SL 651 time-range query: the outbox could not be read: \(error)")
                    return []
                }
            },
            setClock: { clockSetter.setClock(to: $0) })
    }

    /// A relative key file is found beside the configuration file, as a technician reading the
    /// file would expect; an absolute one as written.
    static func resolve(_ path: String, besides configurationFile: String) -> String {
        guard !path.hasPrefix("/") else { return path }
        let directory = URL(fileURLWithPath: configurationFile).deletingLastPathComponent().path
        return directory + "/" + path
    }
}
