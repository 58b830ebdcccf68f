extension ModelConfig {
    /// EdgeTAM's published hyper-parameters (the Python `EdgeTamConfig()` defaults). An app reads the config
    /// of its export from the manifest; this is for tests and tools that need a config without one.
    public static let edgeTAM = ModelConfig(
        imageSize: 1024, backboneStride: 16, hiddenDim: 256, memDim: 64, backboneChannels: [48, 96, 192, 384],
        fpnTopDownLevels: [2, 3], numMaskmem: 7, maxObjPtrsInEncoder: 16, sigmoidScaleForMemEnc: 20,
        sigmoidBiasForMemEnc: -10, binarizeMaskFromPtsForMemEnc: true, memoryAttentionLayers: 2,
        memoryAttentionFfnDim: 2048, ropeTheta: 10000, perceiverDepth: 2, perceiverFfMult: 4, numLatents1d: 256,
        numLatents2d: 256, fuserLayers: 2, fuserKernel: 7, multimaskOutputInSam: true, multimaskMinPtNum: 0,
        multimaskMaxPtNum: 1, multimaskOutputForTracking: true, useMultimaskTokenForObjPtr: true,
        iouPredictionUseSigmoid: true, dynamicMultimaskViaStability: true, dynamicMultimaskStabilityDelta: 0.05,
        dynamicMultimaskStabilityThresh: 0.98, decoderDepth: 2, decoderHeads: 8, decoderMlpDim: 2048)
}
