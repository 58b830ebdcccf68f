import Testing

@testable import EdgeTAMKit

private struct ResizeCases: Decodable {
    struct Case: Decodable {
        let name: String
        let height: Int
        let width: Int
    }
    let cases: [Case]
}

@Suite struct ResizeTests {
    @Test func bilinearIsBitExactWithPython() throws {
        let file = try Vectors.safetensors("resize.safetensors")
        let cases = try Vectors.json("resize.json", as: ResizeCases.self).cases
        #expect(cases.count >= 8)
        for c in cases {
            let out = resizeBilinear(try file.tensor("in_\(c.name)"), height: c.height, width: c.width)
            Vectors.expectBitEqual(out, try file.tensor("bilinear_\(c.name)"), "bilinear \(c.name)")
        }
    }

    @Test func antialiasIsBitExactWithPython() throws {
        let file = try Vectors.safetensors("resize.safetensors")
        let cases = try Vectors.json("resize.json", as: ResizeCases.self).cases
        for c in cases {
            let out = resizeBilinearAntialias(try file.tensor("in_\(c.name)"), height: c.height, width: c.width)
            Vectors.expectBitEqual(out, try file.tensor("antialias_\(c.name)"), "antialias \(c.name)")
        }
    }

    @Test func tapsOfADownscaleSumToOne() {
        let taps = antialiasTaps(inSize: 640, outSize: 256, as: Double.self)
        for i in 0..<taps.outputs {
            let sum = (0..<taps.taps).reduce(0.0) { $0 + taps.weight[i * taps.taps + $1] }
            #expect(abs(sum - 1) < 1e-12)
        }
        let (fixed, precision) = fixedPointTaps(inSize: 640, outSize: 256)
        #expect(precision >= 1 && precision <= 22)
        #expect(fixed.weight.allSatisfy { $0 >= 0 && $0 < (1 << 15) })
    }
}
