// `village-county serve`: the county's dashboard in the browser (issue 17), over the database
// `pull` fills. `village-county password NAME`: a line for the dashboard's users file.
import ArgumentParser
import ConfigurationFiles
import CountyDashboard
import Foundation
import Logging

struct ServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Serve the county's dashboard (HTML, no internet needed) over the county database.",
        discussion: """
            Open http://ADDR/ in a browser: every station most severe first, each station's last \
            72 hours, a map of the stations with coordinates, and county warnings sent to boxes \
            (signed with each box's key, after a confirmation, written to the audit log).

            On a loopback address anyone at the county server may use it. On any other address \
            --users is required: a file of `NAME HASH` lines made by `village-county password NAME`; \
            every warning sent is recorded with the name of who sent it.
            """
    )

    @Option(help: ArgumentHelp("The county database that `village-county pull` writes: a SQLite file or a postgres:// URL.", valueName: "file|url"))
    var db: String

    @Option(help: ArgumentHelp("Where to listen, host:port (port 0: any free port).", valueName: "host:port"))
    var listen: String = "127.0.0.1:8650"

    @Option(help: ArgumentHelp("The stations file: names as configured, map coordinates, and the keys warnings are signed with.", valueName: "file"))
    var stations: String?

    @Option(help: ArgumentHelp("The users file (NAME HASH lines); required off loopback.", valueName: "file"))
    var users: String?

    @Option(help: ArgumentHelp("The audit log of warnings sent (JSON lines); default beside the database.", valueName: "file"))
    var audit: String?

    @Option(help: ArgumentHelp("A box not reached by a pull for this many minutes is shown as silent.", valueName: "minutes"))
    var silentAfter: Int = 15

    @Option(help: ArgumentHelp("Write the bound port here once listening (for scripts and tests).", valueName: "file"))
    var portFile: String?

    static let silentAfterAllowed = 1...10_080

    func validate() throws {
        guard Self.silentAfterAllowed.contains(silentAfter) else {
            throw ValidationError("--silent-after \(silentAfter): allowed \(Self.silentAfterAllowed.lowerBound) to \(Self.silentAfterAllowed.upperBound) minutes")
        }
        guard Self.hostAndPort(listen) != nil else {
            throw ValidationError("--listen \(listen): write host:port, e.g. 127.0.0.1:8650 or 0.0.0.0:8650 (then --users is required)")
        }
    }

    static func hostAndPort(_ text: String) -> (host: String, port: Int)? {
        guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]), (0...65_535).contains(port) else { return nil }
        var host = String(text[..<colon])
        if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        return host.isEmpty ? nil : (host, port)
    }

    static func isLoopback(_ host: String) -> Bool {
        host == "localhost" || host == "::1" || host.hasPrefix("127.")
    }

    func run() async throws {
        let (host, port) = Self.hostAndPort(listen)!
        var options = DashboardOptions(auditPath: audit ?? db + ".audit.jsonl")
        options.silentAfterMilliseconds = Int64(silentAfter) * 60_000
        if let users {
            do {
                let text = try String(contentsOfFile: users, encoding: .utf8)
                options.users = try UsersFile.parse(text, file: users)
            } catch let error as DashboardConfigurationError {
                printError(error.description)
                throw ExitCode(2)
            } catch {
                printError("users file \(users): cannot read it (\(error.localizedDescription))")
                throw ExitCode(2)
            }
            if options.users?.isEmpty == true {
                printError("users file \(users): no users; add a line with `village-county password NAME >> \(users)`")
                throw ExitCode(2)
            }
        } else if !Self.isLoopback(host) {
            printError("--listen \(listen) is reachable from other machines: give --users FILE (lines from `village-county password NAME`), or listen on 127.0.0.1")
            throw ExitCode(2)
        }
        if let stations {
            do {
                options.stations = try StationsFile.load(path: stations)
            } catch {
                printError(error.description)
                printError("\(stations): not accepted; the dashboard did not start")
                throw ExitCode(2)
            }
        }
        let store: any DashboardStore
        do {
            store = try await Self.openStore(db)
        } catch {
            printError("\(error)")
            throw ExitCode(2)
        }
        var logger = Logger(label: "village-county.serve")
        logger.logLevel = .notice
        let dashboard: Dashboard
        do {
            dashboard = try Dashboard(store: store, options: options, logger: logger, clock: wallClockMilliseconds)
        } catch {
            printError(error.description)
            throw ExitCode(2)
        }
        let portFile = portFile
        let shownHost = host.contains(":") ? "[\(host)]" : host
        do {
            try await dashboard.run(host: host, port: port) { bound in
                if let portFile {
                    try? "\(bound)\n".write(toFile: portFile, atomically: true, encoding: .utf8)
                }
                printError("dashboard listening on http://\(shownHost):\(bound)/ (database \(PostgresLocation.redacted(db)))")
            }
        } catch {
            printError("dashboard stopped: \(error)")
            throw ExitCode(1)
        }
    }
}

extension ServeCommand {
    /// The dashboard's store over `location`, after the county's own store has migrated it as
    /// `pull` does (the dashboard's index is part of the migration). A SQLite file must exist:
    /// serving an empty new file would only show a blank overview for a mistyped path.
    static func openStore(_ location: String) async throws -> any DashboardStore {
        if CountyStores.isPostgres(location) {
            let county = try await CountyStores.open(location)
            await county.close()
            return try await PostgresDashboardStore.open(url: location)
        }
        guard FileManager.default.fileExists(atPath: location) else {
            throw DashboardStoreError(description: "county database \(location): no such file; give the --db that `village-county pull` writes")
        }
        _ = try CountyDatabase(path: location)
        return try SQLiteDashboardStore(path: location)
    }
}

struct PasswordCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "password",
        abstract: "Print a users-file line for the dashboard: NAME and the salted hash of a password read from stdin.",
        discussion: "Append it to the users file: `village-county password 张三 >> /etc/village-county/users`."
    )

    @Argument(help: "The person's login name (no spaces).")
    var name: String

    @Option(help: ArgumentHelp("PBKDF2 rounds (tests use fewer).", valueName: "n"))
    var rounds: Int = PasswordHash.roundsDefault

    func validate() throws {
        guard UsersFile.nameCharacters.contains(name.count), !name.contains(where: \.isWhitespace) else {
            throw ValidationError("the name must be 1 to \(UsersFile.nameCharacters.upperBound) characters without spaces")
        }
        guard PasswordHash.roundsAllowed.contains(rounds) else {
            throw ValidationError("--rounds \(rounds): allowed \(PasswordHash.roundsAllowed.lowerBound) to \(PasswordHash.roundsAllowed.upperBound)")
        }
    }

    func run() throws {
        guard let password = readLine(strippingNewline: true), PasswordHash.passwordCharacters.contains(password.count) else {
            printError("give the password on stdin, \(PasswordHash.passwordCharacters.lowerBound) to \(PasswordHash.passwordCharacters.upperBound) characters")
            throw ExitCode(64)
        }
        print("\(name) \(PasswordHash.make(password: password, rounds: rounds))")
    }
}
