import Testing

@testable import EdgeTAMKit

private struct MemoryVectors: Decodable {
    struct Selection: Decodable {
        let frame_idx: Int
        let cond_frames: [Int]
        let non_cond_frames: [Int]
        let num_maskmem: Int
        let max_obj_ptrs: Int
        let max_cond: Int?
        let num_frames: Int?
        let reverse: Bool
        let cond: [Int]
        let recent: [Entry?]
        let ptrs: [Entry]
    }
    /// A [frame, from_cond] pair.
    struct Entry: Decodable {
        let source: MemorySelection.Source
        init(from decoder: Decoder) throws {
            var c = try decoder.unkeyedContainer()
            source = .init(frame: try c.decode(Int.self), fromCond: try c.decode(Bool.self))
        }
    }
    struct Closest: Decodable {
        let frame_idx: Int
        let cond_frames: [Int]
        let max_cond: Int?
        let selected: [Int]?
        let error: Bool?
    }
    let select_memories: [Selection]
    let closest: [Closest]
}

@Suite struct MemoryTests {
    @Test func selectionTablesEqualPython() throws {
        let vectors = try Vectors.json("memory.json", as: MemoryVectors.self)
        #expect(vectors.select_memories.count >= 300)
        #expect(vectors.select_memories.contains { $0.reverse && $0.max_cond != nil && $0.num_frames == nil })
        for (i, c) in vectors.select_memories.enumerated() {
            let sel = try selectMemories(
                frameIndex: c.frame_idx, condFrames: c.cond_frames, nonCondFrames: Set(c.non_cond_frames),
                numMaskmem: c.num_maskmem, maxObjPtrs: c.max_obj_ptrs, maxCond: c.max_cond,
                numFrames: c.num_frames, reverse: c.reverse)
            let expected = MemorySelection(cond: c.cond, recent: c.recent.map { $0?.source }, ptrs: c.ptrs.map(\.source))
            #expect(sel == expected, "case \(i)")
        }
    }

    @Test func closestConditioningFramesEqualPython() throws {
        let vectors = try Vectors.json("memory.json", as: MemoryVectors.self)
        #expect(vectors.closest.contains { $0.error == true })
        for (i, c) in vectors.closest.enumerated() {
            let result = Result {
                try selectClosestCondFrames(frameIndex: c.frame_idx, condFrames: c.cond_frames, maxCond: c.max_cond)
            }
            switch result {
            case let .success(selected): #expect(selected == c.selected, "case \(i)")
            case .failure: #expect(c.error == true, "case \(i): Swift threw, Python selected \(c.selected ?? [])")
            }
        }
    }

    @Test func bfloat16BitsEqualPython() throws {
        let file = try Vectors.safetensors("bfloat16.safetensors")
        let values = try file.tensor("float32").scalars
        let expected = try file.uint16("bfloat16_bits").values
        let bits = BFloat16.bits(values)
        #expect(values.count > 4000)
        #expect(bits == expected)
        // Reading back is exact, and storing again gives the same bits (NaNs stay NaN).
        let back = BFloat16.floats(bits)
        #expect(BFloat16.bits(back) == bits)
        for (v, b) in zip(back, bits) where !v.isNaN {
            #expect(v.bitPattern == UInt32(b) << 16)
        }
    }

    @Test func bfloat16RoundsTiesToEven() {
        let tieDown = Float(bitPattern: 0x3F80_8000)  // 1 + 2⁻⁸: halfway, even neighbour below
        let tieUp = Float(bitPattern: 0x3F81_8000)  // halfway, even neighbour above
        #expect(BFloat16.bits([tieDown, tieUp, .infinity, -0.0]) == [0x3F80, 0x3F82, 0x7F80, 0x8000])
    }
}
