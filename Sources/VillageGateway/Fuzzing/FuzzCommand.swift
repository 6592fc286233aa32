// `village-gateway fuzz TARGET [libFuzzer options] [CORPUS...]`: runs libFuzzer on one parser of
// outside bytes, in a binary built by `make fuzz` (VG_FUZZ=1: coverage and address sanitizer).
import ArgumentParser
import Foundation

struct FuzzCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "fuzz",
        abstract: "Run libFuzzer on one parser of outside bytes (a `make fuzz` build only).",
        discussion: """
            Targets: \(FuzzTarget.allCases.map(\.rawValue).joined(separator: ", ")). Everything after the \
            target goes to libFuzzer as it is, e.g. `-max_total_time=60 Fuzz/corpus/modbus`. The binary \
            must come from `make fuzz` (.build-fuzz/debug/village-gateway); an ordinary build has no \
            libFuzzer and says so. `make fuzz` runs every target for FUZZ_SECONDS each.
            """,
        shouldDisplay: false)

    @Argument(help: "The parser to fuzz.")
    var target: String

    @Option(help: "The gateway.toml the API and scenario targets use (the station, the rules).")
    var config = "config/example.toml"

    @Argument(parsing: .captureForPassthrough, help: "libFuzzer's options and corpus directories.")
    var libFuzzerArguments: [String] = []

    func run() throws {
        guard let target = FuzzTarget(rawValue: target) else {
            printError("no fuzz target \"\(target)\"; the targets are \(FuzzTarget.allCases.map(\.rawValue).joined(separator: ", "))")
            throw ExitCode.failure
        }
        // libFuzzer is linked (and its driver exported) only by `make fuzz`; look it up rather
        // than name it, so the ordinary build links without it.
        guard let symbol = dlsym(dlopen(nil, RTLD_NOW), "LLVMFuzzerRunDriver") else {
            printError("this village-gateway was not built with libFuzzer: run `make fuzz`, or `VG_FUZZ=1 swift build --build-path .build-fuzz --product village-gateway` and use .build-fuzz/debug/village-gateway")
            throw ExitCode.failure
        }
        do {
            try FuzzTargets.prepare(target, configurationPath: config)
        } catch {
            printError("cannot prepare fuzz target \(target.rawValue): \(error)")
            throw ExitCode.failure
        }
        typealias Driver = @convention(c) (
            UnsafeMutablePointer<Int32>, UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>,
            @convention(c) (UnsafePointer<UInt8>?, Int) -> Int32
        ) -> Int32
        let driver = unsafeBitCast(symbol, to: Driver.self)
        // libFuzzer reads its options from argv: the program name, then what followed the target.
        let arguments = [CommandLine.arguments[0]] + libFuzzerArguments
        var pointers: [UnsafeMutablePointer<CChar>?] = arguments.map { strdup($0) } + [nil]
        var argc = Int32(arguments.count)
        let status = pointers.withUnsafeMutableBufferPointer { buffer -> Int32 in
            var argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = buffer.baseAddress
            return driver(&argc, &argv) { data, count in
                FuzzTargets.runSelected(data.map { Array(UnsafeBufferPointer(start: $0, count: count)) } ?? [])
                return 0
            }
        }
        for pointer in pointers { free(pointer) }
        if status != 0 { throw ExitCode(status) }
    }
}

/// libFuzzer's main (linked by `make fuzz`) needs this symbol, though `fuzz` hands libFuzzer its
/// own callback; it runs the target `fuzz` chose, so a stray call is harmless.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzerTestOneInput(_ data: UnsafePointer<UInt8>?, _ count: Int) -> Int32 {
    FuzzTargets.runSelected(data.map { Array(UnsafeBufferPointer(start: $0, count: count)) } ?? [])
    return 0
}
