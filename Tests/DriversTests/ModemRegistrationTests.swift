// The modem's network registration (+CREG and +CEREG) as the push asks it: "is there a network?".
import Testing
@testable import Drivers

/// A modem over its twin on a simulated clock (also the registration-report tests' bench).
struct RegistrationBench {
    let clock = SimulatedClock()
    let device = SimulatedModem()
    let modem: Modem

    init() {
        let port = SimulatedSerialPort(portDescription: "/dev/ttyUSB2", clock: clock, device: device)
        modem = Modem(channel: ATChannel(transport: port, clock: clock))
    }
}

@Suite struct ModemRegistrationTests {
    @Test func anLTEModuleWithDataButNoCircuitDomainHasANetwork() throws {
        let bench = RegistrationBench()
        bench.device.registration = 2  // LTE-only network: +CREG keeps searching
        bench.device.epsRegistration = 1
        let status = try bench.modem.networkStatus()
        #expect(status == ModemNetworkStatus(circuit: .searching, eps: .registeredHome, packet: .registeredHome))
        #expect(status.hasDataNetwork)
        #expect(bench.device.commands == ["AT+CREG?", "AT+CEREG?", "AT+CGREG?"])
    }

    @Test func aModuleWithoutLTEIsJudgedByCircuitRegistration() throws {
        let bench = RegistrationBench()
        bench.device.epsRegistration = nil  // AT+CEREG? answers ERROR
        bench.device.packetRegistration = nil  // and so does AT+CGREG?
        bench.device.registration = 5
        #expect(try bench.modem.epsRegistration() == nil)
        #expect(try bench.modem.networkStatus() == ModemNetworkStatus(circuit: .registeredRoaming, eps: nil))
        #expect(try bench.modem.networkStatus().hasDataNetwork)
        bench.device.registration = 3
        #expect(try !bench.modem.networkStatus().hasDataNetwork)
    }

    @Test func smsOnlyAndEmergencyOnlyRegistrationsCarryNoData() throws {
        let bench = RegistrationBench()
        bench.device.packetRegistration = nil
        for (stat, data) in [(0, false), (1, true), (2, false), (3, false), (4, false), (5, true), (6, false), (7, false), (8, false), (9, true), (10, true)] {
            bench.device.registration = 0
            bench.device.epsRegistration = stat
            let status = try bench.modem.networkStatus()
            #expect(status.eps?.rawValue == stat)
            #expect(status.hasDataNetwork == data, "CEREG stat \(stat)")
        }
    }

    @Test func aCEREGURCInsideTheAnswerIsSetAsideNotTaken() throws {
        let bench = RegistrationBench()
        bench.device.scriptedAnswers["AT+CEREG?"] = Array(
            "\r\n+CEREG: 1,\"1A2B\",\"00C3D4E5\",7\r\n\r\n+CEREG: 2,4,\"1A2B\",\"00C3D4E5\",7\r\n\r\nOK\r\n".utf8)
        #expect(try bench.modem.epsRegistration() == .unknown)
        #expect(bench.modem.takeUnsolicitedLines() == ["+CEREG: 1,\"1A2B\",\"00C3D4E5\",7"])
    }

    @Test func aSIMErrorIsAnErrorNotANetworkOfUnknownState() throws {
        let bench = RegistrationBench()
        bench.device.scriptedAnswers["AT+CEREG?"] = Array("\r\n+CME ERROR: 10\r\n".utf8)
        #expect(throws: ModemError.equipmentFailed(command: "AT+CEREG?", code: 10, text: "10")) {
            _ = try bench.modem.epsRegistration()
        }
        bench.device.scriptedAnswers["AT+CEREG?"] = Array("\r\n+CEREG: 0,11\r\n\r\nOK\r\n".utf8)
        #expect(throws: ModemError.unexpectedAnswer(command: "AT+CEREG?", lines: ["+CEREG: 0,11"])) {
            _ = try bench.modem.epsRegistration()
        }
    }
}
