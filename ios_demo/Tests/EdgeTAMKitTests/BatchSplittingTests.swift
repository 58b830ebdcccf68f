import Testing

@testable import EdgeTAMKit

/// The plain-Swift logic under the Core ML runner: contract checks with fixed capacities, batch chunks.
@Suite struct BatchSplittingTests {
    static let contract = StageContract(
        inputs: [
            TensorSpec(name: "vision_feats", shape: [.fixed(1), .fixed(2)]),
            TensorSpec(name: "obj_ptrs", shape: [.symbol("B"), .symbol("N"), .fixed(2)]),
            TensorSpec(name: "ptr_valid", shape: [.symbol("B"), .symbol("N")]),
        ],
        outputs: [TensorSpec(name: "out", shape: [.symbol("B"), .fixed(2)])])
    static let capacities = Capacities(batch: 1...4, pointerSlots: 3)

    func call(batch: Int, slots: Int = 3, validBatch: Int? = nil) -> [String: Tensor] {
        [
            "vision_feats": Tensor(shape: [1, 2], scalars: [10, 20]),
            "obj_ptrs": Tensor(shape: [batch, slots, 2], scalars: (0..<(batch * slots * 2)).map(Float.init)),
            "ptr_valid": Tensor(repeating: 1, shape: [validBatch ?? batch, slots]),
        ]
    }

    @Test func aCallThatFitsReturnsItsBatch() throws {
        let batch = try ContractShapes.checkCall(
            call(batch: 3), contract: Self.contract, stage: .memoryAttention, capacities: Self.capacities)
        #expect(batch == 3)
    }

    @Test func mismatchesNameTheStageAndTensor() {
        let cases: [([String: Tensor], String, String)] = [
            (call(batch: 2, slots: 4), "obj_ptrs", "does not fit"),  // N fixed at 3 by the export
            (call(batch: 2, validBatch: 1), "ptr_valid", "holds 1 objects, but obj_ptrs holds 2"),
            (call(batch: 5), "obj_ptrs", "holds 5 objects; this export takes 1...4"),
            (call(batch: 2).merging(["extra": Tensor(zeros: [1])]) { a, _ in a }, "extra", "not a tensor"),
            (call(batch: 2).filter { $0.key != "vision_feats" }, "vision_feats", "missing"),
        ]
        for (inputs, tensor, problem) in cases {
            let error = #expect(throws: EdgeTAMError.self) {
                try ContractShapes.checkCall(
                    inputs, contract: Self.contract, stage: .memoryAttention, capacities: Self.capacities)
            }
            guard case .contract(let stage, let name, let text)? = error else {
                Issue.record("expected a contract error for \(tensor), got \(String(describing: error))")
                continue
            }
            #expect(stage == .memoryAttention && name == tensor && text.contains(problem), "\(text)")
        }
    }

    @Test func resolveNamesAnUnknownAxis() throws {
        let spec = TensorSpec(name: "cond_mem", shape: [.symbol("B"), .symbol("K"), .fixed(8)])
        #expect(try ContractShapes.resolve(spec, sizes: ["B": 2, "K": 4], stage: .memoryAttention) == [2, 4, 8])
        #expect(
            throws: EdgeTAMError.contract(
                stage: .memoryAttention, tensor: "cond_mem",
                problem: "the size of axis K is not known")
        ) {
            try ContractShapes.resolve(spec, sizes: ["B": 2], stage: .memoryAttention)
        }
    }

    @Test func chunksCoverTheBatch() {
        #expect(BatchSplitting.chunks(total: 5, step: 2) == [0..<2, 2..<4, 4..<5])
        #expect(BatchSplitting.chunks(total: 3, step: 8) == [0..<3])
    }

    @Test func aLargeBatchRunsInChunksAndIsJoinedInOrder() throws {
        let inputs = call(batch: 5)
        var seen: [Int] = []
        let outputs = try BatchSplitting.run(inputs, batched: ["obj_ptrs", "ptr_valid"], batch: 5, maxBatch: 2) {
            chunk in
            let b = chunk["obj_ptrs"]!.shape[0]
            seen.append(b)
            #expect(chunk["ptr_valid"]!.shape == [b, 3])
            #expect(chunk["vision_feats"] == inputs["vision_feats"])  // per-frame inputs go whole to every chunk
            // one value per object: its first pointer's first value
            let firsts = (0..<b).map { chunk["obj_ptrs"]!.scalars[$0 * 6] }
            return ["out": Tensor(shape: [b, 2], scalars: firsts.flatMap { [$0, -$0] })]
        }
        #expect(seen == [2, 2, 1])
        #expect(outputs["out"]?.shape == [5, 2])
        #expect(outputs["out"]?.scalars == [0, -0, 6, -6, 12, -12, 18, -18, 24, -24])
    }

    @Test func batchHelpers() {
        let t = Tensor(shape: [3, 2], scalars: [1, 2, 3, 4, 5, 6])
        #expect(t.batchSlice(1..<3) == Tensor(shape: [2, 2], scalars: [3, 4, 5, 6]))
        #expect(Tensor(concatenatingBatches: [t.batchSlice(0..<1), t.batchSlice(1..<3)]) == t)
        #expect(t.batchSlice(0..<1).repeatedBatch(2) == Tensor(shape: [2, 2], scalars: [1, 2, 1, 2]))
    }
}
