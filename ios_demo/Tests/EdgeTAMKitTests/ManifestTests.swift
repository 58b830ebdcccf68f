import Foundation
import Testing

@testable import EdgeTAMKit

extension ModelConfig {
    fileprivate func with(imageSize: Int) -> ModelConfig {
        var copy = self
        copy.imageSize = imageSize
        return copy
    }
}

@Suite struct ManifestTests {
    @Test func decodesARealExportManifest() throws {
        let manifest = try Manifest.load(from: try TestData.vector("manifest.json"))
        let config = manifest.model.config
        #expect(manifest.formatVersion == Manifest.supportedFormatVersion)
        #expect(manifest.preprocessing.imageSize == config.imageSize)
        #expect(manifest.memoryBank.memoryTokens == config.memTokens)
        for (_, section) in manifest.formats {
            for stage in StageName.allCases {
                let entry = try section.stage(stage)
                #expect(!entry.inputs.isEmpty && !entry.outputs.isEmpty)
            }
        }
        let decoder = try manifest.format("onnx").stage(.maskDecoder)
        let coords = try #require(decoder.inputs.first { $0.name == "point_coords" })
        #expect(coords.shape == [.symbol("B"), .symbol("P"), .fixed(2)])
        #expect(try manifest.format("onnx").capacities == Capacities())
    }

    @Test func decodesCoreMLCapacitiesAndTheTraceForm() throws {
        let coreML = try JSONDecoder().decode(Capacities.self, from: Data(#"{"B": [1, 8], "K": 4, "N": 19, "P": 16}"#.utf8))
        #expect(coreML == Capacities(batch: 1...8, condSlots: 4, pointerSlots: 19, pointSlots: 16))
        #expect(coreML.contractSizes == ["K": 4, "N": 19, "P": 16])
        let trace = try JSONDecoder().decode(Capacities.self, from: Data(#"{"K": null, "N": null, "P": 16}"#.utf8))
        #expect(trace == Capacities(pointSlots: 16))
        #expect(throws: DecodingError.self) {
            try JSONDecoder().decode(Capacities.self, from: Data(#"{"B": [3, 1]}"#.utf8))
        }
        let roundTrip = try JSONDecoder().decode(Capacities.self, from: JSONEncoder().encode(coreML))
        #expect(roundTrip == coreML)
    }

    @Test func configDerivesTheContractSizes() throws {
        let config = try Manifest.load(from: try TestData.vector("manifest.json")).model.config
        let manifest = try Manifest.load(from: try TestData.vector("manifest.json"))
        let encoder = try manifest.format("onnx").stage(.imageEncoder)
        let sizes = config.contractSizes
        // The manifest's resolved shapes are the contract's symbols resolved with these sizes.
        #expect(encoder.inputs[0].shape == [.fixed(1), .fixed(3), .fixed(sizes["S"]!), .fixed(sizes["S"]!)])
        #expect(encoder.outputs.first { $0.name == "high_res_0" }?.shape
            == [.fixed(1), .fixed(sizes["C8"]!), .fixed(sizes["4F"]!), .fixed(sizes["4F"]!)])
        #expect(config == ModelConfig.edgeTAM.with(imageSize: config.imageSize))
    }

    @Test func rejectsAnotherFormatVersion() throws {
        let json = Data(#"{"format_version": 2}"#.utf8)
        #expect(throws: EdgeTAMError.formatVersion(path: "m.json", found: 2, supported: 1)) {
            try Manifest.decode(json, path: "m.json")
        }
    }

    @Test func missingFormatNamesThosePresent() throws {
        let manifest = try Manifest.load(from: try TestData.vector("manifest.json"))
        let error = try #require(throws: EdgeTAMError.self) { try manifest.format("tflite") }
        #expect(error.description.contains("onnx"))
    }

    @Test func contractCheckNamesStageAndTensor() {
        let contract = StageContract(
            inputs: [TensorSpec(name: "mask", shape: [.symbol("B"), .fixed(1), .fixed(4), .fixed(4)])], outputs: [])
        #expect(throws: Never.self) {
            try contract.check(["mask": Tensor(zeros: [3, 1, 4, 4])], against: contract.inputs, stage: .maskPrompt)
        }
        #expect(throws: EdgeTAMError.self) {
            try contract.check(["mask": Tensor(zeros: [1, 1, 4, 5])], against: contract.inputs, stage: .maskPrompt)
        }
        #expect(throws: EdgeTAMError.contract(stage: .maskPrompt, tensor: "mask", problem: "missing")) {
            try contract.check([:], against: contract.inputs, stage: .maskPrompt)
        }
    }
}
