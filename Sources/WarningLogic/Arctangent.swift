// The arctangent in degrees, computed in the standard library alone (the engine may not link libm).

enum Arctangent {
    /// atan(x) in degrees, accurate to well under 1e-9°.
    ///
    /// Why this shape: the Taylor series of atan converges slowly near |x| = 1 and not at all
    /// beyond, so the argument is first folded into [0, 1] (atan x = 90° − atan(1/x)), then
    /// moved next to the nearest c = k/8 with atan x = atan c + atan((x − c)/(1 + x·c)), which
    /// leaves |y| ≤ 1/16; there the series' terms fall below 1e-20 within ten steps.
    /// No square root and no rounding function: on some targets those are libm calls, and
    /// WarningLogic links nothing but the Swift runtime.
    static func degrees(_ x: Double) -> Double {
        if x.isNaN { return x }
        if x < 0 { return -degrees(-x) }
        if x.isInfinite { return 90 }
        if x > 1 { return 90 - degrees(1 / x) }
        let nearest = Int(x * 8 + 0.5)  // x in [0, 1]: truncation of x·8 + ½ rounds to nearest
        let centre = Double(nearest) / 8
        let reduced = (x - centre) / (1 + x * centre)
        // Series: y − y³/3 + y⁵/5 − …, summed until the terms no longer matter.
        let square = reduced * reduced
        var power = reduced
        var sum = 0.0
        var sign = 1.0
        var denominator = 1.0
        for _ in 0..<seriesTermsMax {
            let term = power / denominator
            sum += sign * term
            if Swift.abs(term) < 1e-20 { break }
            power *= square
            denominator += 2
            sign = -sign
        }
        return (arctangentOfEighths[nearest] + sum) * (180 / Double.pi)
    }

    /// atan(k/8) in radians for k = 0…8, each the double nearest the true value.
    static let arctangentOfEighths: [Double] = [
        0.0, 0.12435499454676144, 0.24497866312686414, 0.35877067027057225, 0.4636476090008061,
        0.5585993153435624, 0.6435011087932844, 0.7188299996216245, 0.7853981633974483,
    ]

    /// With |y| ≤ 1/16 the 10th term is below 1e-20; the bound only guards the loop.
    static let seriesTermsMax = 40
}
