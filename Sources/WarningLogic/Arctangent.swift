// The arctangent in degrees, computed in the standard library alone (the engine may not link libm).

enum Arctangent {
    /// atan(x) in degrees, accurate to well under 1e-9°.
    ///
    /// Why this shape: the Taylor series of atan converges slowly near |x| = 1 and not at all
    /// beyond, so the argument is first folded into [0, 1] (atan x = 90° − atan(1/x)), then
    /// halved twice with atan x = 2·atan(x / (1 + √(1 + x²))), which brings it below 0.2;
    /// there the series' terms fall below 1e-17 within a dozen steps.
    static func degrees(_ x: Double) -> Double {
        if x.isNaN { return x }
        if x < 0 { return -degrees(-x) }
        if x.isInfinite { return 90 }
        if x > 1 { return 90 - degrees(1 / x) }
        var reduced = x
        var multiplier = 1.0
        for _ in 0..<2 {
            reduced = reduced / (1 + (1 + reduced * reduced).squareRoot())
            multiplier *= 2
        }
        // Series: y − y³/3 + y⁵/5 − …, summed until the terms no longer matter.
        let square = reduced * reduced
        var power = reduced
        var sum = 0.0
        var sign = 1.0
        var denominator = 1.0
        for _ in 0..<seriesTermsMax {
            let term = power / denominator
            sum += sign * term
            if term < 1e-20 { break }
            power *= square
            denominator += 2
            sign = -sign
        }
        return multiplier * sum * (180 / Double.pi)
    }

    /// With |y| < 0.2 the 12th term is below 1e-17; the bound only guards the loop.
    static let seriesTermsMax = 40
}
