// swift-tools-version:6.2
// VillageGateway: a village flash-flood and landslide warning gateway for ARM Linux boards.
import PackageDescription

// `make fuzz` builds with VG_FUZZ=1 into .build-fuzz: our own modules get libFuzzer's coverage
// and the address sanitizer, the dependencies are built as usual. Instrumenting them as well
// (`swift build -Xswiftc -sanitize=fuzzer,address`) works too, but doubles the cold build and
// floods the coverage signal with NIO's and GRDB's internals. See Fuzz/README.md.
let fuzzing = Context.environment["VG_FUZZ"] == "1"
let fuzzSanitizers = "-sanitize=fuzzer,address"

// Every target of ours is held to "no warnings": a warning is a build error.
let strict: [SwiftSetting] = [.treatAllWarnings(as: .error)] + (fuzzing ? [.unsafeFlags([fuzzSanitizers])] : [])
// The fuzzing binary links libFuzzer and exports its driver, which `village-gateway fuzz` calls
// (lld: gold fails on the sanitized objects).
let fuzzLinking: [LinkerSetting] =
    fuzzing ? [.unsafeFlags([fuzzSanitizers, "-use-ld=lld", "-Xlinker", "--export-dynamic-symbol=LLVMFuzzerRunDriver"])] : []
// The box's release link (issue 13, footprint: Benchmarks/Footprint/run.py prints the figures).
// With the Swift runtime static (as tools/flash.sh builds it) the loader reads 3.4 MB of relative
// relocations and 2.4 MB of dynamic symbols at every start, and they stay resident: lld packs the
// relocations (RELR, 28 KB; glibc 2.36, Debian 12, or newer runs it) and --no-export-dynamic drops
// the export of the program's own symbols that static-stdlib-args.lnk asks for (nothing looks them
// up: the Swift runtime finds its metadata through swiftrt.o's sections; a crash's addresses are
// named offline from the unstripped build). Steady RSS on the soak's job: 36.3 -> 30.9 MiB (x86_64).
// A board whose glibc is older than 2.36 (an Ubuntu 22.04 based image) cannot load packed
// relocations: build for it with VG_PACKED_RELOCATIONS=0 (tools/flash.sh checks the board's glibc
// and says so).
//
// The functions the box runs on that job, from its start through its steady state, come first and
// together in .text (Benchmarks/Footprint/function-order.txt, made by order_functions.py beside it
// from a run under valgrind): the kernel maps code 64 KiB around each page touched, so a few
// thousand functions scattered over 30 MB kept 18 MB resident. With tools/board-build-flags'
// function sections (every board build): 31.5 -> 22.3 MiB (the order alone: 24.2). The list must
// come from a run that reaches the observation summary (order_functions.py --summary-every): a
// list without it left a one-time step of 1.2 MiB of code at the first summary. The hourly
// summary's series path, which 5-minute summaries never run, is in the list from an earlier long
// run (--keep); a 68-minute run at the default period added nothing else, and the first hourly
// summary is still a one-time step of 0.5-0.8 MiB either way (2-hour soak: 22.8 -> 23.7). A stale list
// does no harm (lld skips names the binary no longer has; --no-warn-symbol-ordering keeps that
// quiet; a list a whole merge old measured the same), but SwiftPM does not relink when only the
// list changes: remove the binary to relink.
let packedRelocations = Context.environment["VG_PACKED_RELOCATIONS"] != "0"
let functionOrder = "\(Context.packageDirectory)/Benchmarks/Footprint/function-order.txt"
let boxReleaseLinking: [LinkerSetting] = [
    .unsafeFlags(
        ["-use-ld=lld", "-Xlinker", "--no-export-dynamic"] + (packedRelocations ? ["-Xlinker", "-z", "-Xlinker", "pack-relative-relocs"] : [])
            + ["-Xlinker", "--symbol-ordering-file=\(functionOrder)", "-Xlinker", "--no-warn-symbol-ordering"],
        .when(platforms: [.linux], configuration: .release)),
]

let package = Package(
    name: "VillageGateway",
    products: [
        .executable(name: "village-gateway", targets: ["VillageGateway"]),
        // The county's own program: pulls the boxes, keeps the stations, serves the dashboard.
        .executable(name: "village-county", targets: ["VillageCounty"]),
        .library(name: "WarningLogic", targets: ["WarningLogic"]),
        .library(name: "Drivers", targets: ["Drivers"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.6.0"),
        .package(url: "https://github.com/LebJe/TOMLKit", from: "0.6.0"),
        // The outbox: SQLite through GRDB (WAL, synchronous=FULL) keeps every county report on disk.
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.0.0"),
        // The county pull API the box serves (issue 5), and the county side's and push's HTTP client.
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.0.0"),
        .package(url: "https://github.com/swift-server/async-http-client", from: "1.20.0"),
        // HMAC-SHA256 request signatures (county API, push) and the shell PIN's salted PBKDF2 hash.
        .package(url: "https://github.com/apple/swift-crypto", from: "3.0.0"),
        // Already in the graph through Hummingbird; named for NIOEmbedded (the API fuzz target).
        .package(url: "https://github.com/apple/swift-nio", from: "2.0.0"),
        // A province's county database (`village-county pull --db postgres://…`); NIOSSL (already
        // in the graph through async-http-client) for its sslmode.
        .package(url: "https://github.com/vapor/postgres-nio", from: "1.33.2"),
        .package(url: "https://github.com/apple/swift-nio-ssl", from: "2.25.0"),
    ],
    targets: [
        // C libraries come in through small system-library targets; only Drivers imports them.
        .systemLibrary(
            name: "CGPIOD",
            pkgConfig: "libgpiod",
            providers: [.apt(["libgpiod-dev"])]
        ),
        .systemLibrary(
            name: "CSerialPort",
            pkgConfig: "libserialport",
            providers: [.apt(["libserialport-dev"])]
        ),
        // The pure core: observations in, levels and actions out. Standard library only.
        .target(name: "WarningLogic", swiftSettings: strict),
        // CRC-16/MODBUS, which Modbus RTU (Drivers) and SL 651 (CountyProtocol) both frame with.
        .target(name: "Checksums", swiftSettings: strict),
        // The one time seam (now, and waiting until then) that the drivers, the box and the
        // county program share: `Drivers` cannot import the box, so the protocol lives below both.
        .target(name: "TimeSeam", swiftSettings: strict),
        // The hardware: GPIO, serial, Modbus RTU, voice modules, modem; each with a simulated twin.
        .target(
            name: "Drivers",
            dependencies: [
                "CGPIOD", "CSerialPort", "Checksums", "TimeSeam",
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict
        ),
        // The contract between a box and its county, written once and compiled into both
        // programs: the wire documents, request signing, CAP, SL 651, the observation summary.
        .target(
            name: "CountyProtocol",
            dependencies: [
                "WarningLogic", "Checksums",
                .product(name: "Crypto", package: "swift-crypto"),
            ],
            swiftSettings: strict
        ),
        // A station's level chart as SVG, drawn one way for `simulate --chart` and the county's
        // station page (issue 17): level bands, rain, each rule's measure against its thresholds.
        .target(name: "ChartDrawing", dependencies: ["WarningLogic", "CountyProtocol"], swiftSettings: strict),
        // TOML files read with located, one-line problems: gateway.toml, board files, stations files.
        .target(
            name: "ConfigurationFiles",
            dependencies: [.product(name: "TOMLKit", package: "TOMLKit")],
            swiftSettings: strict
        ),
        // The box's durable outbox (SQLite): a library so that its benchmark is a program of its own.
        .target(
            name: "OutboxStore",
            dependencies: [
                "WarningLogic", "CountyProtocol",
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "Crypto", package: "swift-crypto"),
            ],
            swiftSettings: strict
        ),
        // Limits on an HTTP server's connections (count, head, body, idle): the box's county API and
        // the county's dashboard both run behind them.
        .target(
            name: "ConnectionGuard",
            dependencies: [.product(name: "Hummingbird", package: "hummingbird")],
            swiftSettings: strict
        ),
        // The program: config, boards, runtime wiring, commands.
        .executableTarget(
            name: "VillageGateway",
            dependencies: [
                "WarningLogic", "Drivers", "TimeSeam", "CountyProtocol", "ConfigurationFiles", "OutboxStore", "ChartDrawing", "ConnectionGuard",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "TOMLKit", package: "TOMLKit"),
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "_CryptoExtras", package: "swift-crypto"),
                // The API fuzz target hands requests to the router on an EmbeddedChannel.
                .product(name: "NIOEmbedded", package: "swift-nio"),
            ],
            swiftSettings: strict,
            linkerSettings: fuzzLinking + boxReleaseLinking
        ),
        // The county's dashboard (`village-county serve`, issue 17): a read model over the county
        // database, server-rendered pages, and county warnings signed to the boxes.
        .target(
            name: "CountyDashboard",
            dependencies: [
                "WarningLogic", "CountyProtocol", "ConfigurationFiles", "ChartDrawing", "ConnectionGuard",
                .product(name: "GRDB", package: "GRDB.swift"),
                // The dashboard reads a province's county database in PostgreSQL too.
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "_CryptoExtras", package: "swift-crypto"),
            ],
            swiftSettings: strict
        ),
        // The county's program (`village-county`): it links the contract, never the box.
        .executableTarget(
            name: "VillageCounty",
            dependencies: [
                "WarningLogic", "CountyProtocol", "ConfigurationFiles", "CountyDashboard", "TimeSeam",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Crypto", package: "swift-crypto"),
            ],
            swiftSettings: strict
        ),
        // Durable outbox appends per second; fills the backlog Benchmarks/Outbox/run.py pulls.
        .executableTarget(
            name: "OutboxBenchmark",
            dependencies: [
                "WarningLogic", "CountyProtocol", "OutboxStore",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            path: "Benchmarks/OutboxBenchmark",
            swiftSettings: strict
        ),
        // The dashboard overview's server time over a filled county database (issue 17).
        .executableTarget(
            name: "DashboardBenchmark",
            dependencies: [
                "CountyDashboard", "WarningLogic", .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
            ],
            path: "Benchmarks/DashboardBenchmark",
            swiftSettings: strict
        ),
        // Engine throughput, as a program that prints figures (tests never time anything).
        .executableTarget(name: "EngineBenchmark", dependencies: ["WarningLogic"], path: "Benchmarks/EngineBenchmark", swiftSettings: strict),
        // Prints Modbus transactions per second over a pty beside the line's limit; never a test.
        .executableTarget(
            name: "ModbusBenchmark",
            dependencies: ["Drivers", "Checksums"],
            path: "Benchmarks/ModbusBenchmark",
            swiftSettings: strict
        ),
        .testTarget(name: "WarningLogicTests", dependencies: ["WarningLogic"], swiftSettings: strict),
        // Fixtures/ holds the Python Modbus slaves the tests run as processes, not Swift sources.
        .testTarget(name: "DriversTests", dependencies: ["Drivers", "Checksums", "TimeSeam"], exclude: ["Fixtures"], swiftSettings: strict),
        // Fixtures/ holds the OASIS CAP 1.2 schema the CAP tests validate against, not Swift sources.
        .testTarget(
            name: "VillageGatewayTests",
            dependencies: [
                "VillageGateway", "VillageCounty", "CountyDashboard", "WarningLogic", "CountyProtocol", "ConfigurationFiles", "OutboxStore", "Checksums",
                "ChartDrawing", "ConnectionGuard", "TimeSeam",
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "Crypto", package: "swift-crypto"),
            ],
            exclude: ["Fixtures"],
            swiftSettings: strict),
    ]
)
