// Where the county database is and what went wrong with it, shared by the pull's stores
// (`village-county pull`) and the dashboard's (`village-county serve`): a SQLite path or a
// `postgres://` URL, and failures told in a line a technician can act on.
import Foundation
import GRDB
import Logging
import NIOSSL
import PostgresNIO

/// Where the database is, read from `postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE[?sslmode=…]`
/// or, on a unix socket as libpq writes it, `postgres://USER@/DATABASE?host=/run/postgresql`.
package struct PostgresLocation: Sendable, Equatable {
    package var username: String
    package var password: String?
    package var database: String
    /// A TCP host, or nil for the socket in `socketDirectory`.
    package var host: String?
    package var port: Int
    package var socketDirectory: String?
    package var sslMode: SSLMode

    package enum SSLMode: String, Sendable, CaseIterable {
        /// As libpq: TLS when the server offers it.
        case prefer
        case require
        case disable
    }

    package init(
        username: String, password: String?, database: String, host: String?, port: Int, socketDirectory: String?, sslMode: SSLMode
    ) {
        self.username = username
        self.password = password
        self.database = database
        self.host = host
        self.port = port
        self.socketDirectory = socketDirectory
        self.sslMode = sslMode
    }

    package static let parameters = ["host", "sslmode"]
    package static let urlCharactersMax = 1_024

    package static func parse(_ text: String) throws(CountyDatabaseError) -> PostgresLocation {
        func refuse(_ detail: String) -> CountyDatabaseError {
            CountyDatabaseError(
                path: redacted(text),
                detail: detail + "; write postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE, or postgres://USER@/DATABASE?host=/run/postgresql for a socket")
        }
        guard text.utf8.count <= urlCharactersMax else { throw refuse("the URL is over \(urlCharactersMax) characters") }
        guard let components = URLComponents(string: text), let scheme = components.scheme,
            ["postgres", "postgresql"].contains(scheme)
        else { throw refuse("not a PostgreSQL URL") }
        guard let username = components.user, !username.isEmpty else { throw refuse("no user name") }
        let database = String(components.path.drop(while: { $0 == "/" }))
        guard !database.isEmpty, !database.contains("/") else { throw refuse("no database name after the host") }
        var location = PostgresLocation(
            username: username, password: components.password, database: database, host: nil, port: components.port ?? 5432,
            socketDirectory: nil, sslMode: .prefer)
        guard (1...65_535).contains(location.port) else { throw refuse("port \(location.port) is not 1 to 65535") }
        var sslMode: SSLMode?
        for item in components.queryItems ?? [] {
            switch item.name {
            case "host":
                guard let value = item.value, value.hasPrefix("/") else { throw refuse("host= takes the folder of the server's socket, e.g. /run/postgresql") }
                location.socketDirectory = value
            case "sslmode":
                guard let value = item.value, let mode = SSLMode(rawValue: value) else {
                    throw refuse("sslmode=\(item.value ?? ""): allowed \(SSLMode.allCases.map(\.rawValue).joined(separator: ", "))")
                }
                sslMode = mode
            default:
                throw refuse("unknown parameter \"\(item.name)\"; allowed: \(parameters.joined(separator: ", "))")
            }
        }
        let host = components.host ?? ""
        if location.socketDirectory == nil {
            guard !host.isEmpty else { throw refuse("no host") }
            location.host = host
        } else if !host.isEmpty {
            throw refuse("both a host (\(host)) and a socket folder (host=) are given")
        }
        // A socket never leaves the machine: TLS on it buys nothing, and servers refuse it there.
        location.sslMode = sslMode ?? (location.socketDirectory == nil ? .prefer : .disable)
        return location
    }

    /// The URL as it can be printed: the password replaced by `***`.
    package static func redacted(_ text: String) -> String {
        guard var components = URLComponents(string: text), components.password != nil else { return text }
        components.password = "***"
        return components.string ?? "postgres://(unprintable URL)"
    }

    package func configuration() throws(CountyDatabaseError) -> PostgresClient.Configuration {
        if let socketDirectory {
            guard sslMode != .require else {
                throw CountyDatabaseError(path: description, detail: "sslmode=require on a socket: a socket is local, drop sslmode or use a host")
            }
            return PostgresClient.Configuration(
                unixSocketPath: "\(socketDirectory)/.s.PGSQL.\(port)", username: username, password: password, database: database)
        }
        let tls: PostgresClient.Configuration.TLS
        switch sslMode {
        case .disable: tls = .disable
        case .prefer: tls = .prefer(.makeClientConfiguration())
        case .require: tls = .require(.makeClientConfiguration())
        }
        return PostgresClient.Configuration(host: host ?? "localhost", port: port, username: username, password: password, database: database, tls: tls)
    }

    /// The same place for one connection of its own (`PostgresConnection`).
    package func connectionConfiguration() throws(CountyDatabaseError) -> PostgresConnection.Configuration {
        if let socketDirectory {
            return PostgresConnection.Configuration(
                unixSocketPath: "\(socketDirectory)/.s.PGSQL.\(port)", username: username, password: password, database: database)
        }
        let tls: PostgresConnection.Configuration.TLS
        do {
            switch sslMode {
            case .disable: tls = .disable
            case .prefer: tls = .prefer(try NIOSSLContext(configuration: .makeClientConfiguration()))
            case .require: tls = .require(try NIOSSLContext(configuration: .makeClientConfiguration()))
            }
        } catch {
            throw CountyDatabaseError(path: description, detail: "cannot set up TLS: \(error)")
        }
        return PostgresConnection.Configuration(host: host ?? "localhost", port: port, username: username, password: password, database: database, tls: tls)
    }

    package var description: String {
        let at = socketDirectory.map { "@/\(database)?host=\($0)" } ?? "@\(host ?? ""):\(port)/\(database)"
        return "postgres://\(username)\(password == nil ? "" : ":***")\(at)"
    }
}

extension PostgresLocation {
    /// Runs `body` on a connection of its own to `database` (this URL's when nil), closed after.
    /// Runs on the caller's actor (`isolation`), so `body` may use the caller's state.
    package func withConnection<T: Sendable>(
        database: String? = nil, logger: Logger, isolation: isolated (any Actor)? = #isolation, _ body: (PostgresConnection) async throws -> T
    ) async throws -> T {
        var configuration = try connectionConfiguration()
        if let database { configuration.database = database }
        let connection = try await PostgresConnection.connect(configuration: configuration, id: 1, logger: logger)
        do {
            let result = try await body(connection)
            try await connection.close()
            return result
        } catch {
            try? await connection.close()
            throw error
        }
    }
}

/// A county database failure, with what to do about it.
package struct CountyDatabaseError: Error, CustomStringConvertible, Equatable {
    package var path: String
    package var detail: String

    package init(path: String, detail: String) {
        self.path = path
        self.detail = detail
    }

    package init(path: String, _ error: any Error, opening: Bool) {
        self.path = path
        if let known = error as? CountyDatabaseError {
            self = known
            return
        }
        guard let databaseError = error as? DatabaseError else {
            detail = "\(error)"
            return
        }
        let message = databaseError.message ?? "\(databaseError.resultCode)"
        switch databaseError.resultCode {
        case .SQLITE_FULL: detail = "the disk is full (\(message)); free space and pull again, nothing stored was lost"
        case .SQLITE_READONLY: detail = "the database is read-only (\(message)); check the file's and folder's permissions"
        case .SQLITE_CORRUPT, .SQLITE_NOTADB:
            detail = "the file is damaged or not a county database (\(message)); give a new path, keep this file for recovery"
        case .SQLITE_CANTOPEN, .SQLITE_PERM:
            detail = "cannot open it (\(message)); check that the folder exists and is writable"
        case .SQLITE_BUSY, .SQLITE_LOCKED:
            detail = "another program held the database locked for over \(Int(Self.busyTimeoutSeconds)) s (\(message)); is another pull running?"
        default:
            detail = (opening ? "cannot open it: " : "") + message
        }
    }

    package var description: String { "county database \(path): \(detail)" }
}

extension CountyDatabaseError {
    /// Another process (the county's own tools, a second pull) may hold the write lock briefly.
    package static let busyTimeoutSeconds: TimeInterval = 30
}

extension CountyDatabaseError {
    /// A PostgreSQL failure with the server's own message (PSQLError's description is only
    /// "Database error" by design, to keep queries out of logs).
    package init(path: String, postgres error: any Error) {
        self.init(path: path, detail: "")
        if let known = error as? CountyDatabaseError {
            self = known
            return
        }
        if let transactionError = error as? PostgresTransactionError {
            let inner: (any Error)? = transactionError.closureError ?? transactionError.commitError ?? transactionError.beginError
            if let inner {
                self.init(path: path, postgres: inner)
                return
            }
        }
        guard let psql = error as? PSQLError else {
            detail = "\(error)"
            return
        }
        if let message = psql.serverInfo?[.message] {
            let state = psql.serverInfo?[.sqlState] ?? ""
            switch state {
            case "53100": detail = "the server's disk is full (\(message)); free space and pull again, nothing stored was lost"
            case "28P01", "28000": detail = "the server refused the login (\(message)); check the user and password in the URL"
            case "3D000": detail = "\(message); create it (createdb) or fix the name in the URL"
            default: detail = message + (state.isEmpty ? "" : " (SQLSTATE \(state))")
            }
            return
        }
        switch psql.code {
        case .connectionError, .serverClosedConnection, .clientClosedConnection:
            detail = "cannot reach the server (\(psql.underlying.map { "\($0)" } ?? "\(psql.code)")); is PostgreSQL running, and is the host or socket right?"
        default:
            detail = "\(psql.code)" + (psql.underlying.map { ": \($0)" } ?? "")
        }
    }
}
