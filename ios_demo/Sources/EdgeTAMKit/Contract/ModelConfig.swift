/// EdgeTAM's hyper-parameters as an export records them (`model.config` in manifest.json, the fields of the
/// Python `EdgeTamConfig`). The driver reads the sizes and the multimask rules from here.
public struct ModelConfig: Sendable, Equatable, Codable {
    public var imageSize: Int
    public var backboneStride: Int
    public var hiddenDim: Int
    public var memDim: Int
    public var backboneChannels: [Int]
    public var fpnTopDownLevels: [Int]
    public var numMaskmem: Int
    public var maxObjPtrsInEncoder: Int
    public var sigmoidScaleForMemEnc: Double
    public var sigmoidBiasForMemEnc: Double
    public var binarizeMaskFromPtsForMemEnc: Bool
    public var memoryAttentionLayers: Int
    public var memoryAttentionFfnDim: Int
    public var ropeTheta: Double
    public var perceiverDepth: Int
    public var perceiverFfMult: Int
    public var numLatents1d: Int
    public var numLatents2d: Int
    public var fuserLayers: Int
    public var fuserKernel: Int
    public var multimaskOutputInSam: Bool
    public var multimaskMinPtNum: Int
    public var multimaskMaxPtNum: Int
    public var multimaskOutputForTracking: Bool
    public var useMultimaskTokenForObjPtr: Bool
    public var iouPredictionUseSigmoid: Bool
    public var dynamicMultimaskViaStability: Bool
    public var dynamicMultimaskStabilityDelta: Double
    public var dynamicMultimaskStabilityThresh: Double
    public var decoderDepth: Int
    public var decoderHeads: Int
    public var decoderMlpDim: Int

    enum CodingKeys: String, CodingKey {
        case imageSize = "image_size"
        case backboneStride = "backbone_stride"
        case hiddenDim = "hidden_dim"
        case memDim = "mem_dim"
        case backboneChannels = "backbone_channels"
        case fpnTopDownLevels = "fpn_top_down_levels"
        case numMaskmem = "num_maskmem"
        case maxObjPtrsInEncoder = "max_obj_ptrs_in_encoder"
        case sigmoidScaleForMemEnc = "sigmoid_scale_for_mem_enc"
        case sigmoidBiasForMemEnc = "sigmoid_bias_for_mem_enc"
        case binarizeMaskFromPtsForMemEnc = "binarize_mask_from_pts_for_mem_enc"
        case memoryAttentionLayers = "memory_attention_layers"
        case memoryAttentionFfnDim = "memory_attention_ffn_dim"
        case ropeTheta = "rope_theta"
        case perceiverDepth = "perceiver_depth"
        case perceiverFfMult = "perceiver_ff_mult"
        case numLatents1d = "num_latents_1d"
        case numLatents2d = "num_latents_2d"
        case fuserLayers = "fuser_layers"
        case fuserKernel = "fuser_kernel"
        case multimaskOutputInSam = "multimask_output_in_sam"
        case multimaskMinPtNum = "multimask_min_pt_num"
        case multimaskMaxPtNum = "multimask_max_pt_num"
        case multimaskOutputForTracking = "multimask_output_for_tracking"
        case useMultimaskTokenForObjPtr = "use_multimask_token_for_obj_ptr"
        case iouPredictionUseSigmoid = "iou_prediction_use_sigmoid"
        case dynamicMultimaskViaStability = "dynamic_multimask_via_stability"
        case dynamicMultimaskStabilityDelta = "dynamic_multimask_stability_delta"
        case dynamicMultimaskStabilityThresh = "dynamic_multimask_stability_thresh"
        case decoderDepth = "decoder_depth"
        case decoderHeads = "decoder_heads"
        case decoderMlpDim = "decoder_mlp_dim"
    }

    /// Side of the stride-16 feature map (64 at 1024²).
    public var featSize: Int { imageSize / backboneStride }
    /// Side of the decoder's mask logits (256 at 1024²).
    public var lowResMaskSize: Int { 4 * featSize }
    /// Tokens per stored memory (1D latents then 2D latents).
    public var memTokens: Int { numLatents1d + numLatents2d }
    /// Recent-memory slots of memory attention (num_maskmem − 1).
    public var recentSlots: Int { numMaskmem - 1 }

    /// The config-derived contract symbols ("S", "C", "F", ...) as numbers, as `runtime/contract.py` resolves them.
    public var contractSizes: [String: Int] {
        [
            "S": imageSize, "C": hiddenDim, "C4": hiddenDim / 4, "C8": hiddenDim / 8, "F": featSize,
            "2F": 2 * featSize, "4F": 4 * featSize, "T": memTokens, "M": memDim, "R": recentSlots,
        ]
    }
}
