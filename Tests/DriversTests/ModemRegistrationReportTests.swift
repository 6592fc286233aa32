// The modem reports its registration on its own (+CREG/+CGREG/+CEREG with n = 2), so the box
// hears the network come back the moment the module does (issue 18): turned on at start,
// tolerated where a module lacks a domain, and parsed into typed events.
import Testing
@testable import Drivers

@Suite struct ModemRegistrationReportTests {
    @Test func reportsAreTurnedOnForEveryDomainWithCellInformation() throws {
        let bench = RegistrationBench()
        #expect(try bench.modem.enableRegistrationReports() == [.circuit, .packet, .eps])
        #expect(bench.device.commands == ["AT+CREG=2", "AT+CGREG=2", "AT+CEREG=2"])
        for domain in [RegistrationDomain.circuit, .packet, .eps] { #expect(bench.device.registrationReportMode(domain) == 2) }
        // The read answers with n = 2 and the cell now; it is still the answer, not a report.
        #expect(try bench.modem.registration() == .registeredHome)
        #expect(try bench.modem.packetRegistration() == .registeredHome)
        #expect(bench.modem.takeEvents().isEmpty)
    }

    @Test func aModuleWithoutLTEOrWithoutCellReportsIsTakenAsItIs() throws {
        let bench = RegistrationBench()
        bench.device.epsRegistration = nil  // 2G/3G only: AT+CEREG=n answers ERROR
        bench.device.scriptedAnswers["AT+CREG=2"] = Array("\r\nERROR\r\n".utf8)  // an old firmware: state only
        #expect(try bench.modem.enableRegistrationReports() == [.circuit, .packet])
        #expect(bench.device.commands == ["AT+CREG=2", "AT+CREG=1", "AT+CGREG=2", "AT+CEREG=2", "AT+CEREG=1"])
        #expect(bench.device.registrationReportMode(.circuit) == 1)
        bench.device.registration = 5
        #expect(try bench.modem.listen(timeoutMilliseconds: 0) == [.registration(.circuit, .registeredRoaming)])
    }

    @Test func aModuleThatReportsNothingIsNotAFault() throws {
        let bench = RegistrationBench()
        bench.device.refusesRegistrationReports = true
        #expect(try bench.modem.enableRegistrationReports() == [])
        bench.device.registration = 2
        #expect(try bench.modem.listen(timeoutMilliseconds: 0).isEmpty, "nothing said unasked: the box reads it instead")
        #expect(try bench.modem.registration() == .searching)
    }

    @Test func theNetworkGoingAndComingBackIsHeardAsEvents() throws {
        let bench = RegistrationBench()
        try bench.modem.enableRegistrationReports()
        bench.device.epsRegistration = 2
        bench.device.packetRegistration = 0
        bench.device.registration = 2
        #expect(try bench.modem.listen(timeoutMilliseconds: 0) == [
            .registration(.eps, .searching), .registration(.packet, .notRegistered), .registration(.circuit, .searching),
        ])
        bench.device.epsRegistration = 1
        bench.device.registration = 5
        #expect(try bench.modem.listen(timeoutMilliseconds: 0) == [.registration(.eps, .registeredHome), .registration(.circuit, .registeredRoaming)])
        bench.device.epsRegistration = 1  // unchanged: the module says nothing
        #expect(try bench.modem.listen(timeoutMilliseconds: 0).isEmpty)
    }

    @Test func reportsAsModulesWriteThemAreParsed() {
        #expect(ModemEventParser.events(from: [
            "+CREG: 1,\"1A2B\",\"01C3D4E5\",2", "+CGREG: 5,\"1A2B\",\"01C3D4E5\",2,\"01\"", "+CEREG: 1,\"1A2B\",\"01C3D4E5\",7",
            "+CEREG: 4", "+CREG: 3", "+CGREG: x",
        ]) == [
            .registration(.circuit, .registeredHome), .registration(.packet, .registeredRoaming), .registration(.eps, .registeredHome),
            .registration(.eps, .unknown), .registration(.circuit, .denied), .other("+CGREG: x"),
        ])
    }

    @Test func aReportArrivingDuringAnotherCommandIsKeptForLater() throws {
        let bench = RegistrationBench()
        try bench.modem.enableRegistrationReports()
        bench.device.unsolicitedInNextAnswer = ["+CEREG: 1,\"1A2B\",\"01C3D4E5\",7"]
        #expect(try bench.modem.signalQuality().rssi == 20)
        #expect(bench.modem.takeEvents() == [.registration(.eps, .registeredHome)])
    }
}
