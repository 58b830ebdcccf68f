import Foundation

@testable import EdgeTAMKit

/// A stand-in for the model: returns deterministic outputs of the contract's shapes (values vary with the
/// call count, so masks and object scores change from frame to frame) and records the stage of every call.
final class VaryingStageRunner: StageRunner {
    let config: ModelConfig
    private(set) var calls: [StageName] = []

    init(config: ModelConfig) {
        self.config = config
    }

    /// A small model (32² input, 2×2 features, 8 memory tokens) so long streams run fast.
    static let smallConfig: ModelConfig = {
        var config = ModelConfig.edgeTAM
        config.imageSize = 32
        config.hiddenDim = 16
        config.memDim = 4
        config.numLatents1d = 4
        config.numLatents2d = 4
        return config
    }()

    func run(_ stage: StageName, _ inputs: [String: Tensor]) throws -> [String: Tensor] {
        calls.append(stage)
        let c = config.hiddenDim
        let f = config.featSize
        let low = config.lowResMaskSize
        let seed = Float(calls.count)
        switch stage {
        case .imageEncoder:
            return [
                "vision_feats": values([1, c, f, f], seed), "high_res_0": values([1, c / 8, 4 * f, 4 * f], seed),
                "high_res_1": values([1, c / 4, 2 * f, 2 * f], seed),
            ]
        case .memoryAttention:
            return ["pix_feat_with_mem": values([try batch(inputs, "cond_mem"), c, f, f], seed)]
        case .maskDecoder:
            let b = try batch(inputs, "image_embed")
            // Object scores alternate in sign every few calls: objects vanish and return.
            let score = Float((calls.count / 3) % 2 == 0 ? 2.5 : -1.5)
            return [
                "low_res_masks": values([b, 1, low, low], seed), "iou": values([b, 1], seed),
                "object_score_logits": Tensor(repeating: score, shape: [b, 1]), "obj_ptr": values([b, c], seed),
            ]
        case .memoryEncoder:
            return ["mem_feats": values([try batch(inputs, "low_res_masks"), config.memTokens, config.memDim], seed)]
        case .maskPrompt:
            return ["mask_input": values([try batch(inputs, "mask"), 1, low, low], seed)]
        }
    }

    private func batch(_ inputs: [String: Tensor], _ name: String) throws -> Int {
        guard let tensor = inputs[name] else {
            throw EdgeTAMError.contract(stage: .maskDecoder, tensor: name, problem: "missing")
        }
        return tensor.shape[0]
    }

    private func values(_ shape: [Int], _ seed: Float) -> Tensor {
        let count = Tensor.elementCount(shape)
        return Tensor(shape: shape, scalars: (0..<count).map { 4 * sin(Float($0) * 0.37 + seed) })
    }
}

/// Small deterministic frames.
func testFrame(height: Int = 12, width: Int = 16, seed: Int = 0) -> PixelBuffer {
    let bytes = (0..<(height * width * 3)).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ seed &* 7) }
    return try! PixelBuffer(width: width, height: height, bytes: bytes)
}
