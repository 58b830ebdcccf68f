/// The exported stage graphs, named as in the manifest and in `runtime/contract.py`.
public enum StageName: String, Sendable, CaseIterable, Codable {
    /// One frame → its features (run once per frame, shared by all objects).
    case imageEncoder = "image_encoder"
    /// A frame's features conditioned on each object's memory bank.
    case memoryAttention = "memory_attention"
    /// Prompts and features → mask logits, object score and object pointer.
    case maskDecoder = "mask_decoder"
    /// A frame's prediction → the memory tokens the bank stores.
    case memoryEncoder = "memory_encoder"
    /// A 0/1 mask prompt → the decoder's dense mask input.
    case maskPrompt = "mask_prompt"
}
