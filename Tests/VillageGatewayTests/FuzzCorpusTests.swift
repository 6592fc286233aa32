// Every committed fuzz input (Fuzz/corpus/TARGET: the seeds, and each crash a fuzzer found once
// it is fixed) runs through its target in `make test`, so a finding can never come back unseen.
import Foundation
import Testing
import Drivers
@testable import VillageGateway

@Suite(.serialized) struct FuzzCorpusTests {
    static let corpusDirectory = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("Fuzz/corpus").path

    static func inputs(_ target: FuzzTarget) throws -> [(name: String, bytes: [UInt8])] {
        let directory = "\(corpusDirectory)/\(target.rawValue)"
        return try FileManager.default.contentsOfDirectory(atPath: directory).sorted().map { name in
            (name, [UInt8](try Data(contentsOf: URL(fileURLWithPath: "\(directory)/\(name)"))))
        }
    }

    @Test(arguments: FuzzTarget.allCases)
    func everyCommittedInputRunsThroughItsTargetWithoutACrash(_ target: FuzzTarget) throws {
        try FuzzTargets.prepare(target, configurationPath: ConfigurationFixtures.examplePath)
        let inputs = try Self.inputs(target)
        #expect(!inputs.isEmpty, "every target has a seed corpus in Fuzz/corpus/\(target.rawValue)")
        for input in inputs { FuzzTargets.run(target, input.bytes) }
    }

    /// The seeds must reach past the first check, or the fuzzer starts from nothing.
    @Test func theSL651SeedsAreFramesTheReassemblerTakes() throws {
        for input in try Self.inputs(.sl651Downlink) {
            var reassembler = SL651DownlinkReassembler(station: FuzzTargets.sl651Station)
            let frames = reassembler.append(input.bytes.dropFirst()).filter { if case .frame = $0 { true } else { false } }
            #expect(!frames.isEmpty, "seed \(input.name) holds no frame the box would take")
        }
    }

    @Test func theModbusSeedsAreRepliesTheParserTakes() throws {
        for input in try Self.inputs(.modbus) {
            let request = FuzzTargets.modbusRequest(selector: input.bytes[0], countByte: input.bytes[1])
            let reply = input.bytes[2...]
            switch ModbusReplyParser.parse(reply, slaveID: 1, request: request) {
            case .success, .failure(.exception): break
            case .failure(let failure): Issue.record("seed \(input.name) is refused: \(failure)")
            }
        }
    }
}
