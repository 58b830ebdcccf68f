import Foundation
import Testing

@testable import EdgeTAMKit

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
