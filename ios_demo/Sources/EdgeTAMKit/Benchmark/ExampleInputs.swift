import Foundation

/// Contract-shaped inputs for timing a stage, with values in each input's range (as the Python benchmark's
/// `edgetam_export/examples.py` draws them): features ~N(0, 1), every validity slot filled (a steady tracked
/// frame), one positive click per object with the other point slots empty (label −1), 0/1 switches off,
/// mask logits of a few units, binary masks. Deterministic for a seed.
public enum ExampleInputs {
    /// Inputs of `stage` for the sizes given (the config's symbols, the capacities and B).
    public static func make(
        _ stage: StageName, contract: StageContract, sizes: [String: Int], seed: UInt64 = 1
    ) throws -> [String: Tensor] {
        var rng = SplitMix64(seed: seed)
        let imageSize = Float(sizes["S"] ?? 1024)
        var out: [String: Tensor] = [:]
        for spec in contract.inputs {
            let shape = try ContractShapes.resolve(spec, sizes: sizes, stage: stage)
            let count = Tensor.elementCount(shape)
            let last = shape.last ?? 1
            let scalars: [Float]
            switch spec.name {
            case let name where name.hasSuffix("_valid"):
                scalars = [Float](repeating: 1, count: count)
            case "use_mask_input", "multimask", "no_memory", "object_absent", "is_prompted":
                scalars = [Float](repeating: 0, count: count)
            case "point_labels":  // [B, P]: a positive click in slot 0, empty slots after it
                scalars = (0..<count).map { $0 % last == 0 ? 1 : -1 }
            case "point_coords":
                scalars = (0..<count).map { _ in Float(rng.uniform()) * imageSize }
            case "mask":
                scalars = (0..<count).map { _ in rng.uniform() > 0.5 ? 1 : 0 }
            case "mask_input", "low_res_masks":
                scalars = (0..<count).map { _ in Float(rng.normal() * 6) }
            default:
                scalars = (0..<count).map { _ in Float(rng.normal()) }
            }
            out[spec.name] = Tensor(shape: shape, scalars: scalars)
        }
        return out
    }
}

/// A small deterministic generator (SplitMix64), so example inputs are the same on every platform.
struct SplitMix64 {
    var state: UInt64

    init(seed: UInt64) { state = seed }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    mutating func uniform() -> Double { Double(next() >> 11) / Double(1 << 53) }

    /// Standard normal (Box–Muller).
    mutating func normal() -> Double {
        let u = max(uniform(), 1e-300)
        return (-2 * log(u)).squareRoot() * cos(2 * Double.pi * uniform())
    }
}
