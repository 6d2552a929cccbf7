#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The chi-square distribution's upper tail, for the steganalysis tests: the
/// probability that a chi-square variable with `degreesOfFreedom` exceeds `x`,
/// which is the regularised upper incomplete gamma function Q(df / 2, x / 2).
enum ChiSquareDistribution {
    /// P(X > x) for X ~ chi-square(degreesOfFreedom); 1 for x <= 0, and 0 for
    /// no degrees of freedom (nothing to test) or x not a number.
    static func upperTail(_ x: Double, degreesOfFreedom: Int) -> Double {
        guard degreesOfFreedom > 0, !x.isNaN, x < .infinity else { return 0 }
        guard x > 0 else { return 1 }
        let a = Double(degreesOfFreedom) / 2, z = x / 2
        // The series converges fast below a + 1, the continued fraction above.
        let q = z < a + 1 ? 1 - lowerSeries(a, z) : upperFraction(a, z)
        return min(1, max(0, q))
    }

    static let epsilon = 1e-15
    static let tiny = 1e-300
    static let maxTerms = 10_000

    /// P(a, z) = z^a e^-z / Gamma(a + 1) * sum over n >= 0 of z^n / ((a + 1)...(a + n)).
    private static func lowerSeries(_ a: Double, _ z: Double) -> Double {
        var term = 1.0, sum = 1.0, denominator = a
        for _ in 0..<maxTerms {
            denominator += 1
            term *= z / denominator
            sum += term
            if abs(term) < abs(sum) * epsilon { break }
        }
        return exp(a * log(z) - z - lgamma(a + 1)) * sum
    }

    /// Q(a, z) = z^a e^-z / Gamma(a) times the continued fraction
    /// 1 / (z + 1 - a - 1(1 - a) / (z + 3 - a - 2(2 - a) / (z + 5 - a - ...))),
    /// evaluated from the front (modified Lentz).
    private static func upperFraction(_ a: Double, _ z: Double) -> Double {
        var b = z + 1 - a
        var c = 1 / tiny
        var d = 1 / b
        var fraction = d
        for i in 1...maxTerms {
            let n = -Double(i) * (Double(i) - a)
            b += 2
            d = n * d + b
            if abs(d) < tiny { d = tiny }
            c = b + n / c
            if abs(c) < tiny { c = tiny }
            d = 1 / d
            let step = d * c
            fraction *= step
            if abs(step - 1) < epsilon { break }
        }
        return exp(a * log(z) - z - lgamma(a)) * fraction
    }
}
