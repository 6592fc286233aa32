// County warnings from the dashboard: `POST /v1/warnings` to each chosen box, signed with that
// box's key, after a confirmation step; every attempt written to the audit log with who sent it.
import AsyncHTTPClient
import CountyProtocol
import Foundation
import NIOCore
import Synchronization
import WarningLogic

/// A warning the officer asked for and has not yet confirmed.
package struct PendingWarning: Sendable, Equatable {
    package var id: String
    package var level: WarningLevel?
    package var message: String?
    package var cancel: Bool
    package var stations: [String]
    package var user: String
}

/// What one box answered.
package struct WarningDelivery: Sendable, Equatable {
    package var station: String
    package var accepted: Bool
    package var detail: String
}

/// The audit log: JSON lines, appended and fsynced before the dashboard says "sent", so a
/// warning that reached a box is always on record with its sender.
package final class AuditLog: Sendable {
    package let path: String
    private let lock = Mutex(())

    package init(path: String) throws(DashboardConfigurationError) {
        self.path = path
        let descriptor = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0o640)
        guard descriptor >= 0 else {
            throw DashboardConfigurationError(
                description: "audit log \(path): cannot open it for appending (\(String(cString: strerror(errno)))); check the folder and its permissions")
        }
        close(descriptor)
    }

    package func append(_ fields: [String: Any]) throws(DashboardConfigurationError) {
        var line = (try? JSONSerialization.data(withJSONObject: fields, options: [.sortedKeys, .withoutEscapingSlashes])) ?? Data("{}".utf8)
        line.append(0x0A)
        let result: Int32 = lock.withLock { _ in
            let descriptor = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0o640)
            guard descriptor >= 0 else { return errno }
            defer { close(descriptor) }
            let written = line.withUnsafeBytes { write(descriptor, $0.baseAddress, $0.count) }
            guard written == line.count else { return written < 0 ? errno : EIO }
            return fsync(descriptor) == 0 ? 0 : errno
        }
        guard result == 0 else {
            throw DashboardConfigurationError(description: "audit log \(path): cannot append (\(String(cString: strerror(result))))")
        }
    }
}

package final class CountyWarningSender: Sendable {
    /// Boxes warned at once: a warning to a whole county must not open hundreds of connections.
    package static let concurrencyMax = 16
    package static let timeoutMilliseconds: Int64 = 10_000
    /// What the box's API reads at most from an answer we keep for the page.
    static let answerBytesMax = 16 * 1024

    package init() {}

    /// One client per warning, shut down after it: warnings are rare, and nothing is left open
    /// between them.
    package func send(_ warning: PendingWarning, to stations: [DashboardStation], nowMilliseconds: @escaping @Sendable () -> Int64) async -> [WarningDelivery] {
        let body = Self.body(warning)
        var configuration = HTTPClient.Configuration(
            timeout: .init(connect: .milliseconds(Self.timeoutMilliseconds), read: .milliseconds(Self.timeoutMilliseconds)))
        configuration.redirectConfiguration = .disallow
        let client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
        let results = await send(body, to: stations, client: client, nowMilliseconds: nowMilliseconds)
        try? await client.shutdown()
        return results
    }

    func send(_ body: [UInt8], to stations: [DashboardStation], client: HTTPClient, nowMilliseconds: @escaping @Sendable () -> Int64) async -> [WarningDelivery] {
        await withTaskGroup(of: WarningDelivery.self) { group in
            var results: [WarningDelivery] = []
            var iterator = stations.makeIterator()
            var running = 0
            while running < Self.concurrencyMax, let station = iterator.next() {
                group.addTask { await self.sendOne(body, to: station, client: client, nowMilliseconds: nowMilliseconds()) }
                running += 1
            }
            while let result = await group.next() {
                results.append(result)
                if let station = iterator.next() {
                    group.addTask { await self.sendOne(body, to: station, client: client, nowMilliseconds: nowMilliseconds()) }
                }
            }
            return results.sorted { $0.station < $1.station }
        }
    }

    package static func body(_ warning: PendingWarning) -> [UInt8] {
        let request = warning.cancel
            ? CountyWarningRequest(id: warning.id, cancel: true)
            : CountyWarningRequest(id: warning.id, level: warning.level?.name, message: warning.message)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return Array((try? encoder.encode(request)) ?? Data())
    }

    func sendOne(_ body: [UInt8], to station: DashboardStation, client: HTTPClient, nowMilliseconds: Int64) async -> WarningDelivery {
        let key: SigningKey
        do {
            key = try SigningKey.load(path: station.keyFile)
        } catch {
            return WarningDelivery(station: station.id, accepted: false, detail: "密钥不可用：\(error.description)")
        }
        let path = "/v1/warnings"
        let base = station.url.hasSuffix("/") ? String(station.url.dropLast()) : station.url
        var request = HTTPClientRequest(url: base + path)
        request.method = .POST
        for header in RequestSignature.headers(
            key: key, method: "POST", pathAndQuery: path, station: station.id, timestampMilliseconds: nowMilliseconds, body: body)
        {
            request.headers.add(name: header.name, value: header.value)
        }
        request.headers.add(name: "Content-Type", value: "application/json")
        request.headers.add(name: "Accept", value: "application/json")
        request.body = .bytes(ByteBuffer(bytes: body))
        do {
            let response = try await client.execute(request, timeout: .milliseconds(Self.timeoutMilliseconds))
            let answer = try await response.body.collect(upTo: Self.answerBytesMax)
            let text = String(buffer: answer)
            if response.status.code == 202 || response.status.code == 200 {
                return WarningDelivery(station: station.id, accepted: true, detail: "盒子已接受（HTTP \(response.status.code)）")
            }
            return WarningDelivery(station: station.id, accepted: false, detail: "盒子拒绝（HTTP \(response.status.code)）：\(text)")
        } catch {
            return WarningDelivery(station: station.id, accepted: false, detail: "无法送达 \(base)：\(error)")
        }
    }
}
