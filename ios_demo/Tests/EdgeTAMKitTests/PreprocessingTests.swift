import Foundation
import Testing

@testable import EdgeTAMKit

private struct PreprocessCases: Decodable {
    struct Case: Decodable {
        let frame: String
        let size: Int
        let name: String
        let normalized: Bool
    }
    let cases: [Case]
}

@Suite struct PreprocessingTests {
    private func frame(_ file: SafetensorsFile, _ name: String) throws -> PixelBuffer {
        let (shape, bytes) = try file.uint8(name)
        return try PixelBuffer(width: shape[1], height: shape[0], bytes: bytes)
    }

    @Test func uint8ResizeIsBitExactWithPython() throws {
        let file = try Vectors.safetensors("preprocess.safetensors")
        let cases = try Vectors.json("preprocess.json", as: PreprocessCases.self).cases
        #expect(cases.count >= 10)
        for c in cases {
            let resized = resizeUInt8AntialiasBilinear(try frame(file, c.frame), height: c.size, width: c.size)
            let expected = try file.uint8("resized_\(c.name)").values
            if resized != expected {  // (only then look for where: a debug-build scan is slow)
                let index = zip(resized, expected).enumerated().first { $0.element.0 != $0.element.1 }?.offset ?? -1
                Issue.record("\(c.name): \(resized.count) vs \(expected.count) bytes, first difference at \(index)")
            }
        }
    }

    @Test func normalizedInputIsBitExactWithPython() throws {
        let file = try Vectors.safetensors("preprocess.safetensors")
        let cases = try Vectors.json("preprocess.json", as: PreprocessCases.self).cases.filter(\.normalized)
        #expect(cases.count >= 5)
        for c in cases {
            let image = Preprocessor(imageSize: c.size)(try frame(file, c.frame))
            Vectors.expectBitEqual(image, try file.tensor("image_\(c.name)"), c.name)
        }
    }

    @Test func bgraWithRowPaddingGivesTheRGBResult() throws {
        let file = try Vectors.safetensors("preprocess.safetensors")
        let rgb = try frame(file, "frame_75x131")
        let stride = rgb.width * 4 + 12
        var bgra = [UInt8](repeating: 7, count: rgb.height * stride)
        for y in 0..<rgb.height {
            for x in 0..<rgb.width {
                let s = (y * rgb.width + x) * 3
                let d = y * stride + x * 4
                bgra[d] = rgb.bytes[s + 2]
                bgra[d + 1] = rgb.bytes[s + 1]
                bgra[d + 2] = rgb.bytes[s]
                bgra[d + 3] = 255
            }
        }
        let camera = try PixelBuffer(width: rgb.width, height: rgb.height, format: .bgra8, bytesPerRow: stride, bytes: bgra)
        #expect(camera.rgbBytes == rgb.bytes)
        let preprocess = Preprocessor(imageSize: 256)
        Vectors.expectBitEqual(preprocess(camera), try file.tensor("image_75x131_to_256"), "BGRA 75x131")
    }

    @Test func manifestPreprocessingEqualsTheDefaults() throws {
        let manifest = try Manifest.load(from: try TestData.vector("manifest.json"))
        let fromManifest = Preprocessor(manifest.preprocessing)
        #expect(fromManifest == Preprocessor(imageSize: manifest.preprocessing.imageSize))
    }

    @Test func pixelBufferRejectsSizesThatDoNotFit() {
        #expect(throws: EdgeTAMError.self) { try PixelBuffer(width: 0, height: 3, bytes: []) }
        #expect(throws: EdgeTAMError.self) { try PixelBuffer(width: 2, height: 2, bytes: [UInt8](repeating: 0, count: 11)) }
        #expect(throws: EdgeTAMError.self) {
            try PixelBuffer(width: 2, height: 1, format: .bgra8, bytesPerRow: 7, bytes: [UInt8](repeating: 0, count: 8))
        }
        #expect(throws: Never.self) {
            // The last row needs no padding after it.
            try PixelBuffer(width: 2, height: 2, bytesPerRow: 8, bytes: [UInt8](repeating: 0, count: 14))
        }
    }
}
