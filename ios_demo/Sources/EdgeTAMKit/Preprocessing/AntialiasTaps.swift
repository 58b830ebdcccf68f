/// The filter taps of one axis of a resize: output sample `i` is `Σ_k input[index[i][k]] * weight[i][k]`,
/// every output having the same number of taps (`taps`), stored flat (`index[i * taps + k]`).
struct Taps<Weight: Sendable>: Sendable {
    let outputs: Int
    let taps: Int
    let index: [Int]
    let weight: [Weight]
}

/// Antialiased triangle-filter taps, as ATen computes them (`runtime/resize.py` `_antialias_taps`).
///
/// `F` is the precision of ATen's path: `Double` for the uint8 kernel, `Float` for the float kernel (scale,
/// centres and weights rounded to Float where the C++ stores floats, intermediates in Double where the C++
/// mixes in double literals). Every rounding step of the Python code is reproduced in the same order.
func antialiasTaps<F: BinaryFloatingPoint & Sendable>(inSize: Int, outSize: Int, as _: F.Type) -> Taps<F> {
    let scale = F(inSize) / F(outSize)
    let support: F = scale >= 1 ? scale : 1
    let maxTaps = Int(Double(support).rounded(.up)) * 2 + 1
    let invScale: F = scale >= 1 ? F(1.0 / Double(scale)) : 1

    var first = [Int](repeating: 0, count: outSize)
    var count = [Int](repeating: 0, count: outSize)
    var weights = [F](repeating: 0, count: outSize * maxTaps)
    for i in 0..<outSize {
        let center = F(Double(scale) * (Double(i) + 0.5))
        let lo = max(Int((Double(center - support) + 0.5).rounded(.towardZero)), 0)
        let hi = min(Int((Double(center + support) + 0.5).rounded(.towardZero)), inSize)
        first[i] = lo
        count[i] = min(max(hi - lo, 0), maxTaps)
        var total: F = 0
        for k in 0..<maxTaps {
            let offset = F(k + lo) - center
            let x = F((Double(offset) + 0.5) * Double(invScale))
            let w: F = k < count[i] ? max(1 - abs(x), 0) : 0
            weights[i * maxTaps + k] = w
            total = total + w  // left to right, as the C++ loop sums
        }
        if total != 0 {
            for k in 0..<maxTaps {
                weights[i * maxTaps + k] = weights[i * maxTaps + k] / total
            }
        }
    }
    // Drop trailing taps that are zero for every output.
    let used = count.max() ?? 0
    var index = [Int](repeating: 0, count: outSize * used)
    var weight = [F](repeating: 0, count: outSize * used)
    for i in 0..<outSize {
        for k in 0..<used {
            index[i * used + k] = min(first[i] + k, inSize - 1)
            weight[i * used + k] = weights[i * maxTaps + k]
        }
    }
    return Taps(outputs: outSize, taps: used, index: index, weight: weight)
}

/// The uint8 kernel's taps in fixed point (`_antialias_taps_int16`): weights scaled by `2^precision` and
/// rounded half away from zero, `precision` the largest number of fractional bits (≤ 22) for which the
/// largest weight, scaled by `2^(precision + 1)` and rounded, stays below `2^15`.
func fixedPointTaps(inSize: Int, outSize: Int) -> (taps: Taps<Int32>, precision: Int) {
    let taps = antialiasTaps(inSize: inSize, outSize: outSize, as: Double.self)
    let wMax = taps.weight.max() ?? 0
    var precision = 0
    while precision < 22 && Int(0.5 + wMax * Double(1 << (precision + 1))) < (1 << 15) {
        precision += 1
    }
    let scale = Double(1 << precision)
    let ints = taps.weight.map { w -> Int32 in
        let scaled = w * scale
        return Int32(scaled < 0 ? (scaled - 0.5).rounded(.towardZero) : (scaled + 0.5).rounded(.towardZero))
    }
    return (Taps(outputs: outSize, taps: taps.taps, index: taps.index, weight: ints), precision)
}
