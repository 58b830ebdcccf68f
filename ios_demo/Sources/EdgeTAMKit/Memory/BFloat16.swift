/// bfloat16 storage of memory features, as the original video predictor stores them (`runtime/memory_bank.py`):
/// the top 16 bits of a float32, rounded to nearest even. Half the bytes; reading back is exact.
public enum BFloat16 {
    /// float32 → bfloat16 bit patterns, rounding to nearest even (the same bit arithmetic as the Python
    /// runtime, wrapping as numpy's uint32 does, so NaN payloads and overflow to infinity match too).
    public static func bits(_ values: [Float]) -> [UInt16] {
        values.withUnsafeBufferPointer { src in
            [UInt16](unsafeUninitializedCapacity: src.count) { out, initialized in
                for i in 0..<src.count {
                    let b = src[i].bitPattern
                    let rounding = ((b >> 16) & 1) &+ 0x7FFF
                    out[i] = UInt16(truncatingIfNeeded: (b &+ rounding) >> 16)
                }
                initialized = src.count
            }
        }
    }

    /// bfloat16 bit patterns → float32 (exact).
    public static func floats(_ bits: [UInt16]) -> [Float] {
        bits.withUnsafeBufferPointer { src in
            [Float](unsafeUninitializedCapacity: src.count) { out, initialized in
                for i in 0..<src.count {
                    out[i] = Float(bitPattern: UInt32(src[i]) << 16)
                }
                initialized = src.count
            }
        }
    }
}
