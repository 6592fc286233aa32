// The engine's own arctangent (no libm in WarningLogic) against Foundation's.
import Foundation
import Testing
@testable import WarningLogic

@Suite struct ArctangentTests {
    @Test func agreesWithFoundationToABillionthOfADegree() {
        var worstDegrees = 0.0
        var x = -1_000.0
        var samples: [Double] = [0, 1, -1, 0.2, 0.41421356237309503, 2.414213562373095, 1e-12, 1e12, 11.430052302761343, 57.28996163075943]
        while x <= 1_000 { samples.append(x); x += 0.0137 }
        for sample in samples {
            let expected = Foundation.atan(sample) * 180 / Double.pi
            let error = Swift.abs(Arctangent.degrees(sample) - expected)
            worstDegrees = Swift.max(worstDegrees, error)
            #expect(error < 1e-9, "atan(\(sample))")
        }
        #expect(worstDegrees < 1e-9)
    }

    @Test func theTangentAngleLandmarks() {
        // Steady creep plots at 45°; the commonly cited 80° and 85° marks are tan 80° and tan 85°
        // times the steady rate.
        #expect(Swift.abs(Arctangent.degrees(1) - 45) < 1e-12)
        #expect(Swift.abs(Arctangent.degrees(Foundation.tan(85 * Double.pi / 180)) - 85) < 1e-9)
        #expect(Arctangent.degrees(.infinity) == 90)
        #expect(Arctangent.degrees(-.infinity) == -90)
        #expect(Arctangent.degrees(.nan).isNaN)
    }
}
